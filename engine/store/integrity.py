"""Integrity checks made before a write, so that refusals name the field and the value.

The database enforces the same rules (foreign keys, unique indexes); these checks turn what
would be a bare constraint error into a located 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Table, exists, false, select

from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem, InputInvalid
from engine.store.access import READ, Access

if TYPE_CHECKING:
    from engine.store.records import Store

Loc = tuple[str | int, ...]
#: (column, the table it points at, the rows the acting user may point at: None for all).
Target = tuple[str, Table, ColumnElement[bool] | None]


def _reachable(access: Access | None, object_name: str, table: Table) -> ColumnElement[bool] | None:
    """A lookup may only point at a record the acting user can read (else it "does not exist")."""
    if access is None:
        return None
    if not access.may(object_name, READ):
        return false()
    return access.rows(object_name, READ, table)


def check_references(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    rows: Sequence[Mapping[str, Any]],
    locs: Sequence[Loc],
    access: Access | None = None,
    *,
    within_parent: bool = False,
) -> None:
    """Every lookup, user and parent id given must exist (and, for a user, be readable by them);
    otherwise a 422 located at the field. `within_parent`: the rows are lines written through
    their parent, which the write has reached already (it may be brand new, not yet in scope)."""
    targets: list[Target] = []
    for f in obj.stored_fields:
        if f.type == "lookup" and f.target:
            table = store.tables[f.target]
            targets.append((str(f.column), table, _reachable(access, f.target, table)))
        elif f.type == "user":
            targets.append((str(f.column), store.users, None))
    if obj.owned:
        targets.append(("owner_id", store.users, None))
    if obj.parent and not within_parent:  # a parent the user cannot read "does not exist" for them
        table = store.tables[obj.parent]
        targets.append((f"{obj.parent}_id", table, _reachable(access, obj.parent, table)))
    if len(rows) == 1:
        _check_one(conn, targets, rows[0], locs[0], store)
        return
    problems = []
    for column, target, where in targets:
        wanted = {r[column] for r in rows if r.get(column) is not None}
        if not wanted:
            continue
        stmt = select(target.c.id).where(target.c.id.in_(wanted))
        if where is not None:
            stmt = stmt.where(where)
        found = set(conn.execute(stmt).scalars())
        for row, loc in zip(rows, locs, strict=True):
            value = row.get(column)
            if value is not None and value not in found:
                what = "user" if target is store.users else target.name
                problems.append(FieldProblem((*loc, column), f"no {what} with id {value}", "field.not_found"))
    if problems:
        raise InputInvalid(problems[:100])


def check_unique(
    store: Store, conn: Connection, obj: ObjectDef, rows: Sequence[Mapping[str, Any]], exclude_id: int | None
) -> None:
    """Unique fields may not repeat within the batch nor match another stored record."""
    table = store.tables[obj.name]
    problems = []
    for f in obj.stored_fields:
        if not f.unique:
            continue
        column = str(f.column)
        values = [r[column] for r in rows if r.get(column) is not None]
        if not values:
            continue
        seen: set[Any] = set()
        for i, v in enumerate(values):
            if v in seen:
                problems.append(FieldProblem(("body", i, column), f"'{v}' appears twice in this batch", "field.unique"))
            seen.add(v)
        stmt = select(table.c[column], table.c.id).where(table.c[column].in_(seen))
        if exclude_id is not None:
            stmt = stmt.where(table.c.id != exclude_id)
        for value, _other in conn.execute(stmt):
            problems.append(
                FieldProblem(("body", column), f"'{value}' is already used by another {obj.name}", "field.unique")
            )
    if problems:
        raise InputInvalid(problems[:100])


def _check_one(conn: Connection, targets: list[Target], row: Mapping[str, Any], loc: Loc, store: Store) -> None:
    """All references of one record probed in a single statement (the hot path of single writes)."""
    probes = [(column, target, where, row[column]) for column, target, where in targets if row.get(column) is not None]
    if not probes:
        return
    checks = [
        (exists().where(target.c.id == value) if where is None else exists().where(target.c.id == value, where)).label(
            f"p{i}"
        )
        for i, (_, target, where, value) in enumerate(probes)
    ]
    found = conn.execute(select(*checks)).one()
    problems = [
        FieldProblem(
            (*loc, column), f"no {'user' if target is store.users else target.name} with id {value}", "field.not_found"
        )
        for (column, target, _, value), ok in zip(probes, found, strict=True)
        if not ok
    ]
    if problems:
        raise InputInvalid(problems)
