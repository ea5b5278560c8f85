"""The SQL backend: a typed tree becomes one SQLAlchemy expression (bound parameters only).

Null rules are SQL's own three-valued logic, which the Python backend copies. Numbers stay
exact on both databases (see `engine.expr.sqlvalue`); division and rounding follow
`engine.expr.numbers` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement

from engine.errors import ExprError
from engine.expr.numbers import DIVISION_SCALE
from engine.expr.python import utc_now
from engine.expr.sqlvalue import DECIMAL_BOUND, INT64, SqlContext, SqlValue
from engine.expr.typed import TAggregate, TBinary, TCall, TField, TIf, TList, TLiteral, TRecordFn, TUnary, Typed
from engine.expr.types import Kind, SqlScope

_UDF = {"+": "lw_add", "-": "lw_sub", "*": "lw_mul", "/": "lw_div"}


def to_sql(
    typed: Typed, scope: SqlScope, *, clock: Callable[[], datetime] = utc_now, places: int | None = None
) -> ColumnElement[Any]:
    """The expression as a SQLAlchemy column expression over `scope`, for WHERE or SELECT.

    `today()`/`now()` become parameters computed from `clock` when the statement runs. With
    `places`, a number is given as a column of that many decimal places holds it (a formula's
    value: see `SqlContext.fit`), so a scope may return it as that column (`SqlScope.column`)."""
    ctx = SqlContext(scope.dialect, clock)
    value = _Compiler(ctx, [scope]).compile(typed)
    if places is not None and value.kind is Kind.NUMBER:
        value = ctx.fit(value, places)
    return ctx.finish(value)


def pg_divide(ctx: SqlContext, a: SqlValue, b: SqlValue) -> ColumnElement[Any]:
    """`a / b` on PostgreSQL, rounded half away from zero to DIVISION_SCALE places, exactly.

    Built from the exact integer quotient `div()`; dividing by zero gives null (NULLIF),
    never an error."""
    shift = sa.literal(Decimal(10) ** DIVISION_SCALE, sa.Numeric())
    num = ctx.numeric(a) * shift
    den = sa.func.nullif(ctx.numeric(b), sa.literal(0, sa.Numeric()))
    q = sa.func.div(num, den, type_=sa.Numeric())
    rest = num - q * den
    away = sa.case((2 * sa.func.abs(rest) >= sa.func.abs(den), sa.func.sign(num) * sa.func.sign(den)), else_=0)
    return (q + away) * sa.literal(Decimal(1).scaleb(-DIVISION_SCALE), sa.Numeric())


class _Compiler:
    def __init__(self, ctx: SqlContext, scopes: list[SqlScope]) -> None:
        self.ctx = ctx
        self.scopes = scopes

    def compile(self, node: Typed) -> SqlValue:
        method: Callable[[Any], SqlValue] = getattr(self, "_" + type(node).__name__)
        return method(node)

    def _TLiteral(self, node: TLiteral) -> SqlValue:
        return self.ctx.literal(node.value, node.kind)

    def _TField(self, node: TField) -> SqlValue:
        if node.kind is Kind.LIST:
            raise ExprError("list fields have no SQL form yet", col=node.col, code="expr.no_sql")
        expr = self.scopes[node.frame].column(node.path)
        if node.kind is not Kind.NUMBER:
            return SqlValue(expr, node.kind)
        scale = node.info.scale
        return SqlValue(expr, Kind.NUMBER, scale, bound=DECIMAL_BOUND if scale else INT64)

    def _TRecordFn(self, node: TRecordFn) -> SqlValue:
        raise ExprError(f"{node.name}() has no SQL form", col=node.col, code="expr.no_sql")

    def _TList(self, node: TList) -> SqlValue:
        raise ExprError("a list can only be used after 'in'", col=node.col, code="expr.no_sql")

    def _TUnary(self, node: TUnary) -> SqlValue:
        v = self.compile(node.operand)
        if node.op == "not":
            return SqlValue(sa.not_(v.expr), Kind.BOOLEAN)
        if not self.ctx.sqlite:
            return SqlValue(-self.ctx.numeric(v), Kind.NUMBER, v.scale)
        if v.text or v.bound is None:
            return self.ctx.text_number(self.ctx.call("lw_sub", 0, self.ctx.as_text(v), type_=sa.String()), v.scale)
        return SqlValue(-v.expr, Kind.NUMBER, v.scale, bound=v.bound)

    def _TIf(self, node: TIf) -> SqlValue:
        cond = self.compile(node.cond)
        then, other = self.ctx.unify([self.compile(node.then), self.compile(node.other)])
        bound = None if then.bound is None or other.bound is None else max(then.bound, other.bound)
        expr = sa.case((cond.expr, then.expr), else_=other.expr)
        return SqlValue(expr, node.kind, then.scale, then.text, bound)

    def _TBinary(self, node: TBinary) -> SqlValue:
        if node.op == "in":
            return self._in(node)
        a, b = self.compile(node.left), self.compile(node.right)
        if node.op in ("and", "or"):
            join = sa.and_ if node.op == "and" else sa.or_
            return SqlValue(join(a.expr, b.expr), Kind.BOOLEAN)
        if node.op == "concat":
            return SqlValue(a.expr.concat(b.expr), Kind.TEXT)
        if node.op in ("=", "!=", "<", "<=", ">", ">="):
            return SqlValue(self.ctx.compare(node.op, a, b), Kind.BOOLEAN)
        return self._arith(node.op, a, b, node.out.scale)

    def _arith(self, op: str, a: SqlValue, b: SqlValue, scale: int) -> SqlValue:
        ctx = self.ctx
        if not ctx.sqlite:
            if op == "/":
                return SqlValue(pg_divide(ctx, a, b), Kind.NUMBER, scale)
            x, y = ctx.numeric(a), ctx.numeric(b)
            expr = x + y if op == "+" else x - y if op == "-" else x * y
            return SqlValue(expr, Kind.NUMBER, scale)
        if op in ("+", "-"):
            x2, y2 = ctx.align(a, scale), ctx.align(b, scale)
            if x2 is not None and y2 is not None and x2.bound and y2.bound and x2.bound + y2.bound <= INT64:
                expr = x2.expr + y2.expr if op == "+" else x2.expr - y2.expr
                return SqlValue(expr, Kind.NUMBER, scale, bound=x2.bound + y2.bound)
        if op == "*" and not a.text and not b.text and a.bound and b.bound and a.bound * b.bound <= INT64:
            return SqlValue(a.expr * b.expr, Kind.NUMBER, scale, bound=a.bound * b.bound)
        expr = ctx.call(_UDF[op], ctx.as_text(a), ctx.as_text(b), type_=sa.String())
        return ctx.text_number(expr, scale)

    def _in(self, node: TBinary) -> SqlValue:
        if not isinstance(node.right, TList):
            raise ExprError("'in' over a list field has no SQL form yet", col=node.right.col, code="expr.no_sql")
        if not node.right.items:
            return SqlValue(sa.false(), Kind.BOOLEAN)
        left = self.compile(node.left)
        tests: list[ColumnElement[Any]] = []
        for item in node.right.items:
            if item.kind is Kind.NULL:
                tests.append(sa.cast(sa.null(), sa.Boolean()))
            else:
                tests.append(self.ctx.compare("=", left, self.compile(item)))
        return SqlValue(sa.or_(*tests), Kind.BOOLEAN)

    def _TCall(self, node: TCall) -> SqlValue:
        if node.fn.sql is None:
            raise ExprError(f"{node.fn.name}() has no SQL form", col=node.col, code="expr.no_sql")
        return node.fn.sql(self.ctx, [self.compile(a) for a in node.args], node.args)

    def _TAggregate(self, node: TAggregate) -> SqlValue:
        coll = self.scopes[node.frame - 1].collection(node.collection)
        self.scopes.append(coll.items)
        try:
            value = self.compile(node.value) if node.value is not None else None
            where = self.compile(node.where).expr if node.where is not None else None
        finally:
            self.scopes.pop()
        result, scale, text, bound = self._aggregate(node.name, value, node.out.scale)
        query = sa.select(result).select_from(coll.source).where(coll.where)
        if where is not None:
            query = query.where(where)
        return SqlValue(query.scalar_subquery(), node.kind, scale, text, bound)

    def _aggregate(
        self, name: str, value: SqlValue | None, scale: int
    ) -> tuple[ColumnElement[Any], int, bool, int | None]:
        ctx, f = self.ctx, sa.func
        if name == "count" or value is None:
            return f.count(), 0, False, INT64
        if value.kind is not Kind.NUMBER:
            expr = ctx.collate(value.expr) if value.kind is Kind.TEXT else value.expr
            picked = f.min(expr) if name == "min" else f.max(expr)
            return sa.type_coerce(picked, value.expr.type), 0, False, None
        if not ctx.sqlite:
            v = ctx.numeric(value)
            if name == "sum":
                return f.coalesce(f.sum(v), sa.literal(0, sa.Numeric())), scale, False, None
            if name == "avg":
                total, count = SqlValue(f.sum(v), Kind.NUMBER), SqlValue(f.count(v), Kind.NUMBER)
                return pg_divide(ctx, total, count), scale, False, None
            return (f.min(v) if name == "min" else f.max(v)), scale, False, None
        if name in ("min", "max") and not value.text:
            return (f.min(value.expr) if name == "min" else f.max(value.expr)), value.scale, False, value.bound
        if name == "sum" and not value.text and value.scale == scale:
            return f.coalesce(f.sum(value.expr), 0), scale, False, INT64
        udf = {"sum": "lw_sum", "avg": "lw_avg", "min": "lw_min", "max": "lw_max"}[name]
        result = ctx.call(udf, ctx.as_text(value), type_=sa.String())
        # SQLite gives null for an aggregate over no rows; a sum of nothing is 0 everywhere.
        return (f.coalesce(result, "0") if name == "sum" else result), scale, True, None
