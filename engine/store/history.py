"""The history table: one row per created, deleted or restored record and per changed field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, select

from engine.store.jsonvalues import RecordCodec


def record_created(
    codec: RecordCodec, table: Table, obj: str, rows: Sequence[Mapping[str, Any]], actor: int | None, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "object": obj,
            "record_id": r["id"],
            "action": "create",
            "field": None,
            "old": None,
            "new": codec.to_json(obj, r),
            "actor_id": actor,
            "at": now,
        }
        for r in rows
    ]


def record_changed(
    codec: RecordCodec,
    obj: str,
    record_id: int,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    actor: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    out = []
    for column, value in new.items():
        out.append(
            {
                "object": obj,
                "record_id": record_id,
                "action": "update",
                "field": column,
                "old": codec.value_json(obj, column, old.get(column)),
                "new": codec.value_json(obj, column, value),
                "actor_id": actor,
                "at": now,
            }
        )
    return out


def write(conn: Connection, history: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(history), rows)


def read(conn: Connection, history: Table, obj: str, record_id: int) -> list[dict[str, Any]]:
    stmt = select(history).where(history.c.object == obj, history.c.record_id == record_id).order_by(history.c.id)
    out = []
    for row in conn.execute(stmt).mappings():
        item = dict(row)
        item["at"] = row["at"].isoformat().replace("+00:00", "Z")
        out.append(item)
    return out
