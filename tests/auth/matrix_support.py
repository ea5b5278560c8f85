"""The permission matrix's world and its oracle (tests/auth/test_permission_matrix.py).

The oracle is written independently of `engine.auth.policy`: it reads `blueprints/crm/roles.yaml`
with `yaml.safe_load` and decides in plain Python, from the stored rows (id, owner, status,
parent), which records each user may reach. Only the one expression scope of the CRM (the
service agent's tickets) is evaluated by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from engine.store.records import Store

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"
ACTIONS = ("create", "read", "update", "delete")
SERVICE_TICKET_SCOPE = "owner_id == user.id or (status == 'new' and is_blank(owner_id))"

#: Top-level objects (each listed in roles) and line objects with the parent they follow.
TOP = ("lead", "account", "contact", "opportunity", "activity", "product", "quote", "contract", "order", "ticket")
CHILDREN = {
    "quote_line": "quote",
    "contract_line": "contract",
    "order_line": "order",
    "order_milestone": "order",
    "ticket_note": "ticket",
}
#: The parent's child-table field that holds each line object's lines.
HOLDERS = {"quote_line": "lines", "contract_line": "lines", "order_line": "lines", "order_milestone": "milestones"}
HOLDERS["ticket_note"] = "notes"
OBJECTS = TOP + tuple(CHILDREN)
#: The line conditions roles.yaml uses (a role listing a line object with a scope), evaluated by hand.
LINE_SCOPES = {"not internal": lambda row: row.internal is False}


@dataclass(frozen=True)
class Perm:
    """One role's grant on one object, as roles.yaml says it."""

    actions: frozenset[str]
    scope: str
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()


ALL = Perm(frozenset(ACTIONS), "all")


def load_roles(path: Path = CRM / "roles.yaml") -> dict[str, dict[str, Perm] | None]:
    """role -> object -> Perm; None for an administrator (everything, nothing hidden)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["roles"]
    out: dict[str, dict[str, Perm] | None] = {}
    for role, spec in raw.items():
        if spec.get("admin"):
            out[role] = None
            continue
        objects: dict[str, Perm] = {}
        for obj, p in (spec.get("objects") or {}).items():
            fields = p.get("fields") or {}
            objects[obj] = Perm(
                frozenset(a for a in ACTIONS if p.get(a) is True),
                str(p.get("scope", "own")),
                frozenset(f for f, how in fields.items() if how == "hidden"),
                frozenset(f for f, how in fields.items() if how == "read_only"),
            )
        out[role] = objects
    return out


@dataclass(frozen=True)
class Person:
    key: str
    id: int
    role: str
    team_id: int | None


@dataclass(frozen=True)
class TeamRow:
    id: int
    name: str
    parent_id: int | None
    manager_id: int | None


@dataclass(frozen=True)
class Row:
    """What the oracle needs of a stored record."""

    id: int
    owner_id: int | None
    status: str | None = None
    parent_id: int | None = None
    name: str | None = None
    internal: bool | None = None


@dataclass
class Org:
    """The people, teams and roles of one test database."""

    roles: dict[str, dict[str, Perm] | None]
    people: dict[str, Person] = field(default_factory=dict)
    teams: dict[str, TeamRow] = field(default_factory=dict)

    # -- teams ------------------------------------------------------------------------------------
    def below(self, team_id: int) -> set[int]:
        out, todo = {team_id}, [team_id]
        while todo:
            current = todo.pop()
            for t in self.teams.values():
                if t.parent_id == current and t.id not in out:
                    out.add(t.id)
                    todo.append(t.id)
        return out

    def team_reach(self, person: Person) -> set[int]:
        """The person's own team plus every team they manage, and the teams below those."""
        reach = set() if person.team_id is None else {person.team_id}
        for t in self.teams.values():
            if t.manager_id == person.id:
                reach |= self.below(t.id)
        return reach

    def team_members(self, person: Person) -> set[int]:
        reach = self.team_reach(person)
        return {p.id for p in self.people.values() if p.team_id in reach} | {person.id}

    # -- permissions --------------------------------------------------------------------------------
    def perm(self, person: Person, obj: str) -> Perm | None:
        grants = self.roles.get(person.role, {})
        if grants is None:
            return ALL
        return grants.get(obj)

    def granted(self, person: Person, obj: str, action: str) -> bool:
        """Object level: a line needs read on its parent to be read, update on it for anything else,
        and the parent's field holding the lines must not be hidden (nor read-only, for a change)."""
        if obj in CHILDREN:
            parent, parent_action = CHILDREN[obj], "read" if action == "read" else "update"
            if not self.granted(person, parent, parent_action):
                return False
            p = self.perm(person, parent)
            closed = frozenset() if p is None else p.hidden | (p.read_only if action != "read" else frozenset())
            return HOLDERS[obj] not in closed
        p = self.perm(person, obj)
        return p is not None and action in p.actions

    def hidden(self, person: Person, obj: str) -> frozenset[str]:
        p = self.perm(person, obj)
        return frozenset() if p is None else p.hidden

    def locked(self, person: Person, obj: str) -> frozenset[str]:
        p = self.perm(person, obj)
        return frozenset() if p is None else p.hidden | p.read_only

    def line_visible(self, person: Person, obj: str, row: Row) -> bool:
        """A line inside the role's condition on the lines (every line when the role gives none)."""
        p = self.perm(person, obj)
        if obj not in CHILDREN or p is None or p.scope == "all":
            return True
        if p.scope in LINE_SCOPES:
            return bool(LINE_SCOPES[p.scope](row))
        raise AssertionError(f"the oracle does not know the line scope {p.scope!r} of {person.role} on {obj}")

    def in_scope(self, person: Person, obj: str, row: Row) -> bool:
        """Is the top-level `row` of `obj` in the person's record scope for that object?"""
        p = self.perm(person, obj)
        if p is None:
            return False
        if p.scope == "all":
            return True
        if p.scope == "own":
            return row.owner_id == person.id
        if p.scope == "team":
            return row.owner_id is not None and row.owner_id in self.team_members(person)
        if p.scope == SERVICE_TICKET_SCOPE:
            return row.owner_id == person.id or (row.status == "new" and row.owner_id is None)
        raise AssertionError(f"the oracle does not know the scope {p.scope!r} of {person.role} on {obj}")

    def expected(self, person: Person, obj: str, action: str, row: Row, parents: Mapping[int, Row]) -> int:
        """The HTTP status the contract gives `action` (read, update, delete) on an existing record."""
        if not self.granted(person, obj, action):
            return 403
        top, target = (CHILDREN[obj], parents[int(row.parent_id or 0)]) if obj in CHILDREN else (obj, row)
        if not (self.granted(person, top, "read") and self.in_scope(person, top, target)):
            return 404
        if not self.line_visible(person, obj, row):
            return 404
        return 200

    def visible(self, person: Person, obj: str, rows: list[Row], parents: Mapping[int, Row]) -> set[int]:
        return {r.id for r in rows if self.expected(person, obj, "read", r, parents) == 200}


# -- reading the stored rows (as the system, not through the engine's policy) ------------------------
def stored_rows(store: Store, obj: str) -> list[Row]:
    table = store.tables[obj]
    cols = [table.c.id]
    parent_col = f"{CHILDREN[obj]}_id" if obj in CHILDREN else None
    if parent_col:
        cols.append(table.c[parent_col])
    else:
        cols.append(table.c.owner_id)
    if "status" in table.c and obj not in CHILDREN:
        cols.append(table.c.status)
    if "name" in table.c:
        cols.append(table.c.name)
    if "internal" in table.c:
        cols.append(table.c.internal)
    with store.db.read() as conn:
        result = conn.execute(sa.select(*cols).order_by(table.c.id)).mappings().all()
    return [
        Row(
            int(r["id"]),
            None if parent_col or r["owner_id"] is None else int(r["owner_id"]),
            r.get("status"),
            int(r[parent_col]) if parent_col else None,
            r.get("name"),
            None if r.get("internal") is None else bool(r["internal"]),
        )
        for r in result
    ]


def parent_rows(store: Store, obj: str) -> dict[int, Row]:
    if obj not in CHILDREN:
        return {}
    return {r.id: r for r in stored_rows(store, CHILDREN[obj])}


def exists(store: Store, obj: str, record_id: int) -> bool:
    table = store.tables[obj]
    with store.db.read() as conn:
        return conn.execute(sa.select(table.c.id).where(table.c.id == record_id)).first() is not None


def stored(store: Store, obj: str, record_id: int) -> dict[str, Any]:
    table = store.tables[obj]
    with store.db.read() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().one()
    return dict(row)


def count_rows(store: Store, obj: str) -> int:
    table = store.tables[obj]
    with store.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- hidden fields in responses ----------------------------------------------------------------------
def leaked(body: Any, hidden: frozenset[str]) -> set[str]:
    """Hidden field names found in a JSON body: as keys (also `x_id`), or as a history row's `field`."""
    found: set[str] = set()
    if not hidden:
        return found

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in hidden or (k.endswith("_id") and k[:-3] in hidden):
                    found.add(k)
                if k == "field" and isinstance(v, str) and v in hidden:
                    found.add(v)
                walk(v)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(body)
    return found
