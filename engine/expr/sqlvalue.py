"""SQL values while compiling: an expression plus how it holds its value.

On PostgreSQL a number is NUMERIC (exact). On SQLite a number is either a *scaled integer*
(`value * 10**scale`, how decimals are stored; `bound` limits its size so native integer
arithmetic cannot overflow) or *decimal text* computed by the deterministic functions that
`register_sqlite_functions` adds to every connection. Text is compared by code point: SQLite's
BINARY collation and PostgreSQL's `COLLATE "C"` both order UTF-8 bytes, which is code-point order.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from engine.expr.numbers import STORED_DIGITS, places, scaled_to_decimal
from engine.expr.types import Kind

INT64 = 2**63
#: Largest magnitude of a stored decimal scaled to an integer (18 digits).
DECIMAL_BOUND = 10**STORED_DIGITS
_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class ScaledNumber(TypeDecorator[Decimal]):
    """Reads a scaled integer back as the Decimal it stands for."""

    impl = sa.BigInteger
    cache_ok = True

    def __init__(self, scale: int = 0) -> None:
        super().__init__()
        self.scale = scale

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else scaled_to_decimal(int(value), self.scale)


class TextNumber(TypeDecorator[Decimal]):
    """Reads decimal text (SQLite) or NUMERIC (PostgreSQL) back as a Decimal."""

    impl = sa.String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


class UtcMoment(TypeDecorator[datetime]):
    """An aware UTC datetime: naive UTC text on SQLite, timestamptz on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        moment: datetime = value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class SqlValue:
    expr: ColumnElement[Any]
    kind: Kind
    scale: int = 0
    #: SQLite numbers: held as decimal text rather than a scaled integer.
    text: bool = False
    #: SQLite scaled integers: |expr| < bound (None: unknown size).
    bound: int | None = None


class SqlContext:
    """What function implementations need to build SQL for one dialect."""

    def __init__(self, dialect: str, clock: Callable[[], datetime]) -> None:
        self.dialect = dialect
        self.sqlite = dialect == "sqlite"
        self.clock = clock

    def call(self, name: str, *args: Any, type_: TypeEngine[Any] | None = None) -> ColumnElement[Any]:
        return sa.func.__getattr__(name)(*args, type_=type_)

    def null(self, kind: Kind) -> SqlValue:
        return SqlValue(sa.null(), kind, bound=1)

    def literal(self, value: Any, kind: Kind) -> SqlValue:
        if value is None:
            return self.null(kind)
        if kind is Kind.NUMBER:
            d = Decimal(value)
            if not self.sqlite:
                return SqlValue(sa.literal(d, sa.Numeric(asdecimal=True)), kind, places(d))
            scale = places(d)
            scaled = int(d.scaleb(scale))
            return SqlValue(sa.literal(scaled, sa.BigInteger()), kind, scale, bound=abs(scaled) + 1)
        types: dict[Kind, TypeEngine[Any]] = {
            Kind.TEXT: sa.String(),
            Kind.BOOLEAN: sa.Boolean(),
            Kind.DATE: sa.Date(),
            Kind.DATETIME: UtcMoment(),
        }
        return SqlValue(sa.literal(value, types[kind]), kind)

    def now(self) -> SqlValue:
        # Named: an anonymous callable parameter shares its cache key with a literal of the same
        # type, and a cached statement would then bind the literal's (missing) value.
        return SqlValue(sa.bindparam("lw_now", callable_=self.clock, type_=UtcMoment()), Kind.DATETIME)

    def today(self) -> SqlValue:
        today = sa.bindparam("lw_today", callable_=lambda: self.clock().astimezone(UTC).date(), type_=sa.Date())
        return SqlValue(today, Kind.DATE)

    def collate(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return expr if self.sqlite else sa.collate(expr, "C")

    def utc_date(self, v: SqlValue) -> ColumnElement[Any]:
        """The UTC calendar date of a date or datetime."""
        if v.kind is Kind.DATE:
            return v.expr
        if self.sqlite:
            return self.call("date", v.expr, type_=sa.Date())
        return sa.cast(self.call("timezone", "UTC", v.expr), sa.Date())

    def as_text(self, v: SqlValue) -> ColumnElement[Any]:
        """A SQLite number as decimal text (whole scaled integers pass as they are)."""
        if v.text or v.scale == 0:
            return v.expr
        return self.call("lw_num", v.expr, v.scale, type_=sa.String())

    def numeric(self, v: SqlValue) -> ColumnElement[Any]:
        """A PostgreSQL number as NUMERIC (whole-number columns would overflow or divide as integers)."""
        return v.expr if isinstance(v.expr.type, sa.Numeric) else sa.cast(v.expr, sa.Numeric())

    def text_number(self, expr: ColumnElement[Any], scale: int) -> SqlValue:
        return SqlValue(expr, Kind.NUMBER, scale, text=True)

    def fit(self, v: SqlValue, places: int) -> SqlValue:
        """A number as a column of `places` decimal places holds it, like `numbers.fit_places`:
        rounded half away from zero, null beyond `STORED_DIGITS` digits. On SQLite the scaled
        integer (so it compares and sorts like a stored decimal), on PostgreSQL NUMERIC."""
        if not self.sqlite:
            rounded = self.call("round", self.numeric(v), places, type_=sa.Numeric())
            limit = sa.literal(Decimal(10) ** (STORED_DIGITS - places), sa.Numeric())
            return SqlValue(sa.case((sa.func.abs(rounded) < limit, rounded)), Kind.NUMBER, places)
        aligned = self.align(v, places)
        if aligned is not None and aligned.bound is not None and aligned.bound <= DECIMAL_BOUND:
            return aligned
        scaled = self.call("lw_scaled", self.as_text(v), places, type_=sa.BigInteger())
        return SqlValue(scaled, Kind.NUMBER, places, bound=DECIMAL_BOUND)

    def align(self, v: SqlValue, scale: int) -> SqlValue | None:
        """A SQLite scaled integer rescaled to `scale`, or None if it might overflow."""
        if v.text or v.bound is None or scale < v.scale:
            return None
        factor = 10 ** (scale - v.scale)
        bound = v.bound * factor
        if bound > INT64:
            return None
        expr = v.expr if factor == 1 else v.expr * sa.literal(factor, sa.BigInteger())
        return SqlValue(expr, Kind.NUMBER, scale, bound=bound)

    def unify(self, values: Sequence[SqlValue]) -> list[SqlValue]:
        """Numbers in one representation, so CASE and COALESCE can mix them."""
        nums = [v for v in values if v.kind is Kind.NUMBER]
        if not self.sqlite or not nums:
            return list(values)
        scale = max(v.scale for v in nums)
        aligned = [self.align(v, scale) for v in values]
        if all(a is not None for a in aligned):
            return [a for a in aligned if a is not None]
        return [replace(v, expr=self.as_text(v), text=True, bound=None) for v in values]

    def compare(self, op: str, a: SqlValue, b: SqlValue) -> ColumnElement[bool]:
        cmp = _COMPARE[op]
        if a.kind is Kind.NUMBER and self.sqlite:
            a2, b2 = self.unify([a, b])
            if a2.text:
                three_way = self.call("lw_cmp", a2.expr, b2.expr, type_=sa.Integer())
                return cmp(three_way, sa.literal(0, sa.Integer()))
            return cmp(a2.expr, b2.expr)
        if a.kind is Kind.TEXT:
            return cmp(self.collate(a.expr), b.expr)
        return cmp(a.expr, b.expr)

    def finish(self, v: SqlValue) -> ColumnElement[Any]:
        """The value as a column a SELECT reads back as Python values (Decimal, date, ...)."""
        if v.kind is Kind.NUMBER:
            if not self.sqlite:
                return sa.type_coerce(v.expr, TextNumber())
            return sa.type_coerce(v.expr, TextNumber() if v.text else ScaledNumber(v.scale))
        types: dict[Kind, TypeEngine[Any]] = {
            Kind.TEXT: sa.String(),
            Kind.BOOLEAN: sa.Boolean(),
            Kind.DATE: sa.Date(),
            Kind.DATETIME: UtcMoment(),
            Kind.NULL: sa.String(),
        }
        return sa.type_coerce(v.expr, types[v.kind])


def as_date(value: date | datetime) -> date:
    """The UTC calendar date of a date or an aware datetime."""
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value
