"""Child lines (line items) of a record: make the stored lines equal the ones sent.

Lines with an id are updated (their formulas and rules checked), new ones inserted (numbered,
references checked), missing ones deleted; every change gets its history row.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, update

from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem, InputInvalid
from engine.store import history, integrity
from engine.store.access import Access

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
    journal: Journal,
) -> bool:
    """Make the parent's lines equal `lines`: update those with an id, insert new ones, drop the rest
    (each noted in `journal`, for the formulas elsewhere that read them)."""
    child = store.app.object(str(parent.field(fname).target))
    table = store.tables[child.name]
    link = table.c[f"{parent.name}_id"]
    existing = {} if creating else {int(r["id"]): r for r in store._children(conn, parent, child.name, parent_id)}
    keep = {int(line["id"]) for line in lines if line.get("id") is not None}
    unknown = keep - set(existing)
    if unknown:
        raise InputInvalid(
            [FieldProblem(("body", fname), f"line {min(unknown)} is not a line of this {parent.name}", "line.unknown")]
        )
    changed = False
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
        store._compute(conn, child, [merged], [old], [("body", fname, position)])
        diff = {k: v for k, v in merged.items() if old.get(k) != v}
        if diff:
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
        locs = [("body", fname, int(r["position"])) for r in new_rows]
        integrity.check_references(store, conn, child, new_rows, locs, access)
        store._number(conn, child, new_rows, now)
        store._compute(conn, child, new_rows, [None] * len(new_rows), locs)
        ids = store._insert_rows(conn, table, new_rows)
        for row, i in zip(new_rows, ids, strict=True):
            row["id"] = i
        journal.created(child, new_rows)
        history.write(conn, store.history_table, history.record_created(child.name, ids, actor, now))
        changed = True
    return changed
