"""Limits against abusive expressions: checked while parsing and type-checking, and at run time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds an expression must stay within; exceeding one is an `expr.limit` error."""

    #: Characters in the expression text.
    max_length: int = 2000
    #: Nesting depth of operators, calls, lists and parentheses.
    max_depth: int = 32
    #: Elements in one list literal.
    max_list: int = 100
    #: Characters a text value may grow to by concatenation (checked statically where lengths
    #: are known, and when evaluating in Python).
    max_text: int = 100_000
    #: Decimal places a computed number may carry (multiplication adds places).
    max_scale: int = 100
    #: Significant digits of a number literal.
    max_literal_digits: int = 18
    #: Estimated cost per row (`engine.expr.cost`); beyond it an expression is `expr.too_costly`.
    max_cost: int | None = None
    #: Who sets `max_cost`, named in the error ("a filter", "a blueprint expression").
    cost_owner: str = "an expression"


#: Expressions of a blueprint: written by the app's builder, checked once; a generous budget.
DEFAULT_LIMITS = Limits(max_cost=1000, cost_owner="a blueprint expression")
#: Expressions sent with a request (`filter=`): anyone signed in may send them, on every call.
REQUEST_LIMITS = Limits(max_cost=100, cost_owner="a filter")
