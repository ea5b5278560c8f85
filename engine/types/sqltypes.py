"""Column types that keep values exact on every database.

SQLite has no exact decimal type, so decimals are stored there as integers scaled by 10**scale:
comparisons and sorting stay in SQL, sums stay exact, and the value read back is the `Decimal`
that was written. PostgreSQL uses NUMERIC. Datetimes are always timezone-aware UTC. JSON values
that may be bare numbers are kept as text on SQLite (`JSONValue`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Numeric, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from engine.types.base import DECIMAL_DIGITS


class ExactDecimal(TypeDecorator[Decimal]):
    """A fixed-scale decimal: NUMERIC on PostgreSQL, a scaled BIGINT on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, scale: int = 2) -> None:
        super().__init__(precision=DECIMAL_DIGITS, scale=scale, asdecimal=True)
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(DECIMAL_DIGITS, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        if dialect.name == "sqlite":
            return int(d.scaleb(self.scale).to_integral_value())
        return d

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale).quantize(Decimal(1).scaleb(-self.scale))
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        return self


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC everywhere and read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError("expected a datetime")
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def json_document() -> TypeEngine[Any]:
    """JSON values: JSONB on PostgreSQL (containment operators, GIN-indexable), JSON text elsewhere."""
    return JSON().with_variant(JSONB(), "postgresql")


class JSONValue(TypeDecorator[Any]):
    """Any JSON value, scalars included: JSON on PostgreSQL, JSON text in a TEXT column on SQLite.

    A column declared `JSON` has NUMERIC affinity on SQLite: the text `5` or `1.5` written there is
    stored as a number and no longer reads back as JSON text. TEXT affinity keeps what was written;
    numbers already stored that way (by databases made before this type) are read as they are.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "sqlite" or value is None:
            return value
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "sqlite" or not isinstance(value, str):
            return value
        return orjson.loads(value)
