"""The Python backend: a typed tree becomes nested closures over a `RecordView` (no eval)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.errors import ExprError
from engine.expr import numbers
from engine.expr.limits import DEFAULT_LIMITS, Limits
from engine.expr.typed import TAggregate, TBinary, TCall, TField, TIf, TList, TLiteral, TRecordFn, TUnary, Typed
from engine.expr.types import RecordView

Env = tuple[RecordView, ...]
Fn = Callable[[Env], Any]
Clock = Callable[[], datetime]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH: dict[str, Callable[[Any, Any], Decimal | None]] = {
    "+": numbers.add,
    "-": numbers.sub,
    "*": numbers.mul,
    "/": numbers.div,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_python(typed: Typed, *, clock: Clock = utc_now, limits: Limits = DEFAULT_LIMITS) -> Callable[[RecordView], Any]:
    """A function computing the expression for one record; None stands for null."""
    fn = _Compiler(clock, limits).compile(typed)

    def evaluate(record: RecordView) -> Any:
        return fn((record,))

    return evaluate


class _Compiler:
    def __init__(self, clock: Clock, limits: Limits) -> None:
        self.clock = clock
        self.limits = limits

    def compile(self, node: Typed) -> Fn:
        method: Callable[[Any], Fn] = getattr(self, "_" + type(node).__name__)
        return method(node)

    def _TLiteral(self, node: TLiteral) -> Fn:
        value = node.value
        return lambda env: value

    def _TField(self, node: TField) -> Fn:
        frame, path = node.frame, node.path
        return lambda env: env[frame].value(path)

    def _TRecordFn(self, node: TRecordFn) -> Fn:
        path = node.path
        if node.name == "previous":
            return lambda env: env[0].previous(path)
        return lambda env: env[0].value(path) != env[0].previous(path)

    def _TList(self, node: TList) -> Fn:
        items = [self.compile(i) for i in node.items]
        return lambda env: [i(env) for i in items]

    def _TUnary(self, node: TUnary) -> Fn:
        arg = self.compile(node.operand)
        if node.op == "not":

            def negate(env: Env) -> bool | None:
                v = arg(env)
                return None if v is None else not v

            return negate
        return lambda env: None if (v := arg(env)) is None else numbers.sub(0, v)

    def _TIf(self, node: TIf) -> Fn:
        cond, then, other = self.compile(node.cond), self.compile(node.then), self.compile(node.other)
        return lambda env: then(env) if cond(env) is True else other(env)

    def _TBinary(self, node: TBinary) -> Fn:
        left, right, op = self.compile(node.left), self.compile(node.right), node.op
        if op == "and":

            def and_(env: Env) -> bool | None:
                a = left(env)
                if a is False:
                    return False
                b = right(env)
                if b is False:
                    return False
                return None if a is None or b is None else True

            return and_
        if op == "or":

            def or_(env: Env) -> bool | None:
                a = left(env)
                if a is True:
                    return True
                b = right(env)
                if b is True:
                    return True
                return None if a is None or b is None else False

            return or_
        if op == "in":
            return self._in(node, left, right)
        if op == "concat":
            return self._concat(left, right)
        fn = _COMPARE.get(op) or _ARITH[op]
        if isinstance(node.right, TLiteral) and node.right.value is not None:
            const = node.right.value
            return lambda env: None if (a := left(env)) is None else fn(a, const)

        def binary(env: Env) -> Any:
            a = left(env)
            if a is None:
                return None
            b = right(env)
            return None if b is None else fn(a, b)

        return binary

    def _concat(self, left: Fn, right: Fn) -> Fn:
        most = self.limits.max_text

        def concat(env: Env) -> str | None:
            a, b = left(env), right(env)
            if a is None or b is None:
                return None
            if len(a) + len(b) > most:
                raise ExprError(f"text grew past {most} characters", code="expr.limit")
            return str(a + b)

        return concat

    def _in(self, node: TBinary, left: Fn, right: Fn) -> Fn:
        items = node.right.items if isinstance(node.right, TList) else None
        if items is not None and all(isinstance(i, TLiteral) and i.value is not None for i in items):
            constants = frozenset(i.value for i in items if isinstance(i, TLiteral))
            if not constants:
                return lambda env: False
            return lambda env: None if (v := left(env)) is None else v in constants

        def member(env: Env) -> bool | None:
            values = right(env)
            if values is None:
                return None
            if not values:
                return False
            v = left(env)
            if v is None:
                return None
            if v in [x for x in values if x is not None]:
                return True
            return None if None in values else False

        return member

    def _TCall(self, node: TCall) -> Fn:
        args = [self.compile(a) for a in node.args]
        py, strict, clock = node.fn.python, node.fn.strict, self.clock
        if node.fn.clock:
            return lambda env: py(clock())
        if len(args) == 1 and strict:
            (only,) = args
            return lambda env: None if (v := only(env)) is None else py(v)

        def call(env: Env) -> Any:
            values = [a(env) for a in args]
            if strict and None in values:
                return None
            return py(*values)

        return call

    def _TAggregate(self, node: TAggregate) -> Fn:
        value = self.compile(node.value) if node.value is not None else None
        where = self.compile(node.where) if node.where is not None else None
        owner, collection, name = node.frame - 1, node.collection, node.name

        def aggregate(env: Env) -> Any:
            picked: list[Any] = []
            for item in env[owner].items(collection):
                inner = (*env, item)
                if where is not None and where(inner) is not True:
                    continue
                picked.append(value(inner) if value is not None else True)
            present = [v for v in picked if v is not None]
            if name == "count":
                return Decimal(len(picked))
            if name in ("sum", "avg"):
                total: Decimal = Decimal(0)
                for v in present:
                    total = numbers.add(total, v)
                if name == "sum":
                    return total
                return numbers.div(total, len(present)) if present else None
            if not present:
                return None
            return min(present) if name == "min" else max(present)

        return aggregate
