"""The built-in functions: type rule, Python implementation and SQL implementation side by side."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from engine.errors import ExprError
from engine.expr.ast import Call
from engine.expr.formats import parse_date_text, parse_moment_text
from engine.expr.functions import FunctionDef, FunctionRegistry, arity, common_kind, literal_arg, want
from engine.expr.numbers import round_half_up
from engine.expr.sqlvalue import SqlContext, SqlValue, UtcMoment, as_date
from engine.expr.typed import Out, TLiteral, Typed
from engine.expr.types import Kind

N, T, B, D, DT = Kind.NUMBER, Kind.TEXT, Kind.BOOLEAN, Kind.DATE, Kind.DATETIME
Args = Sequence[Typed]
SArgs = Sequence[SqlValue]
TRUNC_UNITS = ("year", "quarter", "month", "week", "day")
#: Days between 0001-01-01 and 9999-12-31: a larger step always leaves the date range.
MAX_DAYS = 3652058
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _nullable(args: Args) -> bool:
    return any(a.out.nullable for a in args)


def _sig(name: str, kinds: Sequence[Sequence[Kind]], result: Kind, scale: int = 0) -> Any:
    """A fixed signature: argument i has one of kinds[i]; the result is `result`."""

    def check(args: Args, call: Call) -> Out:
        arity(name, args, call, len(kinds))
        for i, allowed in enumerate(kinds):
            want(name, args, i, *allowed)
        return Out(result, _nullable(args), scale)

    return check


def _whole(v: SqlValue, bound: int) -> SqlValue:
    return SqlValue(v.expr, N, 0, bound=bound)


# --- dates -------------------------------------------------------------------------------------


def _date_check(args: Args, call: Call) -> Out:
    arity("date", args, call, 1)
    arg = want("date", args, 0, T, DT)
    if arg.kind is T:
        text = literal_arg("date", args, 0, "a date like '2026-01-31'")
        try:
            parse_date_text(text)
        except ValueError:
            raise ExprError(f"{text!r} is not a date like '2026-01-31'", col=arg.col, code="expr.type") from None
    return Out(D, arg.out.nullable)


def _date_py(value: str | datetime) -> date:
    return parse_date_text(value) if isinstance(value, str) else as_date(value)


def _date_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    lit = typed[0]
    if isinstance(lit, TLiteral) and isinstance(lit.value, str):
        return ctx.literal(parse_date_text(lit.value), D)
    return SqlValue(ctx.utc_date(args[0]), D)


def _parse_moment(text: str) -> datetime:
    moment = parse_moment_text(text)
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(UTC)


def _datetime_check(args: Args, call: Call) -> Out:
    arity("datetime", args, call, 1)
    text = literal_arg("datetime", args, 0, "a time like '2026-01-31T09:30:00Z'")
    try:
        _parse_moment(str(text))
    except ValueError:
        raise ExprError(
            f"{text!r} is not a time like '2026-01-31T09:30:00Z'", col=args[0].col, code="expr.type"
        ) from None
    return Out(DT, nullable=False)


def _datetime_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    lit = typed[0]
    assert isinstance(lit, TLiteral) and isinstance(lit.value, str)
    return ctx.literal(_parse_moment(lit.value), DT)


def _days_between_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    a, b = (ctx.utc_date(v) for v in args)
    diff: Any = sa.cast(ctx.call("julianday", b) - ctx.call("julianday", a), sa.Integer()) if ctx.sqlite else b - a
    return SqlValue(diff, N, 0, bound=MAX_DAYS + 1)


def _add_days_py(d: date | datetime, n: Decimal | int) -> date | datetime | None:
    days = int(n)
    if abs(days) > MAX_DAYS:
        return None
    try:
        return d + timedelta(days=days)
    except OverflowError:
        return None


def _add_days_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    d, n = args
    if ctx.sqlite:
        return SqlValue(ctx.call("lw_add_days", d.expr, ctx.as_text(n), d.kind is DT, type_=d.expr.type), d.kind)
    return ctx.shared([d, n], lambda d, n: _pg_add_days(ctx, d, n))


def _pg_add_days(ctx: SqlContext, d: SqlValue, n: SqlValue) -> SqlValue:
    days = sa.cast(ctx.call("trunc", ctx.numeric(n)), sa.Numeric())
    first, last = ctx.literal(date(1, 1, 1), D).expr, ctx.literal(date(9999, 12, 31), D).expr
    start = ctx.utc_date(d)
    fits = sa.and_(sa.func.abs(days) <= MAX_DAYS, days >= first - start, days <= last - start)
    step = sa.cast(days, sa.Integer())
    if d.kind is D:
        moved: Any = d.expr + step
    else:
        wall = ctx.call("timezone", "UTC", d.expr) + sa.func.make_interval(0, 0, 0, step)
        moved = ctx.call("timezone", "UTC", wall, type_=UtcMoment())
    return SqlValue(sa.case((fits, moved), else_=sa.null()), d.kind)


def _add_days_check(args: Args, call: Call) -> Out:
    arity("add_days", args, call, 2)
    want("add_days", args, 1, N)
    return Out(want("add_days", args, 0, D, DT).kind, nullable=True)


def _trunc_check(args: Args, call: Call) -> Out:
    arity("date_trunc", args, call, 2)
    unit = literal_arg("date_trunc", args, 0, f"one of {', '.join(TRUNC_UNITS)}")
    if unit not in TRUNC_UNITS:
        raise ExprError(f"date_trunc() unit must be one of {', '.join(TRUNC_UNITS)}", col=args[0].col, code="expr.type")
    arg = want("date_trunc", args, 1, D, DT)
    return Out(arg.kind, arg.out.nullable)


def date_trunc(unit: str, d: date | datetime) -> date | datetime:
    """The start of the year/quarter/month/week (Monday)/day holding `d` (datetimes in UTC)."""
    day = as_date(d)
    if unit == "year":
        day = day.replace(month=1, day=1)
    elif unit == "quarter":
        day = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    elif unit == "month":
        day = day.replace(day=1)
    elif unit == "week":
        day = day - timedelta(days=day.weekday())
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if isinstance(d, datetime) else day


def _trunc_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    unit, d = typed[0], args[1]
    assert isinstance(unit, TLiteral)
    if ctx.sqlite:
        return SqlValue(ctx.call("lw_date_trunc", unit.value, d.expr, d.kind is DT, type_=d.expr.type), d.kind)
    if d.kind is D:
        return SqlValue(sa.cast(ctx.call("date_trunc", unit.value, d.expr), sa.Date()), D)
    wall = ctx.call("date_trunc", unit.value, ctx.call("timezone", "UTC", d.expr))
    return SqlValue(ctx.call("timezone", "UTC", wall, type_=UtcMoment()), DT)


def _part_sql(part: str) -> Any:
    def sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
        day = ctx.utc_date(args[0])
        if ctx.sqlite:
            fmt = "%Y" if part == "year" else "%m"
            return _whole(SqlValue(sa.cast(ctx.call("strftime", fmt, day), sa.Integer()), N), 10000)
        return _whole(SqlValue(sa.cast(sa.extract(part, day), sa.Integer()), N), 10000)

    return sql


# --- text --------------------------------------------------------------------------------------


def _text_sql(name: str) -> Any:
    def sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
        # SQLite's own lower/upper and PostgreSQL's under COLLATE "C" change ASCII letters only.
        return SqlValue(ctx.call(name, ctx.collate(args[0].expr), type_=sa.String()), T)

    return sql


def _len_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    name = "length" if ctx.sqlite else "char_length"
    return _whole(SqlValue(ctx.call(name, args[0].expr, type_=sa.Integer()), N), 2**62)


def _contains_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    name = "instr" if ctx.sqlite else "strpos"
    return SqlValue(ctx.call(name, args[0].expr, args[1].expr, type_=sa.Integer()) > 0, B)


def _starts_with_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    # The first occurrence is at the start exactly when the text starts with it (each side used once).
    name = "instr" if ctx.sqlite else "strpos"
    return SqlValue(ctx.call(name, args[0].expr, args[1].expr, type_=sa.Integer()) == 1, B)


def _text_case(name: str) -> Any:
    def check(args: Args, call: Call) -> Out:
        arity(name, args, call, 1)
        arg = want(name, args, 0, T)
        return Out(T, arg.out.nullable, length=arg.out.length)

    return check


# --- numbers -----------------------------------------------------------------------------------


def _round_check(args: Args, call: Call) -> Out:
    arity("round", args, call, 1, 2)
    arg = want("round", args, 0, N)
    digits = literal_arg("round", args, 1, "a whole number of places from 0 to 18") if len(args) == 2 else Decimal(0)
    if not isinstance(digits, Decimal) or digits != digits.to_integral_value() or not 0 <= digits <= 18:
        raise ExprError("round() places must be a whole number from 0 to 18", col=args[1].col, code="expr.type")
    return Out(N, arg.out.nullable, int(digits))


def _round_py(x: Decimal | int, digits: Decimal = Decimal(0)) -> Decimal:
    return round_half_up(x, int(digits))


def _round_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    digits = typed[1].value if len(typed) == 2 and isinstance(typed[1], TLiteral) else Decimal(0)
    assert isinstance(digits, Decimal)
    n = int(digits)
    if ctx.sqlite:
        return ctx.text_number(ctx.call("lw_round", ctx.as_text(args[0]), n, type_=sa.String()), n)
    return SqlValue(ctx.call("round", ctx.numeric(args[0]), n, type_=sa.Numeric()), N, n)


def _abs_check(args: Args, call: Call) -> Out:
    arity("abs", args, call, 1)
    arg = want("abs", args, 0, N)
    return Out(N, arg.out.nullable, arg.out.scale)


def _abs_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    v = args[0]
    if ctx.sqlite and v.text:
        return ctx.text_number(ctx.call("lw_abs", v.expr, type_=sa.String()), v.scale)
    return SqlValue(ctx.call("abs", v.expr, type_=v.expr.type), N, v.scale, bound=v.bound)


def _extreme_check(name: str) -> Any:
    def check(args: Args, call: Call) -> Out:
        arity(name, args, call, 2, 10)
        out = common_kind(name, args)
        if out.kind not in (N, T, D, DT, Kind.NULL):
            raise ExprError(
                f"{name}() compares numbers, text or dates, got {out.shown}", col=args[0].col, code="expr.type"
            )
        return Out(out.kind, _nullable(args), out.scale, out.length, label=args[0].out.label)

    return check


def _extreme_sql(pick_first_if: str) -> Any:
    def pick(ctx: SqlContext, *values: SqlValue) -> SqlValue:
        # The first value that beats every later one is the first extreme, as Python's min/max.
        any_null = sa.or_(*(v.expr.is_(None) for v in values))
        whens: list[tuple[Any, Any]] = [(any_null, sa.null())]
        for i, v in enumerate(values[:-1]):
            whens.append((sa.and_(*(ctx.compare(pick_first_if, v, w) for w in values[i + 1 :])), v.expr))
        bounds = [v.bound for v in values]
        bound = None if None in bounds else max(b for b in bounds if b is not None)
        head = values[0]
        return SqlValue(sa.case(*whens, else_=values[-1].expr), head.kind, head.scale, head.text, bound)

    def sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
        return ctx.shared(ctx.unify(args), lambda *values: pick(ctx, *values))

    return sql


def _coalesce_py(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _coalesce_check(args: Args, call: Call) -> Out:
    arity("coalesce", args, call, 2, 10)
    return common_kind("coalesce", args)


def _coalesce_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    values = ctx.unify(args)
    bounds = [v.bound for v in values]
    bound = None if None in bounds else max(b for b in bounds if b is not None)
    head = values[0]
    return SqlValue(sa.func.coalesce(*(v.expr for v in values)), head.kind, head.scale, head.text, bound)


def is_blank(value: Any) -> bool:
    """Null, text of spaces only, or an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip(" ") == ""
    return isinstance(value, list | tuple) and len(value) == 0


def _is_blank_check(args: Args, call: Call) -> Out:
    arity("is_blank", args, call, 1)
    return Out(B, nullable=False)


def _is_blank_sql(ctx: SqlContext, args: SArgs, typed: Args) -> SqlValue:
    v = args[0]
    if v.kind is T:  # null or spaces only; the value is used once
        return SqlValue(ctx.call("trim", sa.func.coalesce(v.expr, ""), type_=sa.String()) == "", B)
    return SqlValue(v.expr.is_(None), B)


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def _now(now: datetime) -> datetime:
    return now


def _days_between(a: date | datetime, b: date | datetime) -> Decimal:
    return Decimal((as_date(b) - as_date(a)).days)


_SPECS: list[tuple[str, str, str, str, Any, Any, Any]] = [
    # (name, signature, summary, example, check, python, sql)
    ("today", "today() -> date", "The current date (UTC).", "close_date < today()",
     _sig("today", [], D), _today, lambda c, a, t: c.today()),
    ("now", "now() -> datetime", "The current time (UTC).", "due_at < now()",
     _sig("now", [], DT), _now, lambda c, a, t: c.now()),
    ("date", "date(text literal | datetime) -> date", "A date literal, or the UTC date of a datetime.",
     "close_date >= date('2026-01-31')", _date_check, _date_py, _date_sql),
    ("datetime", "datetime(text literal) -> datetime", "A time literal (ISO 8601; UTC unless a zone is given).",
     "created_at >= datetime('2026-01-31T09:30:00Z')", _datetime_check, _parse_moment, _datetime_sql),
    ("days_between", "days_between(a: date|datetime, b: date|datetime) -> number",
     "Calendar days from a to b (UTC dates; negative when b is earlier).",
     "days_between(last_activity_at, now()) >= 14",
     _sig("days_between", [(D, DT), (D, DT)], N), _days_between, _days_between_sql),
    ("add_days", "add_days(d: date|datetime, n: number) -> date|datetime",
     "d moved by n days (n truncated to a whole number); null outside years 1-9999.",
     "add_days(close_date, 30) > today()", _add_days_check, _add_days_py, _add_days_sql),
    ("date_trunc", "date_trunc(unit, d: date|datetime) -> date|datetime",
     "Start of the year, quarter, month, week (Monday) or day holding d; unit is written literally.",
     "date_trunc('month', close_date) = date('2026-01-01')", _trunc_check, date_trunc, _trunc_sql),
    ("year", "year(d: date|datetime) -> number", "The year of d (UTC).", "year(close_date) = 2026",
     _sig("year", [(D, DT)], N), lambda d: Decimal(as_date(d).year), _part_sql("year")),
    ("month", "month(d: date|datetime) -> number", "The month of d, 1-12 (UTC).",
     "month(close_date) in [1, 2, 3]", _sig("month", [(D, DT)], N), lambda d: Decimal(as_date(d).month),
     _part_sql("month")),
    ("len", "len(t: text) -> number", "Number of characters (code points) in t.", "len(name) > 3",
     _sig("len", [(T,)], N), lambda s: Decimal(len(s)), _len_sql),
    ("lower", "lower(t: text) -> text", "t with ASCII letters A-Z in lower case (others unchanged).",
     "lower(region) = 'east'", _text_case("lower"), lambda s: s.translate(_ASCII_LOWER), _text_sql("lower")),
    ("upper", "upper(t: text) -> text", "t with ASCII letters a-z in upper case (others unchanged).",
     "upper(code) = 'EU'", _text_case("upper"), lambda s: s.translate(_ASCII_UPPER), _text_sql("upper")),
    ("contains", "contains(t: text, part: text) -> boolean", "Whether part occurs in t (case-sensitive).",
     "contains(name, 'GmbH')", _sig("contains", [(T,), (T,)], B), lambda s, p: p in s, _contains_sql),
    ("starts_with", "starts_with(t: text, prefix: text) -> boolean", "Whether t begins with prefix (case-sensitive).",
     "starts_with(phone, '+49')", _sig("starts_with", [(T,), (T,)], B), lambda s, p: s.startswith(p),
     _starts_with_sql),
    ("round", "round(x: number, places = 0) -> number", "x rounded half away from zero to places (0-18, literal).",
     "round(amount * 0.19, 2) > 100", _round_check, _round_py, _round_sql),
    ("abs", "abs(x: number) -> number", "The absolute value of x.", "abs(forecast - amount) > 1000",
     _abs_check, abs, _abs_sql),
    ("min", "min(a, b, ...) -> same type",
     "The smallest argument (null if any is null); min(collection, value[, filter]) is the aggregate.",
     "min(discount, 20%) > 10%", _extreme_check("min"), lambda *v: min(v), _extreme_sql("<=")),
    ("max", "max(a, b, ...) -> same type",
     "The largest argument (null if any is null); max(collection, value[, filter]) is the aggregate.",
     "max(amount, forecast) > 100000", _extreme_check("max"), lambda *v: max(v), _extreme_sql(">=")),
    ("coalesce", "coalesce(a, b, ...) -> same type", "The first argument that is not null.",
     "coalesce(discount, 0) > 20%", _coalesce_check, _coalesce_py, _coalesce_sql),
    ("is_blank", "is_blank(x) -> boolean", "True when x is null, text of spaces only, or an empty list.",
     "is_blank(email) and is_blank(phone)", _is_blank_check, is_blank, _is_blank_sql),
]  # fmt: skip
_CLOCKED = ("today", "now")
_NON_STRICT = ("coalesce", "is_blank")


def builtin_functions() -> FunctionRegistry:
    """A registry with every built-in function (a new one each call: registries are not shared)."""
    return FunctionRegistry(
        [FunctionDef(*spec, strict=spec[0] not in _NON_STRICT, clock=spec[0] in _CLOCKED) for spec in _SPECS]
    )
