"""Every function and operator, on both backends, against the same records (and expected values)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from engine.expr import SPECIAL_FORMS
from tests.expr.support import FUNCTIONS, NOW, Backends, python_values

DEALS: list[dict[str, Any]] = [
    {
        "amount": Decimal("150000.00"),
        "discount": Decimal("0.2500"),
        "qty": 3,
        "name": "Big Deal GmbH",
        "stage": "won",
        "won": True,
        "close_date": date(2026, 1, 31),
        "touched_at": datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        "account": {"industry": "manufacturing", "size": 50},
        "lines": [
            {"qty": 2, "unit_price": Decimal("10.50"), "kind": "call", "at": NOW},
            {"qty": 1, "unit_price": Decimal("3.33"), "kind": "mail", "at": None},
            {"qty": None, "unit_price": Decimal("-1.00"), "kind": "call", "at": datetime(2025, 1, 1, tzinfo=UTC)},
        ],
    },
    {"amount": Decimal("-0.05"), "discount": Decimal("0"), "qty": 0, "name": "  ", "stage": "lost", "won": False},
    {"name": "Ärger ÉCOLE straße", "stage": "", "close_date": date(1, 1, 1), "qty": -7, "amount": Decimal("2.50")},
]

# (expression, expected Python/SQL values for the three deals)
CASES: list[tuple[str, list[Any]]] = [
    ("amount > 100000", [True, False, False]),
    ("amount / 3", [Decimal("50000"), Decimal("-0.0166666667"), Decimal("0.8333333333")]),
    ("amount / qty", [Decimal("50000"), None, Decimal("-0.3571428571")]),
    ("amount * discount", [Decimal("37500"), 0, None]),
    ("amount + qty - 1", [Decimal("150002"), Decimal("-1.05"), Decimal("-5.5")]),
    ("-amount", [Decimal("-150000"), Decimal("0.05"), Decimal("-2.5")]),
    ("discount > 20%", [True, False, None]),
    ("qty > 1 and won", [True, False, False]),
    ("qty > 1 or won", [True, False, None]),
    ("not won", [False, True, None]),
    ("won && !(qty < 0) || stage = 'lost'", [True, True, False]),
    ("stage in ('won', 'lost')", [True, True, False]),
    ("stage not in ['won']", [False, True, True]),
    ("qty in [3, null]", [True, None, None]),
    ("qty not in [3, null]", [False, None, None]),
    ("qty in []", [False, False, False]),
    ("name < 'B'", [False, True, False]),
    ("name > 'Big'", [True, False, True]),
    ("name + '!'", ["Big Deal GmbH!", "  !", "Ärger ÉCOLE straße!"]),
    ("if(won, 'yes', 'no')", ["yes", "no", "no"]),
    ("if(qty > 0, amount, null)", [Decimal("150000"), None, None]),
    ("account.industry = 'manufacturing'", [True, None, None]),
    ("account.size * 2", [100, None, None]),
    ("today()", [NOW.date()] * 3),
    ("now()", [NOW] * 3),
    ("date('2026-01-31') = close_date", [True, None, False]),
    ("date(touched_at)", [date(2026, 3, 1), None, None]),
    ("datetime('2026-03-15T11:30:00+01:00') = now()", [True] * 3),
    ("days_between(close_date, today())", [43, None, 739689]),
    ("days_between(touched_at, now())", [14, None, None]),
    ("add_days(close_date, 30)", [date(2026, 3, 2), None, date(1, 1, 31)]),
    ("add_days(close_date, -1)", [date(2026, 1, 30), None, None]),
    ("add_days(touched_at, 1.9)", [datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC), None, None]),
    ("add_days(close_date, 99999999)", [None, None, None]),
    ("date_trunc('year', close_date)", [date(2026, 1, 1), None, date(1, 1, 1)]),
    ("date_trunc('quarter', touched_at)", [datetime(2026, 1, 1, tzinfo=UTC), None, None]),
    ("date_trunc('month', close_date)", [date(2026, 1, 1), None, date(1, 1, 1)]),
    ("date_trunc('week', close_date)", [date(2026, 1, 26), None, date(1, 1, 1)]),
    ("date_trunc('day', touched_at)", [datetime(2026, 3, 1, tzinfo=UTC), None, None]),
    ("year(close_date)", [2026, None, 1]),
    ("month(touched_at)", [3, None, None]),
    ("len(name)", [13, 2, 18]),
    ("lower(name)", ["big deal gmbh", "  ", "Ärger École straße"]),
    ("upper(name)", ["BIG DEAL GMBH", "  ", "ÄRGER ÉCOLE STRAßE"]),
    ("contains(name, 'Deal')", [True, False, False]),
    ("contains(name, '')", [True, True, True]),
    ("starts_with(name, 'Ä')", [False, False, True]),
    ("round(amount / 7, 2)", [Decimal("21428.57"), Decimal("-0.01"), Decimal("0.36")]),
    ("round(-2.5)", [-3] * 3),
    ("round(amount)", [150000, 0, 3]),
    ("abs(amount)", [Decimal("150000"), Decimal("0.05"), Decimal("2.5")]),
    ("min(amount, qty)", [3, Decimal("-0.05"), -7]),
    ("max(amount, qty, 1)", [150000, 1, Decimal("2.5")]),
    ("min(name, stage)", ["Big Deal GmbH", "  ", ""]),
    ("max(close_date, date('2000-01-01'))", [date(2026, 1, 31), None, date(2000, 1, 1)]),
    ("coalesce(discount, amount, 0)", [Decimal("0.25"), 0, Decimal("2.5")]),
    ("coalesce(account.industry, 'none')", ["manufacturing", "none", "none"]),
    ("is_blank(name)", [False, True, False]),
    ("is_blank(close_date)", [False, True, False]),
    ("count(lines)", [3, 0, 0]),
    ("count(lines, l.kind = 'call')", [2, 0, 0]),
    ("sum(lines, l.qty * l.unit_price)", [Decimal("24.33"), 0, 0]),
    ("sum(lines as x, x.unit_price, x.unit_price > 0)", [Decimal("13.83"), 0, 0]),
    ("avg(lines, l.unit_price)", [Decimal("4.2766666667"), None, None]),
    ("avg(lines, l.qty)", [Decimal("1.5"), None, None]),
    ("min(lines, l.kind)", ["call", None, None]),
    ("max(lines, l.at)", [NOW, None, None]),
    ("min(lines, l.unit_price * 2)", [Decimal("-2"), None, None]),
    ("max(lines, l.qty / 3)", [Decimal("0.6666666667"), None, None]),
    ("count(lines, l.unit_price > amount / 100000)", [2, 0, 0]),
]

COVERED = {name for text, _ in CASES for name in (*FUNCTIONS.names(), *SPECIAL_FORMS) if f"{name}(" in text}


def test_every_function_is_covered_here() -> None:
    missing = {*FUNCTIONS.names(), *SPECIAL_FORMS} - COVERED - {"changed", "previous"}
    assert not missing


@pytest.fixture
def loaded(backends: Backends) -> tuple[Backends, list[Any]]:
    return backends, backends.load(DEALS)


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_python_and_sql_agree(loaded: tuple[Backends, list[Any]], text: str, expected: list[Any]) -> None:
    backends, records = loaded
    python = python_values(text, records)
    sql = backends.sql_values(text)
    assert python == expected
    assert sql == expected
    assert [type(v) for v in sql] == [type(v) for v in python] or all(
        isinstance(v, int | Decimal) or v is None for v in [*sql, *python]
    )


def test_where_clause_selects_the_same_rows(loaded: tuple[Backends, list[Any]]) -> None:
    backends, records = loaded
    for text in ("qty > 1 or won", "not won", "discount > 20%", "count(lines) = 0", "stage in ('won', 'lost')"):
        expected = [i for i, v in enumerate(python_values(text, records), start=1) if v is True]
        assert backends.sql_where(text) == expected, text
