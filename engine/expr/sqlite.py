"""Deterministic functions the SQL backend uses on SQLite, where decimals are scaled integers.

`register_sqlite_functions(dbapi_connection)` must run on every new SQLite connection; each
function computes exactly what `engine.expr.numbers` computes for the Python backend.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.expr import numbers
from engine.expr.builtins import MAX_DAYS, date_trunc

Number = int | str | None


def _dec(value: int | str | float) -> Decimal:
    return Decimal(value) if not isinstance(value, float) else Decimal(repr(value))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _nullsafe(fn: Callable[..., Decimal | None]) -> Callable[..., str | None]:
    def run(*args: Any) -> str | None:
        if any(a is None for a in args):
            return None
        return _text(fn(*(_dec(a) for a in args)))

    return run


def _num(value: int | None, scale: int) -> str | None:
    return None if value is None else str(numbers.scaled_to_decimal(int(value), scale))


def _cmp(a: Number, b: Number) -> int | None:
    if a is None or b is None:
        return None
    x, y = _dec(a), _dec(b)
    return (x > y) - (x < y)


def _order_key(a: Number) -> str | None:
    """Text whose byte order is the numeric order of `a`: sorting and grouping decimal text on SQLite.

    Zero is "1"; a positive number is "2", its magnitude (offset, five digits) and its significant
    digits; a negative one is "0", the magnitude mirrored, the digits' nines' complement and "~"."""
    if a is None:
        return None
    d = _dec(a)
    if d.is_zero():
        return "1"
    sign, digits, exponent = d.normalize(numbers.EXACT).as_tuple()
    assert isinstance(exponent, int)  # finite: SQLite holds no NaN or infinity here
    magnitude = exponent + len(digits)
    if not sign:
        return f"2{50_000 + magnitude:05d}{''.join(map(str, digits))}"
    return f"0{50_000 - magnitude:05d}{''.join(str(9 - x) for x in digits)}~"


def _scaled(a: Number, places: int) -> int | None:
    """A number as the scaled integer a column of `places` places stores (null if it cannot)."""
    if a is None:
        return None
    fitted = numbers.fit_places(_dec(a), int(places))
    return None if fitted is None else int(fitted.scaleb(int(places)))


def _round(a: Number, digits: int) -> str | None:
    return None if a is None else str(numbers.round_half_up(_dec(a), int(digits)))


def _parse_day(text: str, is_datetime: int) -> date | datetime:
    return datetime.fromisoformat(text) if is_datetime else date.fromisoformat(text)


def _show_day(value: date | datetime) -> str:
    return value.isoformat(sep=" ", timespec="microseconds") if isinstance(value, datetime) else value.isoformat()


def _add_days(text: str | None, n: Number, is_datetime: int) -> str | None:
    if text is None or n is None:
        return None
    days = int(_dec(n))
    if abs(days) > MAX_DAYS:
        return None
    try:
        return _show_day(_parse_day(text, is_datetime) + timedelta(days=days))
    except OverflowError:
        return None


def _local_day(text: str | None, zone: str) -> str | None:
    """The calendar day (yyyy-mm-dd) in the IANA time zone `zone` of a moment stored as naive UTC."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date().isoformat()


def _trunc(unit: str, text: str | None, is_datetime: int) -> str | None:
    if text is None:
        return None
    return _show_day(date_trunc(unit, _parse_day(text, is_datetime)))


class _Numbers:
    """Collects non-null numbers of a group (decimal text or integers)."""

    def __init__(self) -> None:
        self.values: list[Decimal] = []

    def step(self, value: Number) -> None:
        if value is not None:
            self.values.append(_dec(value))


class _Sum(_Numbers):
    def finalize(self) -> str:
        total = Decimal(0)
        for v in self.values:
            total = numbers.add(total, v)
        return str(total)


class _Avg(_Numbers):
    def finalize(self) -> str | None:
        if not self.values:
            return None
        total = Decimal(0)
        for v in self.values:
            total = numbers.add(total, v)
        return _text(numbers.div(total, len(self.values)))


class _Min(_Numbers):
    def finalize(self) -> str | None:
        return str(min(self.values)) if self.values else None


class _Max(_Numbers):
    def finalize(self) -> str | None:
        return str(max(self.values)) if self.values else None


def register_sqlite_functions(dbapi_connection: sqlite3.Connection) -> None:
    """Add the expression language's functions to one SQLite connection."""
    scalar: dict[str, tuple[int, Callable[..., Any]]] = {
        "lw_num": (2, _num),
        "lw_add": (2, _nullsafe(numbers.add)),
        "lw_sub": (2, _nullsafe(numbers.sub)),
        "lw_mul": (2, _nullsafe(numbers.mul)),
        "lw_div": (2, _nullsafe(numbers.div)),
        "lw_abs": (1, _nullsafe(abs)),
        "lw_cmp": (2, _cmp),
        "lw_order_key": (1, _order_key),
        "lw_round": (2, _round),
        "lw_scaled": (2, _scaled),
        "lw_add_days": (3, _add_days),
        "lw_date_trunc": (3, _trunc),
        "lw_local_day": (2, _local_day),
    }
    for name, (arity, fn) in scalar.items():
        dbapi_connection.create_function(name, arity, fn, deterministic=True)
    aggregates: dict[str, Any] = {"lw_sum": _Sum, "lw_avg": _Avg, "lw_min": _Min, "lw_max": _Max}
    for name, cls in aggregates.items():
        dbapi_connection.create_aggregate(name, 1, cls)
