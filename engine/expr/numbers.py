"""Exact decimal arithmetic, defined once and shared by the Python backend and the SQLite functions.

`+ - *` are exact. Division rounds half away from zero to `DIVISION_SCALE` places and gives null
when dividing by zero. `round(x, n)` rounds half away from zero. PostgreSQL computes the same
results with NUMERIC (see `engine.expr.sql`).
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation

#: Decimal places of a quotient.
DIVISION_SCALE = 10
#: Digits a stored decimal holds (NUMERIC(18, scale); on SQLite the scaled value fits 64 bits).
STORED_DIGITS = 18
#: A context in which addition, subtraction and multiplication never round.
EXACT = Context(
    prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero]
)


def to_decimal(value: Decimal | int | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def places(value: Decimal) -> int:
    """Decimal places written in a literal (`1.50` -> 2, `100` -> 0)."""
    exp = value.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def add(a: Decimal | int, b: Decimal | int) -> Decimal:
    return EXACT.add(a, b)


def sub(a: Decimal | int, b: Decimal | int) -> Decimal:
    return EXACT.subtract(a, b)


def mul(a: Decimal | int, b: Decimal | int) -> Decimal:
    return EXACT.multiply(a, b)


def div(a: Decimal | int, b: Decimal | int, scale: int = DIVISION_SCALE) -> Decimal | None:
    """`a / b` rounded half away from zero to `scale` places; None when `b` is zero."""
    if b == 0:
        return None
    na, da = to_decimal(a).as_integer_ratio()
    nb, db = to_decimal(b).as_integer_ratio()
    num, den = na * db * 10**scale, da * nb
    q, r = divmod(abs(num), abs(den))
    if 2 * r >= abs(den):
        q += 1
    if (num < 0) != (den < 0):
        q = -q
    return Decimal(q).scaleb(-scale, EXACT)


def round_half_up(a: Decimal | int, digits: int) -> Decimal:
    return EXACT.quantize(to_decimal(a), Decimal(1).scaleb(-digits))


def fit_places(value: Decimal | int, places: int) -> Decimal | None:
    """A number as a column of `places` decimal places holds it: rounded half away from zero;
    None when it needs more than `STORED_DIGITS` digits (no stored column could hold it)."""
    rounded = EXACT.quantize(to_decimal(value), Decimal(1).scaleb(-places))
    if rounded.is_zero():
        return rounded.copy_abs()  # -0.004 is stored as 0.00, as the databases hold it
    return rounded if abs(rounded) < Decimal(10) ** (STORED_DIGITS - places) else None


def scaled_to_decimal(value: int, scale: int) -> Decimal:
    """The number a scaled integer stands for: `12345, 2` -> `123.45`."""
    return Decimal(value).scaleb(-scale, EXACT)
