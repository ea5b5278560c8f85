"""Load fixtures (demo or test data) written as YAML, through the record store's public API.

A fixture folder holds YAML (or JSON) files. Their top-level keys are `users` — a list of
`{email, name, locale, role, team, region, password}` (all but email and name optional) —,
`teams` — a list of `{name, parent, manager}` (parent: a team name; manager: a user's e-mail) —
and object names, each a list of records. Users and teams are made by the `FixturePeople` given
to `load_fixtures` — the auth room's services, so demo users meet the password policy, the
blueprint's role ids and the audit like any other (the store, below auth, cannot). In a record:

- `key: acme` names the record locally, so others can refer to it (keys are per object);
- a lookup field takes `{ref: acme}` (the key of a record of the field's target object);
- a user field and `owner` take a user's e-mail;
- a child-table field takes its lines inline, as a list of records (lines have no keys);
- everything else is passed to the store as it is (dates may be YAML dates).

Every reference and role is checked before anything is written, and all problems are reported
at once. Users are created first, then teams, then team memberships, then records in dependency
order, so a record comes after those it refers to (also within one object, e.g. a contract and
its previous version).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from engine.blueprint.model import App, ObjectDef
from engine.blueprint.source import Mark, Path_, Source, blueprint_files, dotted, read_source
from engine.errors import LoomworkError, Problem
from engine.store.records import Store

USERS_KEY = "users"
TEAMS_KEY = "teams"
USER_EXTRAS = ("role", "team", "region", "password")


@dataclass(frozen=True)
class FixtureUser:
    """A user of the fixtures, as written (e-mail trimmed and lower-cased)."""

    email: str
    name: str
    locale: str = ""
    role: str | None = None
    team: str | None = None
    region: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class FixtureTeam:
    """A team of the fixtures: its parent team's name and its manager's e-mail, if any."""

    name: str
    parent: str | None
    manager: str | None


@dataclass(frozen=True)
class FixtureLogin:
    """A fixture user who can log in: what `loomwork demo` prints."""

    email: str
    name: str
    role: str | None
    team: str | None
    password: str


class FixturePeople(Protocol):
    """Makes the users and teams of fixtures (implemented by the auth room's services)."""

    def create_user(self, user: FixtureUser) -> int:
        """Create the user (without a team yet); returns its id."""
        ...

    def create_team(self, team: FixtureTeam) -> None:
        """Create the team; its parent team and its manager exist already."""
        ...

    def add_member(self, team: str, email: str) -> None:
        """Put the user in the team."""
        ...


class FixtureInvalid(LoomworkError):
    """Fixture files are malformed or refer to something that does not exist; lists every problem."""

    code = "fixture.invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(sorted(set(problems)))
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid fixtures")


@dataclass
class FixtureRow:
    """One top-level record of a fixture file, and where it was written."""

    file: str
    object: str
    index: int
    data: Mapping[str, Any]
    src: Source
    path: Path_

    @property
    def key(self) -> str | None:
        key = self.data.get("key")
        return key if isinstance(key, str) else None

    @property
    def name(self) -> str:
        return f"{self.object} '{self.key}'" if self.key else f"{self.object} #{self.index + 1}"


@dataclass
class FixturePlan:
    """Everything read from a fixture folder, checked and ordered, ready to write."""

    users: list[FixtureUser] = field(default_factory=list)
    rows: dict[str, list[FixtureRow]] = field(default_factory=dict)  # object -> rows, in file order
    keys: dict[str, dict[str, FixtureRow]] = field(default_factory=dict)  # object -> key -> row
    teams: list[FixtureTeam] = field(default_factory=list)
    team_marks: dict[str, tuple[Source, Path_]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def load_fixtures(store: Store, folder: str | Path, people: FixturePeople) -> dict[str, int]:
    """Create the users, teams and records of the fixture files in `folder`; returns counts per object.

    Counts are keyed by object name (child-table lines under their line object), `users` and `teams`.
    Raises `FixtureInvalid` naming file, line and record key for every problem found before
    writing, and a `LoomworkError` naming the user, team or record when it is refused. Each user,
    team and record is its own transaction: those written before a refused one stay (load into a
    fresh database).
    """
    plan = read_fixtures(store.app, Path(folder))
    counts: dict[str, int] = {}
    user_ids = _write_people(plan, people, folder)
    if plan.users:
        counts[USERS_KEY] = len(plan.users)
    if plan.teams:
        counts[TEAMS_KEY] = len(plan.teams)
    ids: dict[tuple[str, str], int] = {}
    for object_name in creation_order(store.app, plan):
        obj = store.app.object(object_name)
        for row in _rows_in_ref_order(store.app, plan, object_name):
            data = _resolve(store.app, obj, row.data, ids, user_ids)
            owner = data.get("owner_id")
            try:
                record = store.create(object_name, data, actor=owner if isinstance(owner, int) else None)
            except LoomworkError as exc:
                mark = row.src.mark(row.path)
                raise LoomworkError(
                    f"{mark.file}:{mark.line}:{mark.col} {row.name}: {exc.message}", code=exc.code
                ) from exc
            if row.key:
                ids[(object_name, row.key)] = int(record["id"])
            counts[object_name] = counts.get(object_name, 0) + 1
            for f in obj.child_fields:
                lines = row.data.get(f.name)
                if isinstance(lines, list) and f.target:
                    counts[f.target] = counts.get(f.target, 0) + len(lines)
    return counts


def fixture_logins(app: App, folder: str | Path) -> list[FixtureLogin]:
    """The fixture users that have a password, with their roles and teams (for `loomwork demo`)."""
    plan = read_fixtures(app, Path(folder))
    return [FixtureLogin(u.email, u.name, u.role, u.team, u.password) for u in plan.users if u.password is not None]


def _write_people(plan: FixturePlan, people: FixturePeople, folder: str | Path) -> dict[str, int]:
    """Users (without teams), then teams parents first (a manager may be in the team they lead),
    then memberships; returns the user ids by e-mail."""
    user_ids: dict[str, int] = {}
    for user in plan.users:
        with _named(f"{folder}: users: {user.email}"):
            user_ids[user.email] = people.create_user(user)
    for team in _teams_parents_first(plan.teams):
        with _named(f"{folder}: teams: {team.name}"):
            people.create_team(team)
    for user in plan.users:
        if user.team is not None:
            with _named(f"{folder}: users: {user.email}"):
                people.add_member(user.team, user.email)
    return user_ids


@contextmanager
def _named(where: str) -> Iterator[None]:
    """Say which fixture user or team a refusal is about."""
    try:
        yield
    except LoomworkError as exc:
        raise LoomworkError(f"{where}: {exc.message}", code=exc.code) from exc


def _teams_parents_first(teams: list[FixtureTeam]) -> list[FixtureTeam]:
    by_name = {t.name: t for t in teams}
    done: dict[str, FixtureTeam] = {}

    def visit(team: FixtureTeam, path: tuple[str, ...]) -> None:
        if team.name in done or team.name in path:
            return
        if team.parent in by_name:
            visit(by_name[team.parent], (*path, team.name))
        done[team.name] = team

    for team in teams:
        visit(team, ())
    return list(done.values())


def read_fixtures(app: App, folder: Path) -> FixturePlan:
    """Read and check every fixture file of `folder` against `app`; raises `FixtureInvalid`."""
    plan = FixturePlan()
    if not folder.is_dir():
        raise FixtureInvalid([Problem(str(folder), 0, 0, "", "no such fixture folder", "fixture.missing")])
    for path in blueprint_files(folder):
        src = read_source(path, plan.problems)
        for section, value in src.data.items():
            _read_section(app, plan, src, section, value)
    for rows in plan.rows.values():
        for row in rows:
            _check_values(app, plan, row, app.object(row.object), row.data, row.path)
    _check_teams(plan)
    if plan.problems:
        raise FixtureInvalid(plan.problems)
    return plan


def _problem(src: Source, path: Path_, message: str, code: str, *, key: bool = False) -> Problem:
    mark: Mark = src.mark(path, key=key)
    return Problem(mark.file, mark.line, mark.col, dotted(path), message, code)


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read_section(app: App, plan: FixturePlan, src: Source, section: str, value: Any) -> None:
    path: Path_ = (section,)
    if not isinstance(value, list):
        plan.problems.append(_problem(src, path, f"'{section}' must be a list", "fixture.not_list", key=True))
        return
    if section == USERS_KEY:
        _read_users(app, plan, src, value)
        return
    if section == TEAMS_KEY:
        _read_teams(plan, src, value)
        return
    if not app.has_object(section):
        names = [o.name for o in app.objects]
        plan.problems.append(
            _problem(
                src,
                path,
                f"'{section}' is not an object of app '{app.name}'"
                f"{_did_you_mean(section, [*names, USERS_KEY, TEAMS_KEY])}",
                "fixture.unknown_object",
                key=True,
            )
        )
        return
    obj = app.object(section)
    if obj.parent:
        plan.problems.append(
            _problem(
                src,
                path,
                f"'{section}' is a child table of '{obj.parent}'; give its lines inline in the {obj.parent} records",
                "fixture.child_object",
                key=True,
            )
        )
        return
    rows = plan.rows.setdefault(section, [])
    keys = plan.keys.setdefault(section, {})
    for i, raw in enumerate(value):
        rpath = (*path, i)
        if not isinstance(raw, dict):
            plan.problems.append(_problem(src, rpath, "a record must be a mapping", "fixture.bad_record"))
            continue
        row = FixtureRow(src.mark(rpath).file, section, len(rows), raw, src, rpath)
        rows.append(row)
        key = raw.get("key")
        if key is None:
            continue
        if not isinstance(key, str) or not key:
            plan.problems.append(_problem(src, (*rpath, "key"), "a key must be text", "fixture.bad_key"))
        elif key in keys:
            first = keys[key].src.mark(keys[key].path)
            plan.problems.append(
                _problem(
                    src,
                    (*rpath, "key"),
                    f"{section} key '{key}' is already used at {first.file}:{first.line}",
                    "fixture.duplicate_key",
                )
            )
        else:
            keys[key] = row


def _read_users(app: App, plan: FixturePlan, src: Source, value: list[Any]) -> None:
    seen = {u.email for u in plan.users}
    roles = [r.name for r in app.roles]
    for i, raw in enumerate(value):
        upath: Path_ = (USERS_KEY, i)
        email = raw.get("email") if isinstance(raw, dict) else None
        name = raw.get("name") if isinstance(raw, dict) else None
        locale = raw.get("locale", "") if isinstance(raw, dict) else None
        if not isinstance(email, str) or not isinstance(name, str) or not isinstance(locale, str):
            plan.problems.append(
                _problem(src, upath, "a user needs text 'email' and 'name' (and optional 'locale')", "fixture.bad_user")
            )
            continue
        email = email.strip().lower()
        if email in seen:
            plan.problems.append(
                _problem(src, (*upath, "email"), f"user {email} is listed twice", "fixture.duplicate_user")
            )
            continue
        extra = {k: raw[k] for k in USER_EXTRAS if k in raw and raw[k] is not None}
        bad = [k for k, v in extra.items() if not isinstance(v, str) or not v]
        if bad:
            plan.problems.append(
                _problem(src, (*upath, bad[0]), f"user {email}: '{bad[0]}' must be text", "fixture.bad_user")
            )
            continue
        role = extra.get("role")
        if role is not None and role not in roles:
            message = f"user {email}: '{role}' is not a role of app '{app.name}'{_did_you_mean(role, roles)}"
            plan.problems.append(_problem(src, (*upath, "role"), message, "fixture.unknown_role"))
            continue
        seen.add(email)
        plan.users.append(FixtureUser(email, name, locale, **extra))
        if "team" in extra:
            plan.team_marks.setdefault(f"user:{email}", (src, (*upath, "team")))


def _read_teams(plan: FixturePlan, src: Source, value: list[Any]) -> None:
    for i, raw in enumerate(value):
        tpath: Path_ = (TEAMS_KEY, i)
        fields = {k: raw.get(k) for k in ("name", "parent", "manager")} if isinstance(raw, dict) else {}
        if not isinstance(fields.get("name"), str) or any(
            v is not None and not isinstance(v, str) for v in fields.values()
        ):
            plan.problems.append(
                _problem(src, tpath, "a team needs text 'name' (and optional 'parent', 'manager')", "fixture.bad_team")
            )
            continue
        name = str(fields["name"]).strip()
        if name in plan.team_marks:
            plan.problems.append(
                _problem(src, (*tpath, "name"), f"team '{name}' is listed twice", "fixture.duplicate_team")
            )
            continue
        manager = fields["manager"]
        plan.team_marks[name] = (src, tpath)
        plan.teams.append(FixtureTeam(name, fields["parent"], None if manager is None else manager.strip().lower()))


def _check_teams(plan: FixturePlan) -> None:
    """Parents and members name declared teams, managers name fixture users, the hierarchy has no cycle."""
    names = {t.name for t in plan.teams}
    emails = {u.email for u in plan.users}
    parents = {t.name: t.parent for t in plan.teams}
    for team in plan.teams:
        src, path = plan.team_marks[team.name]
        if team.parent is not None and team.parent not in names:
            message = f"team '{team.name}': unknown parent team '{team.parent}'{_did_you_mean(team.parent, names)}"
            plan.problems.append(_problem(src, (*path, "parent"), message, "fixture.unknown_team"))
        if team.manager is not None and team.manager not in emails:
            message = f"team '{team.name}': {team.manager!r} is not the e-mail of a fixture user"
            plan.problems.append(
                _problem(src, (*path, "manager"), message + _did_you_mean(team.manager, emails), "fixture.unknown_user")
            )
        seen = {team.name}
        parent = team.parent
        while parent is not None and parent in parents:
            if parent in seen:
                message = f"team '{team.name}' is below itself (the parents form a cycle)"
                plan.problems.append(_problem(src, (*path, "parent"), message, "fixture.team_cycle"))
                break
            seen.add(parent)
            parent = parents[parent]
    for user in plan.users:
        team_name = user.team
        if team_name is not None and team_name not in names:
            src, path = plan.team_marks[f"user:{user.email}"]
            message = f"user {user.email}: unknown team '{team_name}'{_did_you_mean(team_name, names)}"
            plan.problems.append(_problem(src, path, message, "fixture.unknown_team"))


def _check_values(
    app: App, plan: FixturePlan, row: FixtureRow, obj: ObjectDef, data: Mapping[str, Any], path: Path_
) -> None:
    """Check refs, user e-mails, lines and dates of one record (or line); problems go to the plan."""
    emails = {u.email for u in plan.users}
    for name, raw in data.items():
        where = (*path, name)
        if name == "key" and path == row.path:
            continue
        if name == "owner":
            if not obj.owned:
                plan.problems.append(_problem(row.src, where, f"'{obj.name}' has no owner", "fixture.not_owned"))
            else:
                _check_email(plan, row, where, raw, emails)
            continue
        if not obj.has_field(name):
            continue  # the store reports unknown fields with the full list of choices
        f = obj.field(name)
        if f.type == "lookup" and raw is not None:
            _check_ref(plan, row, where, raw, str(f.target))
        elif f.type == "user" and raw is not None:
            _check_email(plan, row, where, raw, emails)
        elif f.type == "child_table" and f.target:
            if not isinstance(raw, list) or not all(isinstance(line, dict) for line in raw):
                plan.problems.append(_problem(row.src, where, "lines must be a list of mappings", "fixture.bad_lines"))
                continue
            child = app.object(f.target)
            for i, line in enumerate(raw):
                _check_values(app, plan, row, child, line, (*where, i))
        elif isinstance(raw, datetime) and raw.tzinfo is None:
            plan.problems.append(
                _problem(
                    row.src,
                    where,
                    "a date-time needs a timezone, e.g. 2026-03-02T09:30:00+08:00",
                    "fixture.naive_datetime",
                )
            )


def _check_ref(plan: FixturePlan, row: FixtureRow, where: Path_, raw: Any, target: str) -> None:
    ref = raw.get("ref") if isinstance(raw, dict) and len(raw) == 1 else None
    if not isinstance(ref, str):
        plan.problems.append(
            _problem(row.src, where, f"a lookup takes {{ref: <key of a {target}>}}, got {raw!r}", "fixture.bad_ref")
        )
        return
    keys = plan.keys.get(target, {})
    if ref not in keys:
        plan.problems.append(
            _problem(
                row.src,
                (*where, "ref"),
                f"{row.name}: unknown ref '{ref}': no {target} has that key{_did_you_mean(ref, keys)}",
                "fixture.unknown_ref",
            )
        )


def _check_email(plan: FixturePlan, row: FixtureRow, where: Path_, raw: Any, emails: set[str]) -> None:
    if not isinstance(raw, str) or raw.strip().lower() not in emails:
        plan.problems.append(
            _problem(
                row.src,
                where,
                f"{row.name}: {raw!r} is not the e-mail of a fixture user{_did_you_mean(str(raw), emails)}",
                "fixture.unknown_user",
            )
        )


def _refs(obj: ObjectDef, app: App, data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(target object, key) of every ref in a record, its lines included."""
    for name, raw in data.items():
        if not obj.has_field(name):
            continue
        f = obj.field(name)
        if f.type == "lookup" and isinstance(raw, dict) and isinstance(raw.get("ref"), str):
            yield str(f.target), raw["ref"]
        elif f.type == "child_table" and f.target and isinstance(raw, list):
            child = app.object(f.target)
            for line in raw:
                yield from _refs(child, app, line)


def creation_order(app: App, plan: FixturePlan) -> list[str]:
    """Objects of the plan, each after the objects its records refer to (blueprint order otherwise)."""
    needs: dict[str, set[str]] = {}
    for name, rows in plan.rows.items():
        obj = app.object(name)
        needs[name] = {t for row in rows for t, _ in _refs(obj, app, row.data) if t != name and t in plan.rows}
    order: list[str] = []
    pending = [o.name for o in app.objects if o.name in needs]
    while pending:
        ready = next((n for n in pending if needs[n] <= set(order)), None)
        if ready is None:
            cycle = ", ".join(sorted(pending))
            raise LoomworkError(
                f"fixture records refer to each other in a cycle among: {cycle}; leave one side of the reference out",
                code="fixture.ref_cycle",
            )
        order.append(ready)
        pending.remove(ready)
    return order


def _rows_in_ref_order(app: App, plan: FixturePlan, object_name: str) -> list[FixtureRow]:
    """The rows of one object, each after the rows of the same object it refers to."""
    obj = app.object(object_name)
    keys = plan.keys.get(object_name, {})
    placed: set[int] = set()
    out: list[FixtureRow] = []

    def visit(row: FixtureRow, trail: tuple[str, ...]) -> None:
        if id(row) in placed:
            return
        if row.key and row.key in trail:
            mark = row.src.mark(row.path)
            chain = " -> ".join((*trail[trail.index(row.key) :], row.key))
            raise LoomworkError(
                f"{mark.file}:{mark.line}:{mark.col} {object_name} records refer to each other in a cycle: {chain}",
                code="fixture.ref_cycle",
            )
        for target, key in _refs(obj, app, row.data):
            if target == object_name and key in keys:
                visit(keys[key], (*trail, str(row.key)))
        placed.add(id(row))
        out.append(row)

    for row in plan.rows.get(object_name, []):
        visit(row, ())
    return out


def _resolve(
    app: App, obj: ObjectDef, data: Mapping[str, Any], ids: Mapping[tuple[str, str], int], users: Mapping[str, int]
) -> dict[str, Any]:
    """The store's input for one checked record: refs and e-mails become ids, dates ISO text."""
    out: dict[str, Any] = {}
    for name, raw in data.items():
        if name == "key":
            continue
        if name == "owner":
            out["owner_id"] = users[str(raw).strip().lower()]
            continue
        f = obj.field(name) if obj.has_field(name) else None
        if f is None:
            out[name] = _plain(raw)
        elif f.type == "lookup":
            out[f"{name}_id"] = None if raw is None else ids[(str(f.target), raw["ref"])]
        elif f.type == "user":
            out[f"{name}_id"] = None if raw is None else users[str(raw).strip().lower()]
        elif f.type == "child_table" and f.target:
            child = app.object(f.target)
            out[name] = [_resolve(app, child, line, ids, users) for line in raw]
        else:
            out[name] = _plain(raw)
    return out


def _plain(raw: Any) -> Any:
    """JSON-like form of a YAML value: dates and date-times as ISO 8601 text."""
    if isinstance(raw, date | datetime):
        return raw.isoformat()
    if isinstance(raw, list):
        return [_plain(v) for v in raw]
    return raw
