"""Converting stored values when a field changes type or narrows, and counting what is lost.

A conversion is a function from the stored value to the new one; it raises `ValueError` with a
readable message for a value that cannot be converted. The same functions drive the plan's dry
run (read only) and the apply step, so the plan's failing rows are exactly the ones apply refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.types import TypeEngine

from engine.blueprint.diff import AlterField, ChangeFieldType
from engine.blueprint.model import FieldDef
from engine.types.registry import TypeRegistry

Conversion = Callable[[Any], Any]
#: How many failing values a plan lists by id (the count is always complete).
SHOWN_FAILURES = 20


@dataclass(frozen=True)
class ConversionFailure:
    """One stored value that the new field definition cannot hold."""

    object: str
    field: str
    record_id: int
    value: Any
    message: str

    def __str__(self) -> str:
        shown = repr(self.value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"{self.object} #{self.record_id} {self.field}={shown}: {self.message}"


@dataclass(frozen=True)
class DryRun:
    """What converting one column would do: values seen, values changed, values that fail."""

    total: int
    changed: int
    failures: tuple[ConversionFailure, ...]
    failure_count: int


def type_conversion(types: TypeRegistry, op: ChangeFieldType) -> Conversion:
    """Stored value of the old type -> value of the new type, through the new type's parse/validate."""
    old_type, new_type = types[op.old.type], types[op.new.type]

    def convert(value: Any) -> Any:
        raw = old_type.to_json(op.old, value)
        try:
            parsed = new_type.parse(op.new, raw)
        except ValueError:
            if isinstance(raw, str):
                raise
            parsed = new_type.parse_text(op.new, str(raw))
        message = new_type.validate(op.new, parsed)
        if message:
            raise ValueError(message)
        return parsed

    return convert


def narrowing_conversion(op: AlterField) -> Conversion | None:
    """Stored value -> value that fits the altered field; None when every value fits as it is."""
    steps: list[Conversion] = []
    if op.narrows_length and op.new_length is not None:
        length = op.new_length
        steps.append(lambda v: v[:length] if isinstance(v, str) else v)
    if op.old_scale != op.new_scale and op.new_scale is not None:
        quantum = Decimal(1).scaleb(-op.new_scale)
        steps.append(lambda v: v.quantize(quantum, rounding=ROUND_HALF_UP))
    removed = set(op.removed_options)
    if removed and op.new.type == "multi_select":
        steps.append(lambda v: [x for x in v if x not in removed] or None)
    elif removed:
        steps.append(lambda v: None if v in removed else v)
    if not steps:
        return None

    def convert(value: Any) -> Any:
        for step in steps:
            if value is None:
                break
            value = step(value)
        return value

    return convert


def column_of(table: str, column: str, sql_type: TypeEngine[Any]) -> tuple[sa.TableClause, sa.ColumnClause[Any]]:
    """A lightweight table with `id` and one typed column (result processing applies the type)."""
    col: sa.ColumnClause[Any] = sa.column(column, sql_type)
    return sa.table(table, sa.column("id"), col), col


def stored_values(conn: Connection, table: str, column: str, sql_type: TypeEngine[Any]) -> list[tuple[int, Any]]:
    """(id, value) of every row whose column is not null, in id order."""
    t, col = column_of(table, column, sql_type)
    stmt = sa.select(t.c.id, col).where(col.is_not(None)).order_by(t.c.id)
    return [(int(row[0]), row[1]) for row in conn.execute(stmt)]


def dry_run(conn: Connection, where: tuple[str, FieldDef], sql_type: TypeEngine[Any], convert: Conversion) -> DryRun:
    """Convert every stored value of a column without writing anything."""
    table, f = where
    assert f.column is not None  # stored fields only
    values = stored_values(conn, table, f.column, sql_type)
    failures: list[ConversionFailure] = []
    changed = 0
    for record_id, value in values:
        try:
            new = convert(value)
        except ValueError as exc:
            failures.append(ConversionFailure(table, f.name, record_id, value, str(exc)))
            continue
        changed += new != value
    return DryRun(len(values), changed, tuple(failures[:SHOWN_FAILURES]), len(failures))


def converted(values: list[tuple[int, Any]], convert: Conversion, where: tuple[str, str]) -> list[tuple[int, Any, Any]]:
    """(id, old value, new value) for every value; raises `ValueError` naming the first row that fails."""
    out = []
    for record_id, value in values:
        try:
            out.append((record_id, value, convert(value)))
        except ValueError as exc:
            raise ValueError(f"{where[0]} #{record_id} {where[1]}={value!r}: {exc}") from None
    return out


def write_values(
    conn: Connection, table: str, column: str, sql_type: TypeEngine[Any], rows: list[tuple[int, Any]]
) -> None:
    """Set one column of many rows (executemany, one statement)."""
    if not rows:
        return
    t, _ = column_of(table, column, sql_type)
    stmt = sa.update(t).where(t.c.id == sa.bindparam("rid")).values({column: sa.bindparam("value", type_=sql_type)})
    conn.execute(stmt, [{"rid": rid, "value": value} for rid, value in rows])


def count_values(conn: Connection, table: str, column: str) -> tuple[int, int]:
    """(rows, non-null values) of one column."""
    t, col = column_of(table, column, sa.Integer())
    row = conn.execute(sa.select(sa.func.count(), sa.func.count(col)).select_from(t)).one()
    return int(row[0]), int(row[1])


def count_rows(conn: Connection, table: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())
