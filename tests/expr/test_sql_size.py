"""The SQL of an expression grows with the expression, never exponentially with its nesting.

A construct whose SQL uses an operand several times (PostgreSQL's exact division uses each side
four times, `min(a, b)` both sides three times) once made ten nested divisions a 40 MB statement
that took minutes to build: a filter within every limit that held a worker and the GIL. Operands
that are more than a column or a parameter are now computed once, in a subquery.
"""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.expr import Limits, check, parse, to_sql
from engine.expr.testing import DictRecord, TableScope
from tests.expr.support import DEAL_SCOPE, FUNCTIONS, Backends, python_values, tables
from tests.expr.test_backends import DEALS

#: name -> (start, one level of nesting around `{x}`); each level uses `{x}` once.
NESTINGS = {
    "division": ("amount", "({x} / 1.5)"),
    "min": ("amount", "min({x}, 7)"),
    "max of three": ("amount", "max({x}, 2, qty)"),
    "in": ("amount", "if({x} in [1, 2.5, 3], amount, qty)"),
    "add_days": ("close_date", "add_days({x}, qty)"),
    "starts_with": ("name", "if(starts_with('Big Deal', {x}), 'Big', 'B')"),
    "is_blank": ("name", "if(is_blank({x}), name, '  ')"),
    "avg": ("amount", "avg(lines, l.unit_price) + {x}"),
    "min over a lookup": ("account.size", "min({x}, qty, 7)"),
    "in over a collection": ("count(lines)", "if({x} in [3, 0], qty, 1)"),
    "sum of divisions": ("qty", "sum(lines, l.unit_price / 3) / ({x} + 1)"),
}
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def nested(name: str, depth: int) -> str:
    text, level = NESTINGS[name]
    for _ in range(depth):
        text = level.format(x=text)
    return text


def sql_size(text: str, dialect: str) -> int:
    account, deal, line = tables(sa.MetaData())
    scope = TableScope(
        deal,
        dialect,
        related={"account": ("account_id", TableScope(account, dialect))},
        collections={"lines": (TableScope(line, dialect), "deal_id")},
    )
    typed = check(parse(text), DEAL_SCOPE, FUNCTIONS, sql=True, limits=Limits())
    return len(str(to_sql(typed, scope).compile(dialect=DIALECTS[dialect])))


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("name", sorted(NESTINGS))
def test_each_level_of_nesting_adds_about_the_same_sql(name: str, dialect: str) -> None:
    sizes = [sql_size(nested(name, depth), dialect) for depth in (1, 2, 3, 4, 5, 6)]
    steps = [b - a for a, b in itertools.pairwise(sizes)]
    assert max(steps) <= 1.5 * min(steps), (name, dialect, sizes)


def test_ten_nested_divisions_are_a_small_statement_on_postgresql() -> None:
    assert sql_size("amount" + " / 1.5" * 10 + " > 0", "postgresql") < 10_000


@pytest.fixture
def loaded(backends: Backends) -> tuple[Backends, list[DictRecord]]:
    return backends, backends.load(DEALS)


@pytest.mark.parametrize("name", sorted(NESTINGS))
def test_nested_forms_give_the_same_values_in_python_and_sql(
    name: str, loaded: tuple[Backends, list[DictRecord]]
) -> None:
    backends, records = loaded
    text = nested(name, 3)
    assert backends.sql_values(text) == python_values(text, records), text
