"""Functions of the language: each one registered with its type rule, its Python implementation
and (optionally) its SQL implementation, so the two backends cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ExprError
from engine.expr.typed import Out, Typed
from engine.expr.types import Kind

if TYPE_CHECKING:
    from engine.expr.ast import Call
    from engine.expr.sqlvalue import SqlContext, SqlValue

CheckFn = Callable[[Sequence[Typed], "Call"], Out]
SqlFn = Callable[["SqlContext", Sequence["SqlValue"], Sequence[Typed]], "SqlValue"]

#: Forms the checker handles itself (lazy or aggregate or record-bound); documented like functions.
SPECIAL_FORMS = ("if", "count", "sum", "avg", "min", "max", "changed", "previous")


@dataclass(frozen=True)
class FunctionDef:
    """One function: `check` types a call (raising `ExprError` at the bad argument), `python`
    computes a value, `sql` builds SQL. Without `sql`, the function is refused where SQL is needed."""

    name: str
    signature: str
    summary: str
    example: str
    check: CheckFn
    python: Callable[..., Any]
    sql: SqlFn | None = None
    #: Null in any argument gives null without calling `python`.
    strict: bool = True
    #: `python` receives the current time (aware, UTC) as its first argument.
    clock: bool = False


class FunctionRegistry:
    """The functions an engine offers; built explicitly and passed to `check`."""

    def __init__(self, functions: Sequence[FunctionDef] = ()) -> None:
        self._functions: dict[str, FunctionDef] = {}
        for fn in functions:
            self.register(fn)

    def register(self, fn: FunctionDef) -> None:
        if fn.name in self._functions:
            raise ValueError(f"function {fn.name!r} is already registered")
        self._functions[fn.name] = fn

    def get(self, name: str) -> FunctionDef | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return sorted(self._functions)

    def __iter__(self) -> Iterator[FunctionDef]:
        return iter(self._functions.values())


def kinds_text(kinds: Sequence[Kind]) -> str:
    names = [k.value for k in kinds]
    if len(names) == 1:
        return f"a {names[0]}" if names[0][0] not in "aeiou" else f"an {names[0]}"
    return ", ".join(names[:-1]) + " or " + names[-1]


def want(fn: str, args: Sequence[Typed], index: int, *kinds: Kind) -> Typed:
    """Argument `index` of `fn`, which must have one of `kinds` (null is always accepted)."""
    arg = args[index]
    if arg.kind not in kinds and arg.kind is not Kind.NULL:
        raise ExprError(
            f"{fn}() argument {index + 1} must be {kinds_text(kinds)}, got {arg.out.shown}",
            col=arg.col,
            code="expr.type",
        )
    return arg


def arity(fn: str, args: Sequence[Typed], call: Call, low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        count = str(low) if low == high else f"{low} to {high}"
        raise ExprError(
            f"{fn}() takes {count} argument{'s' if high != 1 else ''}, got {len(args)}",
            col=call.col,
            code="expr.arity",
        )


def literal_arg(fn: str, args: Sequence[Typed], index: int, what: str) -> Any:
    """The value of an argument that must be written as a literal (a unit name, a date)."""
    from engine.expr.typed import TLiteral

    arg = args[index]
    if not isinstance(arg, TLiteral) or arg.value is None:
        raise ExprError(f"{fn}() argument {index + 1} must be {what} written literally", col=arg.col, code="expr.type")
    return arg.value


def common_kind(fn: str, args: Sequence[Typed]) -> Out:
    """The one kind all arguments share (nulls aside): for coalesce, min, max."""
    kinds = {a.kind for a in args} - {Kind.NULL}
    if len(kinds) > 1:
        first = next(a for a in args if a.kind is not Kind.NULL)
        bad = next(a for a in args if a.kind not in (Kind.NULL, first.kind))
        raise ExprError(
            f"{fn}() arguments must have one type: {first.out.shown} and {bad.out.shown}",
            col=bad.col,
            code="expr.type",
        )
    kind = kinds.pop() if kinds else Kind.NULL
    if kind is Kind.LIST:
        raise ExprError(f"{fn}() does not take lists", col=args[0].col, code="expr.type")
    lengths = [a.out.length for a in args]
    return Out(
        kind,
        nullable=all(a.out.nullable for a in args),
        scale=max((a.out.scale for a in args), default=0),
        length=None if None in lengths else max(x for x in lengths if x is not None),
    )
