"""Fast multi-row inserts: the statement is compiled once by SQLAlchemy, each column's bind
processor runs once per distinct value object, and the driver gets plain tuples.

Used for SQLite, where SQLAlchemy's per-row parameter handling costs more than the insert itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.sql.schema import ScalarElementColumnDefault


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) in one executemany; columns they leave out take
    their scalar default, as they would in a one-row insert."""
    if not rows:
        return
    keys = list(rows[0])
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    order = compiled.positiontup or keys
    processors = [table.c[k].type._cached_bind_processor(dialect) for k in order]
    missing = [k for k in order if k not in rows[0]]
    if missing:  # the compiled statement names every column with a Python-side default
        defaults = {k: _scalar_default(table, k) for k in missing}
        rows = [{**defaults, **r} for r in rows]
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


def _scalar_default(table: Table, key: str) -> Any:
    default = table.c[key].default
    if not isinstance(default, ScalarElementColumnDefault):
        raise ValueError(f"{table.name}.{key}: no value given and no constant default")
    return default.arg
