"""Fast multi-row inserts: the statement is compiled once by SQLAlchemy, each column's bind
processor runs once per distinct value object, and the driver gets plain tuples.

Used for SQLite, where SQLAlchemy's per-row parameter handling costs more than the insert itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) in one executemany."""
    if not rows:
        return
    keys = list(rows[0])
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    order = compiled.positiontup or keys
    processors = [table.c[k].type._cached_bind_processor(dialect) for k in order]
    first = rows[0]
    shared: dict[int, Any] = {}
    for i, (key, proc) in enumerate(zip(order, processors, strict=True)):
        value = first[key]
        if all(r[key] is value for r in rows):  # system values: one timestamp, one actor, one version
            shared[i] = proc(value) if proc is not None else value
    params = [
        tuple(
            shared[i] if i in shared else (proc(row[key]) if proc is not None else row[key])
            for i, (key, proc) in enumerate(zip(order, processors, strict=True))
        )
        for row in rows
    ]
    conn.exec_driver_sql(compiled.string, params)
