"""Random well-typed expressions over random records give the same result in Python and in SQL
(SQLite and PostgreSQL): nulls, exact decimals, division by zero, dates, text order included."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expr import check, parse, to_python, to_sql
from engine.expr.numbers import fit_places
from tests.expr.grammar import DAYS, LINES, MOMENTS, MONEY, TEXT, Grammar, maybe, number_literal, quote
from tests.expr.support import DEAL_SCOPE, FUNCTIONS, NOW, Backends

NUMBER_LEAVES = st.sampled_from(["amount", "discount", "qty", "account.size", "count(lines)"]) | number_literal()
TEXT_LEAVES = st.sampled_from(["name", "stage", "account.industry"]) | TEXT.map(quote)
DATE_LEAVES = st.sampled_from(["close_date", "today()", "date('2024-02-29')", "date(touched_at)"])
DATETIME_LEAVES = st.sampled_from(["touched_at", "now()", "datetime('2026-03-15T10:30:00Z')", "max(lines, l.at)"])
DEAL_GRAMMAR = Grammar(
    numbers=NUMBER_LEAVES,
    texts=TEXT_LEAVES,
    dates=DATE_LEAVES,
    datetimes=DATETIME_LEAVES,
    conditions=st.sampled_from(["won", "true", "false", "null", "is_blank(name)", "is_blank(amount)"]),
    aggregates=st.sampled_from(
        [
            "sum(lines, l.qty * l.unit_price)",
            "sum(lines, l.unit_price / 3)",
            "avg(lines, l.unit_price)",
            "min(lines, l.unit_price - l.qty)",
            "count(lines, l.kind = 'a')",
        ]
    ),
)
EXPRESSIONS = DEAL_GRAMMAR.any(2)
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


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(DEAL_GRAMMAR.number(2), min_size=1, max_size=4),
    places=st.integers(0, 6),
    deals=st.lists(DEALS, min_size=1, max_size=4),
)
def test_numbers_fit_a_formula_column_alike(
    backends: Backends, texts: list[str], places: int, deals: list[Any]
) -> None:
    """A number as a formula of `places` places holds it (rounded, null beyond 18 digits), as a
    virtual formula's SQL gives it: the same on both databases as in Python, digit for digit."""
    records = backends.load(deals)
    typed = [check(parse(t), DEAL_SCOPE, FUNCTIONS, sql=True) for t in texts]
    columns = [to_sql(t, backends.scope, clock=lambda: NOW, places=places) for t in typed]
    with backends.db.read() as conn:
        rows = conn.execute(sa.select(*columns).select_from(backends.deal).order_by(backends.deal.c.id)).all()
    for i, t in enumerate(typed):
        run = to_python(t, clock=lambda: NOW)
        python = [None if (v := run(r)) is None else fit_places(v, places) for r in records]
        sql = [row[i] for row in rows]
        assert [None if s is None else str(s) for s in sql] == [None if p is None else str(p) for p in python], (
            f"{texts[i]} at {places} places: SQL {sql} != Python {python}"
        )
