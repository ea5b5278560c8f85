"""The history table: one row per created, deleted or restored record and per changed field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, select

from engine.store import events
from engine.store.bulk import insert_many
from engine.store.jsonvalues import RecordCodec


def record_created(obj: str, ids: Sequence[int], actor: int | None, now: datetime) -> list[dict[str, Any]]:
    """One row per created record: who and when. The values need no copy here: the stored row
    and the `old` values of later update rows reconstruct them."""
    return [
        {
            "object": obj,
            "record_id": i,
            "action": "create",
            "field": None,
            "old": None,
            "new": None,
            "actor_id": actor,
            "at": now,
        }
        for i in ids
    ]


def record_changed(
    codec: RecordCodec,
    obj: str,
    record_id: int,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    actor: int | None,
    now: datetime,
    *,
    action: str = "update",
) -> list[dict[str, Any]]:
    """One row per changed column; `action` is `recompute` for a stored formula recomputed because
    another record changed (engine.store.cascade)."""
    out = []
    for column, value in new.items():
        out.append(
            {
                "object": obj,
                "record_id": record_id,
                "action": action,
                "field": column,
                "old": codec.value_json(obj, column, old.get(column)),
                "new": codec.value_json(obj, column, value),
                "actor_id": actor,
                "at": now,
            }
        )
    return out


def write(conn: Connection, history: Table, rows: list[dict[str, Any]]) -> None:
    """Store history rows; the transaction's journal takes them in for the after-commit hooks."""
    events.note(conn, rows)
    if len(rows) > 1 and conn.dialect.name == "sqlite":
        insert_many(conn, history, rows)
    elif rows:
        conn.execute(insert(history), rows)


def read(conn: Connection, history: Table, obj: str, record_id: int) -> list[dict[str, Any]]:
    stmt = select(history).where(history.c.object == obj, history.c.record_id == record_id).order_by(history.c.id)
    out = []
    for row in conn.execute(stmt).mappings():
        item = dict(row)
        item["at"] = row["at"].isoformat().replace("+00:00", "Z")
        out.append(item)
    return out
