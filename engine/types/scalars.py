"""Text, number, boolean and date-like field types."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from engine.blueprint.model import FieldDef
from engine.expr.formats import (
    DATE_FORM,
    MOMENT_FORM,
    NUMBER_FORM,
    parse_date_text,
    parse_json_number,
    parse_moment_text,
    parse_number_text,
)
from engine.types.base import DECIMAL_DIGITS, FieldType, show_bound, unindexable

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

_RANGE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull")
#: Metrics of numbers, and of other ordered values (text by code point, dates, moments).
NUMBER_METRICS = frozenset({"sum", "avg", "min", "max"})
ORDERED_METRICS = frozenset({"min", "max"})
_TEXT_OPS = ("eq", "ne", "in", "isnull", "contains", "startswith", "gt", "gte", "lt", "lte")
DEFAULT_TEXT_LENGTH = 255
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{5,32}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
WHOLE_FORM = "a whole number such as -42 (ASCII digits, no separators)"


class Text(FieldType):
    """Single-line text (default at most 255 characters)."""

    name = "text"
    settings = frozenset({"max_length", "pattern"})
    filter_ops: ClassVar[tuple[str, ...]] = _TEXT_OPS
    metrics: ClassVar[frozenset[str]] = ORDERED_METRICS

    def max_length(self, f: FieldDef) -> int:
        return f.max_length or DEFAULT_TEXT_LENGTH

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.String(self.max_length(f))

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_length(f)}
        if f.pattern:
            out["pattern"] = f.pattern
        return out

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if not isinstance(raw, str):
            raise ValueError(f"expected text, got {type(raw).__name__}")
        return raw

    def validate(self, f: FieldDef, value: Any) -> str | None:
        if len(value) > self.max_length(f):
            return f"at most {self.max_length(f)} characters (got {len(value)})"
        if "\x00" in value:
            return "must not contain NUL characters"
        if f.pattern and not re.fullmatch(f.pattern, value):
            return f"does not match the pattern {f.pattern}"
        return None


class LongText(Text):
    """Multi-line text without a practical length limit."""

    name = "long_text"
    widget = "textarea"
    sortable = False
    filter_ops: ClassVar[tuple[str, ...]] = ("contains", "isnull")
    metrics: ClassVar[frozenset[str]] = frozenset()

    def max_length(self, f: FieldDef) -> int:
        return f.max_length or 1_000_000

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.Text()

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        return unindexable(f)


class Email(Text):
    """An e-mail address, checked for shape and stored lower-cased."""

    name = "email"
    widget = "email"
    settings = frozenset({"max_length"})

    def parse(self, f: FieldDef, raw: Any) -> Any:
        return str(super().parse(f, raw)).strip().lower()

    def validate(self, f: FieldDef, value: Any) -> str | None:
        if not _EMAIL.match(value):
            return f"'{value}' is not an e-mail address"
        return super().validate(f, value)


class Phone(Text):
    """A phone number: digits, spaces, + ( ) - and dots."""

    name = "phone"
    widget = "tel"

    def validate(self, f: FieldDef, value: Any) -> str | None:
        if not _PHONE.match(value):
            return f"'{value}' is not a phone number"
        return super().validate(f, value)


class Url(Text):
    """An http(s) URL."""

    name = "url"
    widget = "url"
    settings = frozenset({"max_length"})

    def max_length(self, f: FieldDef) -> int:
        return f.max_length or 2048

    def validate(self, f: FieldDef, value: Any) -> str | None:
        if not _URL.match(value):
            return f"'{value}' is not an http(s) URL"
        return super().validate(f, value)


class Boolean_(FieldType):
    """True or false."""

    name = "boolean"
    widget = "checkbox"
    expr_type = "boolean"
    filter_ops: ClassVar[tuple[str, ...]] = ("eq", "ne", "isnull")

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.Boolean()

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "boolean"}

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if isinstance(raw, bool):
            return raw
        raise ValueError(f"expected true or false, got {_shown(raw)}")

    def parse_text(self, f: FieldDef, text: str) -> Any:
        low = text.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise ValueError(f"expected true or false, got {_shown(text)}")


class Integer(FieldType):
    """A whole number (64-bit)."""

    name = "integer"
    widget = "number"
    expr_type = "number"
    settings = frozenset({"min", "max"})
    filter_ops: ClassVar[tuple[str, ...]] = _RANGE_OPS
    metrics: ClassVar[frozenset[str]] = NUMBER_METRICS

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.BigInteger()

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
        if isinstance(f.min, Decimal):
            out["minimum"] = int(f.min)
        if isinstance(f.max, Decimal):
            out["maximum"] = int(f.max)
        return out

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        else:
            d = number_value(raw, WHOLE_FORM)
            if d != d.to_integral_value():
                raise ValueError(f"expected a whole number, got {_shown(raw)}")
            value = int(d)
        if not -(2**63) <= value < 2**63:
            raise ValueError("number out of range")
        return value

    def validate(self, f: FieldDef, value: Any) -> str | None:
        return _check_range(f, value)


class DecimalType(FieldType):
    """An exact decimal number with a fixed number of places (default 2)."""

    name = "decimal"
    widget = "number"
    expr_type = "number"
    settings = frozenset({"min", "max", "scale"})
    filter_ops: ClassVar[tuple[str, ...]] = _RANGE_OPS
    metrics: ClassVar[frozenset[str]] = NUMBER_METRICS
    default_scale = 2

    def scale(self, f: FieldDef) -> int:
        return int(f.settings.get("scale", self.default_scale))

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:

        from engine.types import sqltypes

        return sqltypes.ExactDecimal(self.scale(f))

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {
            "type": "string",
            "format": "decimal",
            "pattern": r"^-?\d+(\.\d+)?$",
            "description": f"exact decimal with up to {self.scale(f)} places, as a string "
            "(numbers are accepted on input)",
        }

    def parse(self, f: FieldDef, raw: Any) -> Any:
        d = number_value(raw, NUMBER_FORM)
        q = Decimal(1).scaleb(-self.scale(f))
        rounded = d.quantize(q) if abs(d) < Decimal(10) ** DECIMAL_DIGITS else d
        if rounded != d:
            raise ValueError(f"at most {self.scale(f)} decimal places")
        if abs(rounded) >= Decimal(10) ** (DECIMAL_DIGITS - self.scale(f)):
            raise ValueError("number out of range")
        return rounded

    def validate(self, f: FieldDef, value: Any) -> str | None:
        return _check_range(f, value)

    def to_json(self, f: FieldDef, value: Any) -> Any:
        return None if value is None else str(value)


class Currency(DecimalType):
    """An amount of money: exact decimal (never float) with a currency code."""

    name = "currency"
    settings = frozenset({"min", "max", "scale", "currency"})


class Percent(DecimalType):
    """A percentage stored as a fraction: 0.2 means 20% (4 places by default)."""

    name = "percent"
    default_scale = 4


class Date_(FieldType):
    """A calendar date (ISO yyyy-mm-dd)."""

    name = "date"
    widget = "date"
    expr_type = "date"
    settings = frozenset({"min", "max"})
    filter_ops: ClassVar[tuple[str, ...]] = _RANGE_OPS
    metrics: ClassVar[frozenset[str]] = ORDERED_METRICS
    bound_error = "field.bad_date"

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.Date()

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return _with_bounds(self, f, {"type": "string", "format": "date"}, "a date")

    def parse_bound(self, f: FieldDef, raw: Any) -> Any:
        try:
            return self.parse(f, raw)
        except ValueError:
            raise ValueError(f"{show_bound(raw)} is not a date yyyy-mm-dd") from None

    def show_bound(self, f: FieldDef, bound: Any) -> str:
        return str(self.to_json(f, bound))

    def validate(self, f: FieldDef, value: Any) -> str | None:
        return _check_range(f, value, lambda b: self.show_bound(f, b))

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if isinstance(raw, date) and not isinstance(raw, datetime):
            return raw
        if isinstance(raw, str):
            return parse_date_text(raw)
        raise ValueError(f"expected {DATE_FORM}, got {_shown(raw)}")

    def to_json(self, f: FieldDef, value: Any) -> Any:
        return None if value is None else value.isoformat()


class DateTime_(FieldType):
    """A moment in time with a timezone (ISO 8601); stored in UTC."""

    name = "datetime"
    widget = "datetime-local"
    expr_type = "datetime"
    settings = frozenset({"min", "max"})
    filter_ops: ClassVar[tuple[str, ...]] = _RANGE_OPS
    metrics: ClassVar[frozenset[str]] = ORDERED_METRICS
    bound_error = "field.bad_date"

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:

        from engine.types import sqltypes

        return sqltypes.UTCDateTime()

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return _with_bounds(self, f, {"type": "string", "format": "date-time"}, "a moment")

    def parse_bound(self, f: FieldDef, raw: Any) -> Any:
        # A bare date is not a moment: which midnight it means depends on the timezone.
        bare_date = isinstance(raw, date) and not isinstance(raw, datetime)
        if isinstance(raw, str):
            bare_date = _is_date(raw)
        if bare_date:
            raise ValueError(f"{show_bound(raw)} is a date; a datetime bound needs a time and timezone (+08:00 or Z)")
        try:
            return self.parse(f, raw)
        except ValueError as exc:
            if "timezone" in str(exc):
                raise ValueError(f"{show_bound(raw)} needs a timezone (+08:00 or Z)") from None
        raise ValueError(f"{show_bound(raw)} is not an ISO 8601 date-time with a timezone")

    def show_bound(self, f: FieldDef, bound: Any) -> str:
        return str(self.to_json(f, bound))

    def validate(self, f: FieldDef, value: Any) -> str | None:
        return _check_range(f, value, lambda b: self.show_bound(f, b))

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, str):
            value = parse_moment_text(raw)
        else:
            raise ValueError(f"expected {MOMENT_FORM}, got {_shown(raw)}")
        if value.tzinfo is None:
            raise ValueError("date-time needs a timezone (e.g. 2026-01-31T09:00:00+08:00 or Z)")
        return value.astimezone(UTC)

    def to_json(self, f: FieldDef, value: Any) -> Any:
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_range(f: FieldDef, value: Any, shown: Callable[[Any], str] = str) -> str | None:
    if f.min is not None and value < f.min:
        return f"must be at least {shown(f.min)}"
    if f.max is not None and value > f.max:
        return f"must be at most {shown(f.max)}"
    return None


def _with_bounds(ftype: FieldType, f: FieldDef, schema: dict[str, Any], what: str) -> dict[str, Any]:
    """`schema` with a date-like field's bounds: JSON Schema has no keyword that bounds a date or
    date-time string, so they go in `x-minimum` / `x-maximum` (inclusive, in the field's JSON form)
    and, in words, in the description."""
    words = []
    if f.min is not None:
        schema["x-minimum"] = ftype.show_bound(f, f.min)
        words.append(f"on or after {schema['x-minimum']}")
    if f.max is not None:
        schema["x-maximum"] = ftype.show_bound(f, f.max)
        words.append(f"on or before {schema['x-maximum']}")
    if words:
        schema["description"] = f"{what} {' and '.join(words)}"
    return schema


def _is_date(text: str) -> bool:
    try:
        parse_date_text(text)
    except ValueError:
        return False
    return True


def number_value(raw: Any, form: str) -> Decimal:
    """The number a JSON value (or text) gives in the one accepted form; `ValueError` naming `form`
    otherwise. `Decimal`s come from the engine itself (defaults, stored values) and pass as they are."""
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise ValueError("expected a finite number")
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Decimal(raw)
    if isinstance(raw, float):
        return parse_json_number(raw)
    if isinstance(raw, str):
        try:
            return parse_number_text(raw)
        except ValueError:
            pass
    raise ValueError(f"expected {form}, got {_shown(raw)}")


def _shown(raw: Any) -> str:
    if isinstance(raw, str):
        return f"'{raw[:40]}'"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if raw is None:
        return "null"
    if isinstance(raw, dict):
        return "an object"
    if isinstance(raw, list):
        return "a list"
    return repr(raw)[:40]
