"""The compile-time cost model: what an expression costs per row, and the budgets that refuse it."""

from __future__ import annotations

import pytest

from engine.errors import ExprError
from engine.expr import DEFAULT_LIMITS, REQUEST_LIMITS, FieldInfo, Kind, Limits, check, expression_cost, parse
from engine.expr.testing import DictScope
from tests.expr.support import DEAL_SCOPE, FUNCTIONS

#: Ten multiplications: 10 x 10 + the field + the comparison.
CHAIN = "amount" + " * 1" * 10 + " > 0"


def cost(text: str, scope: DictScope = DEAL_SCOPE) -> int:
    return expression_cost(check(parse(text), scope, FUNCTIONS, limits=Limits()))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("qty > 1", 2),  # a field and a comparison; literals are free
        ("stage in ['a', 'b', 'c'] and won", 6),  # each item of `in` is a comparison
        ("account.industry = 'x'", 5),  # a lookup step is a subquery
        ("amount * 2 > 1", 12),
        ("-amount > 1", 12),
        ("name + '!' = 'x!'", 4),
        ("lower(name) = 'x'", 7),
        ("if(won, qty, 0) > 1", 4),
        ("count(lines) > 1", 21),  # 10 for the subquery, 10 assumed items read
        ("sum(lines, l.qty * l.unit_price) > 1", 141),
        ("count(lines, l.kind = 'x') > 1", 41),
    ],
)
def test_the_weights(text: str, expected: int) -> None:
    assert cost(text) == expected


def test_a_formula_computed_in_the_query_costs_what_its_expression_costs_up_to_a_cap() -> None:
    scope = DictScope({"won_value": FieldInfo(Kind.NUMBER, cost=31), "pipeline": FieldInfo(Kind.NUMBER, cost=142)})
    assert cost("won_value > 1", scope) == 33
    # the blueprint's own formula: naming it is always possible, naming several still adds up
    assert cost("pipeline > 1", scope) == 52
    with pytest.raises(ExprError) as err:
        check(parse("pipeline + pipeline > 1"), scope, FUNCTIONS, expected=Kind.BOOLEAN, limits=REQUEST_LIMITS)
    assert err.value.code == "expr.too_costly"


def test_a_chain_of_arithmetic_beyond_the_request_budget_is_refused_naming_the_budget() -> None:
    assert cost(CHAIN) == 102
    with pytest.raises(ExprError) as err:
        check(parse(CHAIN), DEAL_SCOPE, FUNCTIONS, expected=Kind.BOOLEAN, sql=True, limits=REQUEST_LIMITS)
    assert err.value.code == "expr.too_costly"
    assert err.value.col == 1
    assert err.value.message.startswith("a filter may cost at most 100 per row; this one costs 102 ")


def test_a_blueprint_expression_has_the_larger_budget() -> None:
    assert DEFAULT_LIMITS.max_cost is not None and REQUEST_LIMITS.max_cost is not None
    assert DEFAULT_LIMITS.max_cost > REQUEST_LIMITS.max_cost
    assert check(parse(CHAIN), DEAL_SCOPE, FUNCTIONS).kind is Kind.BOOLEAN  # DEFAULT_LIMITS
    nested = "sum(lines, l.qty" + " * l.unit_price" * 10 + ") > 0"
    with pytest.raises(ExprError) as err:
        check(parse(nested), DEAL_SCOPE, FUNCTIONS)
    assert err.value.code == "expr.too_costly"
    assert "a blueprint expression may cost at most 1000 per row; this one costs 1131 " in err.value.message


def test_a_budget_of_none_checks_no_cost() -> None:
    nested = "sum(lines, l.qty" + " * l.unit_price" * 10 + ") > 0"
    assert check(parse(nested), DEAL_SCOPE, FUNCTIONS, limits=Limits(max_cost=None)).kind is Kind.BOOLEAN
