"""Integrity checks made before a write, so that refusals name the field and the value.

The database enforces the same rules (foreign keys, unique indexes); these checks turn what
would be a bare constraint error into a located 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, select

from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem, InputInvalid

if TYPE_CHECKING:
    from engine.store.records import Store


def check_references(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    rows: Sequence[Mapping[str, Any]],
    locs: Sequence[tuple[str | int, ...]],
) -> None:
    targets: list[tuple[str, Table]] = []
    for f in obj.stored_fields:
        if f.type == "lookup" and f.target:
            targets.append((str(f.column), store.tables[f.target]))
        elif f.type == "user":
            targets.append((str(f.column), store.users))
    if obj.owned:
        targets.append(("owner_id", store.users))
    if obj.parent:
        targets.append((f"{obj.parent}_id", store.tables[obj.parent]))
    problems = []
    for column, target in targets:
        wanted = {r[column] for r in rows if r.get(column) is not None}
        if not wanted:
            continue
        found = set(conn.execute(select(target.c.id).where(target.c.id.in_(wanted))).scalars())
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
        for value, other in conn.execute(stmt):
            problems.append(
                FieldProblem(("body", column), f"'{value}' is already used by {obj.name} {other}", "field.unique")
            )
    if problems:
        raise InputInvalid(problems[:100])
