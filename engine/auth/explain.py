"""`loomwork explain`: why a user may or may not do something with an object or one record.

Everything comes from the one policy (`engine.auth.policy.decide`, through `PolicyAccess`); this
module only runs the same row filter against one record and puts the reasons into sentences a
business admin reads. `explain()` returns the lines and whether the user may read (the record,
or the object when no record is named); the CLI prints them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Table

from engine.auth.access import PolicyAccess, subject_for
from engine.auth.directory import AuthDb
from engine.auth.policy import SHARE_TABLE, Decision, Subject
from engine.auth.teams import Teams
from engine.auth.users import User, Users
from engine.blueprint.model import ACTIONS, ObjectDef
from engine.store.computed import TableScope
from engine.store.records import Store

RECORD_ACTIONS = ("read", "update", "delete")


@dataclass(frozen=True)
class Explanation:
    """What `explain` found: the lines to print and the answer the exit status carries."""

    lines: list[str]
    #: The user may read the record (or, without a record id, read the object at all).
    may_read: bool


def explain(
    store: Store, auth: AuthDb, email: str, object_name: str, record_id: int | None = None, *, locale: str = "en"
) -> Explanation:
    """Explain the permissions of the user `email` on `object_name` (and on one record of it).

    Raises `NotFound` for an unknown user or object (the CLI prints it on one line)."""
    user = Users(auth).get(email)
    obj = store.object(object_name)
    subject = subject_for(auth, user)
    access = PolicyAccess(store, subject)
    teams = {t.id: t.name for t in Teams(auth).list_teams()}
    lines = _who(store, user, subject, teams, locale)
    lines.append(f"Object: {obj.name} ({obj.label.get(locale)})")
    if obj.parent:
        lines.append(f"  a line of '{obj.parent}': it follows the permissions of its {obj.parent}")
    lines += ["", "Actions on every record:"]
    for action in ACTIONS:
        decision = access.decision(obj.name, action)
        text = decision.explain()
        if decision.allowed and action != "create":
            text[0] += f" (records: {_scope_words(decision)})"
        lines += [f"  {line}" for line in text]
    may_read = access.may(obj.name, "read") and user.active
    if record_id is not None:
        record_lines, may_read = _record(store, access, teams, obj, record_id)
        may_read = may_read and user.active
        lines += ["", *record_lines]
    lines += ["", "Fields:"]
    lines += _fields(access, obj)
    lines.append("")
    target = f"{obj.name} {record_id}" if record_id is not None else f"{obj.name} records"
    if not user.active:
        lines.append(f"Answer: {user.email} may NOT read {target}: the user is inactive.")
    else:
        lines.append(f"Answer: {user.email} {'may' if may_read else 'may NOT'} read {target}.")
    return Explanation(lines, may_read)


# -- who -------------------------------------------------------------------------------------------
def _who(store: Store, user: User, subject: Subject, teams: Mapping[int, str], locale: str) -> list[str]:
    state = "active" if user.active else "inactive (cannot sign in nor use API tokens)"
    lines = [f"User: {user.name} <{user.email}> (id {user.id}), {state}"]
    if user.role is None:
        lines.append("Role: none (a user without a role may do nothing)")
    elif store.app.has_role(user.role):
        role = store.app.role(user.role)
        admin = ", an administrator: every action on every record" if role.admin else ""
        lines.append(f"Role: {role.name} ({role.label.get(locale)}{admin})")
    else:
        lines.append(f"Role: {user.role} (not a role of this blueprint: it allows nothing)")
    own = "none" if user.team_id is None else teams.get(user.team_id, f"#{user.team_id}")
    lines.append(f"Team: {own}")
    managed = sorted(teams.get(t, f"#{t}") for t in subject.team_ids if t != user.team_id)
    if managed:
        lines.append(f"  also manages (scope team reaches them): {', '.join(managed)}")
    return lines


def _scope_words(decision: Decision) -> str:
    if decision.parent is not None:
        lines = " or ".join(f'"{w}"' for w in decision.line_scopes)
        where = f" where {lines}" if lines else ""
        return f"those of the {decision.parent.object} records they may {decision.parent.action}{where}"
    if decision.unrestricted:
        return "all"
    words = sorted(set(decision.scopes))
    shared = ", or shared with them" if decision.action in ("read", "update") else ""
    return " or ".join(f'"{w}"' if w not in ("own", "team", "all") else w for w in words) + shared


# -- one record ------------------------------------------------------------------------------------
def _record(
    store: Store, access: PolicyAccess, teams: Mapping[int, str], obj: ObjectDef, record_id: int
) -> tuple[list[str], bool]:
    table = store.tables[obj.name]
    with store.db.read() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().first()
        if row is None:
            return [f"Record {obj.name} {record_id}: does not exist (or was deleted)"], False
        lines = [f"Record {obj.name} {record_id}: exists, {_owner_words(conn, store, teams, obj, row)}"]
        may_read = False
        for action in RECORD_ACTIONS:
            decision = access.decision(obj.name, action)
            if not decision.allowed:
                lines.append(f"  {action}: no - the user may not {action} any {obj.name}")
                continue
            inside = _inside(conn, access, obj.name, action, table, record_id)
            if action == "read":
                may_read = inside
            verdict = "yes" if inside else f"no - the record is outside the user's records for {action}"
            lines.append(f"  {action}: {verdict}")
            lines += [f"    {r}" for r in _why(conn, store, access, teams, decision, row)]
    return lines, may_read


def _inside(conn: Connection, access: PolicyAccess, object_name: str, action: str, table: Table, rid: int) -> bool:
    """`SELECT 1 FROM table WHERE id = :id AND <the policy's row filter>`: the very check the store makes."""
    query = sa.select(sa.literal(1)).select_from(table).where(table.c.id == rid)
    where = access.rows(object_name, action, table)
    if where is not None:
        query = query.where(where)
    return conn.execute(query).first() is not None


def _owner_words(conn: Connection, store: Store, teams: Mapping[int, str], obj: ObjectDef, row: Any) -> str:
    if obj.parent_column:
        return f"a line of {obj.parent} {row[obj.parent_column]}"
    if "owner_id" not in row or row["owner_id"] is None:
        return "no owner"
    owner = _user_row(conn, store, int(row["owner_id"]))
    if owner is None:
        return f"owner user {row['owner_id']} (no longer exists)"
    team = "no team" if owner.team_id is None else f"team {teams.get(int(owner.team_id), owner.team_id)}"
    return f"owner {owner.email} (id {owner.id}, {team})"


def _user_row(conn: Connection, store: Store, user_id: int) -> Any:
    users = store.users
    return conn.execute(sa.select(users.c.id, users.c.email, users.c.team_id).where(users.c.id == user_id)).first()


def _why(
    conn: Connection,
    store: Store,
    access: PolicyAccess,
    teams: Mapping[int, str],
    decision: Decision,
    row: Any,
) -> list[str]:
    """Each allowing role's scope applied to this record, then the shares."""
    obj = store.app.object(decision.object)
    if decision.parent is not None:
        parent = decision.parent
        parent_id = row[str(obj.parent_column)]
        parent_table = store.tables[parent.object]
        parent_row = conn.execute(sa.select(parent_table).where(parent_table.c.id == parent_id)).mappings().first()
        head = f"a line follows its {parent.object} {parent_id}: {parent.action} {parent.object} decides"
        if parent_row is None:
            return [head, f"{parent.object} {parent_id} does not exist"]
        inside = _inside(conn, access, parent.object, parent.action, parent_table, int(parent_id))
        verdict = "inside" if inside else "outside"
        first = f"{head}; that record is {verdict} the user's records"
        return [first, *(f"  {r}" for r in _why(conn, store, access, teams, parent, parent_row))]
    me = decision.subject.id
    owner = row.get("owner_id")
    lines: list[str] = []
    for grant in decision.grants:
        if grant.admin or grant.permission is None:
            lines.append(f"role '{grant.role}' is an administrator: every record")
            continue
        scope = grant.permission.scope
        where = f"scope {scope} (role {grant.role})"
        if scope == "all":
            lines.append(f"{where}: every record")
        elif scope == "own":
            mine = owner is not None and int(owner) == me
            lines.append(f"{where}: owner_id is {_id(owner)}, you are {me} - {'match' if mine else 'no match'}")
        elif scope == "team":
            lines.append(f"{where}: {_team_words(conn, store, teams, decision.subject, owner)}")
        else:
            single = dataclasses.replace(decision, action="delete", grants=(grant,))  # delete: no shares
            table = store.tables[obj.name]
            condition = single.row_filter(table, lambda o, t: _table_scope(store, o, t))
            query = sa.select(sa.literal(1)).select_from(table).where(table.c.id == row["id"])
            if condition is not None:
                query = query.where(condition)
            holds = conn.execute(query).first() is not None
            lines.append(f'scope "{scope}" (role {grant.role}): {"true" if holds else "false"} for this record')
    if decision.action in ("read", "update"):
        lines.append(_share_words(conn, store, teams, decision, int(row["id"])))
    return lines


def _table_scope(store: Store, obj: Any, table: Any) -> TableScope:
    return TableScope(store, obj, table)


def _id(value: Any) -> str:
    return "empty" if value is None else str(value)


def _team_words(conn: Connection, store: Store, teams: Mapping[int, str], subject: Subject, owner: Any) -> str:
    if owner is None:
        return "the record has no owner - no match"
    if int(owner) == subject.id:
        return f"owner_id is {owner}, you are {subject.id} - match (your own record)"
    found = _user_row(conn, store, int(owner))
    mine = ", ".join(sorted(teams.get(t, f"#{t}") for t in subject.team_ids)) or "none"
    if found is None or found.team_id is None:
        return f"owner {owner} is in no team (your teams: {mine}) - no match"
    team = teams.get(int(found.team_id), f"#{found.team_id}")
    if int(found.team_id) in subject.team_ids:
        return f"owner {found.email} is in team {team}, one of your teams - match"
    return f"owner {found.email} is in team {team}, not one of your teams ({mine}) - no match"


def _share_words(conn: Connection, store: Store, teams: Mapping[int, str], decision: Decision, rid: int) -> str:
    shares = store.metadata.tables[SHARE_TABLE]
    subject = decision.subject
    who = shares.c.user_id == subject.id
    if subject.team_ids:
        who = sa.or_(who, shares.c.team_id.in_(sorted(subject.team_ids)))
    rows = conn.execute(
        sa.select(shares.c.user_id, shares.c.team_id, shares.c.can_edit).where(
            shares.c.object == decision.object, shares.c.record_id == rid, who
        )
    ).all()
    if not rows:
        return "not shared with you nor your teams"
    parts = []
    for r in rows:
        to = "with you" if r.user_id == subject.id else f"with your team {teams.get(int(r.team_id), r.team_id)}"
        edit = "" if decision.action == "read" else (" (may edit)" if r.can_edit else " (view only: no edit)")
        parts.append(f"shared {to}{edit}")
    return "; ".join(parts)


# -- fields ----------------------------------------------------------------------------------------
def _fields(access: PolicyAccess, obj: ObjectDef) -> list[str]:
    read = access.decision(obj.name, "read")
    if not read.allowed:
        return [f"  {f.name} ({f.label.get()}): hidden (may not read {obj.name})" for f in obj.fields]
    update = access.decision(obj.name, "update")
    hidden = access.hidden(obj.name)
    locked = access.locked(obj.name)
    roles = ", ".join(sorted(g.role for g in read.grants)) or "-"
    out = []
    for f in obj.fields:
        if f.name in hidden:
            state = f"hidden (role {roles})"
        elif f.name in locked:
            state = f"visible, read-only (role {roles})"
        elif f.type == "formula":
            state = "visible, read-only (computed)"
        elif not update.allowed:
            state = f"visible, read-only (may not update {obj.name})"
        else:
            state = "visible, editable"
        out.append(f"  {f.name} ({f.label.get()}): {state}")
    return out
