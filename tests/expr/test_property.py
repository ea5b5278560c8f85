"""Random well-typed expressions over random records give the same result in Python and in SQL
(SQLite and PostgreSQL): nulls, exact decimals, division by zero, dates, text order included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expr import check, parse, to_python, to_sql
from tests.expr.support import DEAL_SCOPE, FUNCTIONS, NOW, Backends

TEXT = st.text(alphabet="abAB z_äÄéß€😀", max_size=6)
MONEY = st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def number_literal() -> st.SearchStrategy[str]:
    return st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False).map(
        lambda d: f"({d})" if d < 0 else str(d)
    ) | st.sampled_from(["0", "1", "3", "7", "0.5", "20%"])


NUMBER_LEAVES = st.sampled_from(["amount", "discount", "qty", "account.size", "count(lines)"]) | number_literal()
TEXT_LEAVES = st.sampled_from(["name", "stage", "account.industry"]) | TEXT.map(quote)
DATE_LEAVES = st.sampled_from(["close_date", "today()", "date('2024-02-29')", "date(touched_at)"])
DATETIME_LEAVES = st.sampled_from(["touched_at", "now()", "datetime('2026-03-15T10:30:00Z')", "max(lines, l.at)"])


def numbers(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return NUMBER_LEAVES
    sub = numbers(depth - 1)
    return st.one_of(
        NUMBER_LEAVES,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        sub.map(lambda a: f"-{a}"),
        st.tuples(sub, st.integers(0, 4)).map(lambda t: f"round({t[0]}, {t[1]})"),
        sub.map(lambda a: f"abs({a})"),
        st.tuples(st.sampled_from(["min", "max", "coalesce"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(booleans(depth - 1), sub, sub).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        texts(depth - 1).map(lambda a: f"len({a})"),
        dates(depth - 1).map(lambda a: f"year({a})"),
        st.tuples(dates(depth - 1), dates(depth - 1)).map(lambda t: f"days_between({t[0]}, {t[1]})"),
        st.sampled_from(
            [
                "sum(lines, l.qty * l.unit_price)",
                "sum(lines, l.unit_price / 3)",
                "avg(lines, l.unit_price)",
                "min(lines, l.unit_price - l.qty)",
                "count(lines, l.kind = 'a')",
            ]
        ),
    )


def texts(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return TEXT_LEAVES
    sub = texts(depth - 1)
    return st.one_of(
        TEXT_LEAVES,
        st.tuples(sub, sub).map(lambda t: f"({t[0]} + {t[1]})"),
        st.tuples(st.sampled_from(["lower", "upper"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["min", "max", "coalesce"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(booleans(depth - 1), sub, sub).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
    )


def dates(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return DATE_LEAVES
    sub = dates(depth - 1)
    return st.one_of(
        DATE_LEAVES,
        st.tuples(sub, numbers(0)).map(lambda t: f"add_days({t[0]}, {t[1]})"),
        st.tuples(st.sampled_from(["year", "quarter", "month", "week", "day"]), sub).map(
            lambda t: f"date_trunc('{t[0]}', {t[1]})"
        ),
        st.tuples(st.sampled_from(["min", "max", "coalesce"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    )


def booleans(depth: int) -> st.SearchStrategy[str]:
    compare = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
    leaves = st.one_of(
        st.sampled_from(["won", "true", "false", "null", "is_blank(name)", "is_blank(amount)"]),
        st.tuples(numbers(min(depth, 1)), compare, numbers(min(depth, 1))).map(" ".join),
        st.tuples(texts(min(depth, 1)), compare, texts(min(depth, 1))).map(" ".join),
        st.tuples(dates(min(depth, 1)), compare, dates(min(depth, 1))).map(" ".join),
        st.tuples(DATETIME_LEAVES, compare, DATETIME_LEAVES).map(" ".join),
        st.tuples(texts(0), st.sampled_from(["contains", "starts_with"]), texts(0)).map(
            lambda t: f"{t[1]}({t[0]}, {t[2]})"
        ),
        st.tuples(
            numbers(0), st.sampled_from(["in", "not in"]), st.lists(number_literal() | st.just("null"), max_size=3)
        ).map(lambda t: f"{t[0]} {t[1]} [{', '.join(t[2])}]"),
        st.tuples(texts(0), st.sampled_from(["in", "not in"]), st.lists(TEXT.map(quote), max_size=3)).map(
            lambda t: f"{t[0]} {t[1]} [{', '.join(t[2])}]"
        ),
    )
    if depth == 0:
        return leaves
    sub = booleans(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(sub, st.sampled_from(["and", "or", "&&", "||"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        sub.map(lambda a: f"not {a}"),
        st.tuples(sub, sub, sub).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
    )


EXPRESSIONS = st.one_of(numbers(2), texts(2), dates(2), booleans(2))

DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
MOMENTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
LINES = st.fixed_dictionaries(
    {
        "qty": maybe(st.integers(-1000, 1000)),
        "unit_price": maybe(MONEY),
        "kind": maybe(st.sampled_from(["a", "b"])),
        "at": maybe(MOMENTS),
    }
)
DEALS = st.fixed_dictionaries(
    {
        "amount": maybe(MONEY),
        "discount": maybe(st.decimals(min_value=-1, max_value=1, places=4, allow_nan=False, allow_infinity=False)),
        "qty": maybe(st.integers(-(10**9), 10**9)),
        "name": maybe(TEXT),
        "stage": maybe(st.sampled_from(["", "won", "lost", "Won"])),
        "won": maybe(st.booleans()),
        "close_date": maybe(DAYS),
        "touched_at": maybe(MOMENTS | st.just(NOW + timedelta(microseconds=1))),
        "account": maybe(st.fixed_dictionaries({"industry": maybe(TEXT), "size": maybe(st.integers(-50, 50))})),
        "lines": st.lists(LINES, max_size=3),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(EXPRESSIONS, min_size=1, max_size=4), deals=st.lists(DEALS, min_size=1, max_size=4))
def test_python_and_sql_agree_on_random_expressions(backends: Backends, texts: list[str], deals: list[Any]) -> None:
    records = backends.load(deals)
    typed = [check(parse(t), DEAL_SCOPE, FUNCTIONS, sql=True) for t in texts]
    columns = [to_sql(t, backends.scope, clock=lambda: NOW) for t in typed]
    with backends.db.read() as conn:
        rows = conn.execute(sa.select(*columns).select_from(backends.deal).order_by(backends.deal.c.id)).all()
    for i, t in enumerate(typed):
        python = [to_python(t, clock=lambda: NOW)(r) for r in records]
        sql = [row[i] for row in rows]
        assert sql == python, f"{texts[i]}: SQL {sql} != Python {python}"
        for p, s in zip(python, sql, strict=True):
            assert (p is None) == (s is None)
            if isinstance(p, Decimal | int) and not isinstance(p, bool):
                assert Decimal(p) == Decimal(s)
