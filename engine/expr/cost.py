"""What an expression costs per row, estimated from its typed tree before it runs.

The units are roughly microseconds per row on SQLite, the slower database: exact decimal
arithmetic and most functions there run as Python functions called once per row (about 5 µs
each), a lookup step is an indexed subquery, and a collection is a correlated subquery over the
related rows. `Limits.max_cost` caps the total; docs/expressions.md lists the weights.
"""

from __future__ import annotations

from engine.expr.typed import TAggregate, TBinary, TCall, TField, TIf, TList, TLiteral, TRecordFn, TUnary, Typed

#: Reading a field of the row.
FIELD = 1
#: Each lookup step of a related path (`account.owner.name` has two).
LOOKUP_STEP = 3
#: A comparison, `and`, `or`, `not`, `if`, or one item of `in [...]`.
LOGIC = 1
#: Joining text with `+`.
CONCAT = 2
#: `+ - * /` and unary minus on numbers (exact decimal arithmetic).
ARITHMETIC = 10
#: A function call, besides its arguments.
CALL = 5
#: A collection (`count`, `sum`, ...): the subquery, plus what runs for each item ...
COLLECTION = 10
#: ... times the items a record is assumed to have.
ITEMS_PER_RECORD = 10
#: A formula that is not stored counts with its own expression's cost, up to this: it is the
#: blueprint's (checked against the blueprint's budget), so naming one in a filter stays possible;
#: naming several expensive ones still adds up past a request's budget.
NAMED_FORMULA_CAP = 50


def expression_cost(node: Typed) -> int:
    """The estimated cost per row of evaluating `node` in SQL (see the module docstring)."""
    if isinstance(node, TLiteral):
        return 0
    if isinstance(node, TField):
        return FIELD + LOOKUP_STEP * (len(node.path) - 1) + min(node.info.cost, NAMED_FORMULA_CAP)
    if isinstance(node, TList):
        return sum(expression_cost(i) for i in node.items)
    if isinstance(node, TUnary):
        own = LOGIC if node.op == "not" else ARITHMETIC
        return own + expression_cost(node.operand)
    if isinstance(node, TBinary):
        return _operator(node) + expression_cost(node.left) + expression_cost(node.right)
    if isinstance(node, TIf):
        return LOGIC + expression_cost(node.cond) + expression_cost(node.then) + expression_cost(node.other)
    if isinstance(node, TCall):
        return CALL + sum(expression_cost(a) for a in node.args)
    if isinstance(node, TAggregate):
        per_item = FIELD + sum(expression_cost(p) for p in (node.value, node.where) if p is not None)
        return COLLECTION + ITEMS_PER_RECORD * per_item
    if isinstance(node, TRecordFn):
        return FIELD
    raise TypeError(f"unknown node {node!r}")


def _operator(node: TBinary) -> int:
    if node.op in ("+", "-", "*", "/"):
        return ARITHMETIC
    if node.op == "concat":
        return CONCAT
    if node.op == "in" and isinstance(node.right, TList):
        return LOGIC * max(1, len(node.right.items))
    return LOGIC
