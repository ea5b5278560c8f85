"""Child lines (line items) of a record: make the stored lines equal the ones sent.

Lines with an id are updated (their formulas and rules checked), new ones inserted (numbered,
references checked), missing ones deleted; every change gets its history row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select, update

from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem, InputInvalid
from engine.store import history, integrity
from engine.store.access import UPDATE, Access

if TYPE_CHECKING:
    from engine.store.cascade import Journal
    from engine.store.records import Store


def replace_lines(
    store: Store,
    conn: Connection,
    parent: ObjectDef,
    fname: str,
    parent_id: int,
    lines: list[dict[str, Any]],
    actor: int | None,
    now: datetime,
    *,
    creating: bool,
    access: Access | None = None,
    parent_loc: tuple[str | int, ...] = ("body",),
    journal: Journal,
) -> bool:
    """Make the parent's lines equal `lines`: update those with an id, insert new ones, drop the rest
    (each noted in `journal`, for the formulas elsewhere that read them).

    With `access`, "the parent's lines" are those the user may change: lines outside their scope
    on the lines (a role's line condition) are neither shown, changed nor dropped, and every line
    written must stay inside it. Updated lines get the same reference checks as new ones.
    `parent_loc` is where the parent is in the request (`("body", 3)` in a bulk create)."""
    child = store.app.object(str(parent.field(fname).target))
    table = store.tables[child.name]
    link = table.c[f"{parent.name}_id"]
    existing = {} if creating else {int(r["id"]): r for r in store._children(conn, parent, child.name, parent_id)}
    if existing and access is not None:
        reach = access.rows(child.name, UPDATE, table)
        if reach is not None:
            inside = set(conn.execute(select(table.c.id).where(table.c.id.in_(existing), reach)).scalars())
            existing = {i: r for i, r in existing.items() if i in inside}
    keep = {int(line["id"]) for line in lines if line.get("id") is not None}
    unknown = keep - set(existing)
    if unknown:
        raise InputInvalid(
            [
                FieldProblem(
                    (*parent_loc, fname), f"line {min(unknown)} is not a line of this {parent.name}", "line.unknown"
                )
            ]
        )
    changed = False
    written: list[tuple[int, tuple[str | int, ...]]] = []
    gone = set(existing) - keep
    if gone:
        conn.execute(delete(table).where(table.c.id.in_(gone)))
        journal.deleted(child, [existing[i] for i in gone], settled=True)
        history.write(
            conn,
            store.history_table,
            [
                {
                    "object": child.name,
                    "record_id": i,
                    "action": "delete",
                    "field": None,
                    "old": store.codec.to_json(child.name, existing[i]),
                    "new": None,
                    "actor_id": actor,
                    "at": now,
                }
                for i in sorted(gone)
            ],
        )
        changed = True
    new_rows = []
    for position, line in enumerate(lines):
        values = {**line, "position": position}
        if values.get("id") is None:
            values.pop("id", None)
            new_rows.append(
                {
                    **values,
                    link.key: parent_id,
                    "created_at": now,
                    "updated_at": now,
                    "created_by": actor,
                    "version": 1,
                }
            )
            continue
        line_id = int(values.pop("id"))
        old = existing[line_id]
        merged = {**old, **values}
        loc: tuple[str | int, ...] = (*parent_loc, fname, position)
        sent = {k: v for k, v in values.items() if old.get(k) != v}
        integrity.check_references(store, conn, child, [sent], [loc], access, within_parent=True)
        store._compute(conn, child, [merged], [old], [loc], access=access, actor=actor)
        diff = {k: v for k, v in merged.items() if old.get(k) != v}
        if diff:
            integrity.check_unique(store, conn, child, [diff], [loc], old)
            written.append((line_id, loc))
            conn.execute(
                update(table).where(table.c.id == line_id).values(**diff, updated_at=now, version=table.c.version + 1)
            )
            journal.updated(child, old, diff, settled=True)
            history.write(
                conn,
                store.history_table,
                history.record_changed(store.codec, child.name, line_id, old, diff, actor, now),
            )
            changed = True
    if new_rows:
        locs = [(*parent_loc, fname, int(r["position"])) for r in new_rows]
        integrity.check_references(store, conn, child, new_rows, locs, access, within_parent=True)
        integrity.check_unique(store, conn, child, new_rows, locs)
        store._number(conn, child, new_rows, now)
        store._compute(conn, child, new_rows, [None] * len(new_rows), locs, access=access, actor=actor)
        ids = store._insert_rows(conn, table, new_rows)
        for row, i, loc in zip(new_rows, ids, locs, strict=True):
            row["id"] = i
            written.append((i, loc))
        journal.created(child, new_rows)
        history.write(conn, store.history_table, history.record_created(child.name, ids, actor, now))
        changed = True
    _stay_in_scope(store, conn, parent, parent_id, child, written, access)
    return changed


def _stay_in_scope(
    store: Store,
    conn: Connection,
    parent: ObjectDef,
    parent_id: int,
    child: ObjectDef,
    written: list[tuple[int, tuple[str | int, ...]]],
    access: Access | None,
) -> None:
    """Every line written must be one the user may still change (e.g. a role whose lines are
    `internal = false` cannot add an internal line); raising rolls the whole write back.
    A parent outside the user's scope is reported for the parent by its own check instead."""
    if access is None or not written:
        return
    table = store.tables[child.name]
    reach = access.rows(child.name, UPDATE, table)
    if reach is None:
        return
    parents = store.tables[parent.name]
    parent_reach = access.rows(parent.name, UPDATE, parents)
    if parent_reach is not None:
        probe = select(parents.c.id).where(parents.c.id == parent_id, parent_reach)
        if conn.execute(probe).first() is None:
            return
    ids = [i for i, _ in written]
    inside = set(conn.execute(select(table.c.id).where(table.c.id.in_(ids), reach)).scalars())
    problems = [
        FieldProblem(
            loc, f"the line would fall outside the {child.name} lines you may change", "permission.out_of_scope"
        )
        for i, loc in written
        if i not in inside
    ]
    if problems:
        raise InputInvalid(problems)


def append_positions(store: Store, conn: Connection, child: ObjectDef, rows: Sequence[dict[str, Any]]) -> None:
    """Lines written on their own (not inline in their parent) without a `position` go after
    their parent's last line, in the order given: one query for every parent of the batch."""
    column = str(child.parent_column)
    missing = [r for r in rows if r.get("position") is None and r.get(column) is not None]
    if not missing:
        return
    table = store.tables[child.name]
    link = table.c[column]
    parents = {r[column] for r in missing}
    found = conn.execute(select(link, func.max(table.c.position)).where(link.in_(parents)).group_by(link))
    last: dict[Any, int] = {parent: int(top) for parent, top in found if top is not None}
    for row in missing:
        row["position"] = last[row[column]] = last.get(row[column], -1) + 1
