"""Autonumbers such as Q-{YYYY}-{0000}: counters in `lw_sequence`, allocated inside the write.

The counter row is bumped with one UPDATE ... RETURNING in the writer's transaction, so concurrent
creators serialise on that row (PostgreSQL row lock, SQLite write lock) and never share a number.
A rolled-back create gives its number back; numbers may still have gaps after deletes.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Connection, Table, update
from sqlalchemy.dialects import postgresql, sqlite

_TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|0+)\}")


def period_key(pattern: str, now: datetime) -> str:
    """The part of the counter key that restarts numbering (per year when the pattern has {YYYY})."""
    parts = []
    for token in _TOKEN.findall(pattern):
        if token == "YYYY" or token == "YY":
            parts.append(f"{now:%Y}")
        elif token == "MM":
            parts.append(f"{now:%m}")
        elif token == "DD":
            parts.append(f"{now:%d}")
    return "-".join(parts)


def render(pattern: str, now: datetime, number: int) -> str:
    def token(m: re.Match[str]) -> str:
        t = m.group(1)
        if t == "YYYY":
            return f"{now:%Y}"
        if t == "YY":
            return f"{now:%y}"
        if t == "MM":
            return f"{now:%m}"
        if t == "DD":
            return f"{now:%d}"
        return str(number).zfill(len(t))

    return _TOKEN.sub(token, pattern)


def allocate(conn: Connection, sequences: Table, key: str, count: int) -> int:
    """Reserve `count` numbers for `key`; returns the first one."""
    stmt = update(sequences).where(sequences.c.key == key).values(value=sequences.c.value + count)
    last = conn.execute(stmt.returning(sequences.c.value)).scalar()
    if last is None:
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        ins = dialect_insert(sequences).values(key=key, value=count)
        ins = ins.on_conflict_do_update(index_elements=[sequences.c.key], set_={"value": sequences.c.value + count})
        last = conn.execute(ins.returning(sequences.c.value)).scalar_one()
    return int(last) - count + 1


def numbers(conn: Connection, sequences: Table, scope: str, pattern: str, now: datetime, count: int) -> list[str]:
    """`count` consecutive rendered numbers for the field `scope` (object.field)."""
    key = f"{scope}:{period_key(pattern, now)}"
    first = allocate(conn, sequences, key, count)
    return [render(pattern, now, first + i) for i in range(count)]
