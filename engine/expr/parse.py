"""The grammar (Lark, LALR) and `parse`: expression text to an untyped, positioned syntax tree.

Precedence, lowest first: `or ||`, `and &&`, `not !`, comparisons and `in`/`not in` (not
chainable), `+ -`, `* /`, unary `-`, postfix `%` on number literals, atoms.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from engine.errors import ExprError
from engine.expr.ast import Binary, Call, ListExpr, Literal, Node, Path, Unary
from engine.expr.limits import DEFAULT_LIMITS, Limits

GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr | or_expr OR and_expr -> binary
?and_expr: not_expr | and_expr AND not_expr -> binary
?not_expr: comparison | NOT not_expr -> unary
?comparison: sum
    | sum COMPARE sum -> binary
    | sum IN sum -> binary
    | sum NOT IN sum -> not_in
?sum: product | sum ADD product -> binary
?product: unary_minus | product MUL unary_minus -> binary
?unary_minus: atom | SUB unary_minus -> unary
?atom: NUMBER -> number
    | NUMBER PERCENT -> percent
    | STRING -> string
    | TRUE -> true
    | FALSE -> false
    | NULL -> null
    | NAME ("." NAME)* -> path
    | NAME LPAR [arguments] ")" -> call
    | LBRACKET [or_expr ("," or_expr)*] "]" -> list
    | LPAR or_expr "," or_expr ("," or_expr)* ")" -> list
    | "(" or_expr ")"
arguments: first_argument ("," or_expr)*
first_argument: or_expr | or_expr AS NAME

OR.2: /or\b/i | "||"
AND.2: /and\b/i | "&&"
NOT.2: /not\b/i | /!(?!=)/
IN.2: /in\b/i
AS.2: /as\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULL.2: /null\b/i
COMPARE: "==" | "!=" | "<>" | "<=" | ">=" | "=" | "<" | ">"
ADD: "+" | SUB
SUB: "-"
MUL: "*" | "/"
PERCENT: "%"
LPAR: "("
LBRACKET: "["
NUMBER: /[0-9]+(\.[0-9]+)?/
STRING: /'(\\.|[^'\\])*'/ | /"(\\.|[^"\\])*"/
NAME: /[A-Za-z_][A-Za-z0-9_]*/

%ignore /[ \t\r\n]+/
"""

_OPS = {"||": "or", "&&": "and", "!": "not", "==": "=", "<>": "!="}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
_EXPECTED = {
    "NUMBER": "a number",
    "STRING": "text in quotes",
    "NAME": "a name",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACKET": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COMPARE": "a comparison",
}


def _unescape(raw: str, col: int) -> str:
    out: list[str] = []
    body = raw[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ExprError(f"unknown escape '\\{nxt}' in text", col=col + i + 1, code="expr.syntax")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _op(tok: Token) -> str:
    text = str(tok).lower()
    return _OPS.get(text, text)


@v_args(inline=True)
class _Build(Transformer[Token, Node]):
    def binary(self, left: Node, op: Token, right: Node) -> Node:
        return Binary(left.col, _op(op), left, right, op.column or 0)

    def not_in(self, left: Node, op: Token, _in: Token, right: Node) -> Node:
        return Binary(left.col, "not in", left, right, op.column or 0)

    def unary(self, op: Token, operand: Node) -> Node:
        name = _op(op)
        return Unary(op.column or 0, "neg" if name == "-" else name, operand)

    def number(self, tok: Token) -> Node:
        return Literal(tok.column or 0, Decimal(str(tok)))

    def percent(self, tok: Token, _pct: Token) -> Node:
        return Literal(tok.column or 0, Decimal(str(tok)).scaleb(-2))

    def string(self, tok: Token) -> Node:
        return Literal(tok.column or 0, _unescape(str(tok), tok.column or 0))

    def true(self, tok: Token) -> Node:
        return Literal(tok.column or 0, True)

    def false(self, tok: Token) -> Node:
        return Literal(tok.column or 0, False)

    def null(self, tok: Token) -> Node:
        return Literal(tok.column or 0, None)

    def path(self, *names: Token) -> Node:
        return Path(names[0].column or 0, tuple(str(n) for n in names))

    def call(self, name: Token, _lpar: Token, arguments: tuple[Any, tuple[Node, ...]] | None) -> Node:
        if arguments is None:
            return Call(name.column or 0, str(name), ())
        first, rest = arguments
        alias, alias_col = (str(first[1]), first[1].column or 0) if isinstance(first, tuple) else (None, 0)
        head = first[0] if isinstance(first, tuple) else first
        return Call(name.column or 0, str(name), (head, *rest), alias, alias_col)

    def arguments(self, first: Any, *rest: Node) -> tuple[Any, tuple[Node, ...]]:
        return first, rest

    def first_argument(self, value: Node, _as: Token | None = None, alias: Token | None = None) -> Any:
        return (value, alias) if alias is not None else value

    def list(self, open_: Token, *items: Node | None) -> Node:
        return ListExpr(open_.column or 0, tuple(i for i in items if isinstance(i, Node)))


_PARSER = Lark(GRAMMAR, parser="lalr", transformer=_Build(), maybe_placeholders=True)


def _syntax_error(err: UnexpectedInput, text: str) -> ExprError:
    col = err.column if isinstance(err.column, int) and err.column > 0 else len(text) + 1
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        return ExprError("unexpected end of expression", col=len(text) + 1, code="expr.syntax")
    if isinstance(err, UnexpectedCharacters):
        return ExprError(f"unexpected character {text[col - 1]!r}", col=col, code="expr.syntax")
    assert isinstance(err, UnexpectedToken)
    expected = sorted({_EXPECTED.get(e, e.lower()) for e in err.expected if not e.startswith("__")})
    hint = f"; expected {', '.join(expected[:6])}" if expected and len(expected) <= 6 else ""
    return ExprError(f"unexpected {str(err.token)!r}{hint}", col=col, code="expr.syntax")


def _depth(node: Node) -> int:
    if isinstance(node, Binary):
        return 1 + max(_depth(node.left), _depth(node.right))
    if isinstance(node, Unary):
        return 1 + _depth(node.operand)
    if isinstance(node, Call | ListExpr):
        kids = node.args if isinstance(node, Call) else node.items
        return 1 + max((_depth(k) for k in kids), default=0)
    return 1


def parse(text: str, limits: Limits = DEFAULT_LIMITS) -> Node:
    """Parse expression text into a syntax tree; raises `ExprError` with the column of the problem.

    Trees are immutable, so the most recent ones are remembered: a list filter sent again (the
    same page reloaded, the next page) skips the parser.
    """
    if len(text) > limits.max_length:  # checked before hashing a long text
        return _parse(text, limits)
    return _parse_cached(text, limits)


def _parse(text: str, limits: Limits) -> Node:
    if len(text) > limits.max_length:
        raise ExprError(
            f"expression is {len(text)} characters long; the limit is {limits.max_length}",
            col=limits.max_length + 1,
            code="expr.limit",
        )
    if not text.strip():
        raise ExprError("empty expression", col=1, code="expr.syntax")
    # Parenthesis depth is bounded before parsing so that the parser's own stack stays small.
    depth = 0
    for i, ch in enumerate(text):
        depth += 1 if ch in "([" else -1 if ch in ")]" else 0
        if depth > limits.max_depth:
            raise ExprError(f"nested more than {limits.max_depth} levels deep", col=i + 1, code="expr.limit")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(err, text) from None
    except VisitError as err:
        if isinstance(err.orig_exc, ExprError):
            raise err.orig_exc from None
        raise
    if not isinstance(tree, Node):
        raise TypeError("the parser did not build a syntax tree")
    if _depth(tree) > limits.max_depth:
        raise ExprError(f"nested more than {limits.max_depth} levels deep", col=1, code="expr.limit")
    return tree


_parse_cached = lru_cache(maxsize=1024)(_parse)
