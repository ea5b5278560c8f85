from __future__ import annotations

from decimal import Decimal

import pytest

from engine.errors import ExprError
from engine.expr import Limits, parse
from engine.expr.ast import Binary, Call, ListExpr, Literal, Node, Path, Unary


def shape(node: Node) -> object:
    """A compact form of a tree: (op, left, right), names, values."""
    if isinstance(node, Binary):
        return (node.op, shape(node.left), shape(node.right))
    if isinstance(node, Unary):
        return (node.op, shape(node.operand))
    if isinstance(node, Path):
        return node.dotted
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, ListExpr):
        return [shape(i) for i in node.items]
    assert isinstance(node, Call)
    return (node.name + "()", *(shape(a) for a in node.args))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a or b and c", ("or", "a", ("and", "b", "c"))),
        ("a || b && c", ("or", "a", ("and", "b", "c"))),
        ("not a and b", ("and", ("not", "a"), "b")),
        ("!a or b", ("or", ("not", "a"), "b")),
        ("not a = b", ("not", ("=", "a", "b"))),
        ("a + b * c", ("+", "a", ("*", "b", "c"))),
        ("(a + b) * c", ("*", ("+", "a", "b"), "c")),
        ("a - b - c", ("-", ("-", "a", "b"), "c")),
        ("a / b * c", ("*", ("/", "a", "b"), "c")),
        ("-a * b", ("*", ("neg", "a"), "b")),
        ("a + b > c * 2", (">", ("+", "a", "b"), ("*", "c", Decimal(2)))),
        ("a == b", ("=", "a", "b")),
        ("a <> b", ("!=", "a", "b")),
        ("a >= 1 AND b <= 2", ("and", (">=", "a", Decimal(1)), ("<=", "b", Decimal(2)))),
        ("x in ('a', 'b')", ("in", "x", ["a", "b"])),
        ("x not in [1]", ("not in", "x", [Decimal(1)])),
        ("x in []", ("in", "x", [])),
        ("discount > 20%", (">", "discount", Decimal("0.20"))),
        ("account.industry = 'x'", ("=", "account.industry", "x")),
        ("if(a, 1, 2)", ("if()", "a", Decimal(1), Decimal(2))),
        ("today()", ("today()",)),
        ("'it\\'s' = \"q\\\"\"", ("=", "it's", 'q"')),
        ("TRUE and null", ("and", True, None)),
        ("a and b != c", ("and", "a", ("!=", "b", "c"))),
        ("!a != b", ("not", ("!=", "a", "b"))),
        ("android or order", ("or", "android", "order")),
    ],
)
def test_precedence_and_forms(text: str, expected: object) -> None:
    assert shape(parse(text)) == expected


def test_positions_are_columns_in_the_text() -> None:
    tree = parse("amount > 100000 and stage = 'won'")
    assert isinstance(tree, Binary)
    assert tree.op_col == 17
    left, right = tree.left, tree.right
    assert isinstance(left, Binary) and isinstance(right, Binary)
    assert (left.col, left.op_col, left.right.col) == (1, 8, 10)
    assert (right.col, right.right.col) == (21, 29)


def test_aggregate_alias() -> None:
    tree = parse("sum(lines as item, item.qty)")
    assert isinstance(tree, Call)
    assert (tree.alias, tree.alias_col) == ("item", 14)


@pytest.mark.parametrize(
    ("text", "col", "message"),
    [
        ("amount >", 9, "unexpected end of expression"),
        ("amount > > 1", 10, "unexpected '>'"),
        ("amount # 1", 8, "unexpected character '#'"),
        ("1 < 2 < 3", 7, "unexpected '<'"),
        ("'abc", 1, "unexpected character"),
        ("'a\\qb'", 3, "unknown escape"),
        ("", 1, "empty expression"),
        ("f(a as b)", 0, None),
    ],
)
def test_syntax_errors_carry_the_column(text: str, col: int, message: str | None) -> None:
    if message is None:
        parse(text)  # an alias parses anywhere; the checker decides where it is allowed
        return
    with pytest.raises(ExprError) as err:
        parse(text)
    assert err.value.code == "expr.syntax"
    assert err.value.col == col
    assert message in err.value.message


def test_length_and_depth_limits() -> None:
    limits = Limits(max_length=20, max_depth=5)
    with pytest.raises(ExprError, match="characters long") as err:
        parse("a" * 21, limits)
    assert err.value.code == "expr.limit"
    with pytest.raises(ExprError, match="nested more than 5") as err:
        parse("((((((a))))))", limits)
    assert err.value.code == "expr.limit"
    with pytest.raises(ExprError, match="nested more than 5"):
        parse("-" * 6 + "a", limits)
    assert shape(parse("-" * 4 + "a", limits)) == ("neg", ("neg", ("neg", ("neg", "a"))))
