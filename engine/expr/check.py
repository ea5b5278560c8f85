"""Type-checking: an untyped tree plus a `TypeScope` gives a typed tree, or an error located at
the column of the offending part with a did-you-mean for names."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from engine.errors import ExprError
from engine.expr.ast import Binary, Call, ListExpr, Literal, Node, Path, Unary
from engine.expr.cost import expression_cost
from engine.expr.functions import SPECIAL_FORMS, FunctionRegistry
from engine.expr.limits import DEFAULT_LIMITS, Limits
from engine.expr.numbers import DIVISION_SCALE, places
from engine.expr.typed import Out, TAggregate, TBinary, TCall, TField, TIf, TList, TLiteral, TRecordFn, TUnary, Typed
from engine.expr.types import Kind, TypeScope

_ORDERED = (Kind.NUMBER, Kind.TEXT, Kind.DATE, Kind.DATETIME)
_AGGREGATES = ("count", "sum", "avg", "min", "max")


def did_you_mean(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _fail(message: str, col: int, code: str = "expr.type") -> ExprError:
    return ExprError(message, col=col, code=code)


def _check_option(chosen: Typed, literal: Typed) -> None:
    """`stage = 'clsoed'` can never hold: text compared with a select must be one of its options."""
    options = chosen.out.options
    if options is None or not isinstance(literal, TLiteral) or not isinstance(literal.value, str):
        return
    if literal.value not in options:
        name = ".".join(chosen.path) if isinstance(chosen, TField | TRecordFn) else chosen.out.shown
        raise _fail(
            f"'{literal.value}' is not an option of {name}{did_you_mean(literal.value, options)}",
            literal.col,
            "expr.unknown_option",
        )


@dataclass
class _Frame:
    alias: str | None
    scope: TypeScope


@dataclass
class Checker:
    """Checks one expression. `sql=True` refuses what has no SQL form (where SQL is needed)."""

    scope: TypeScope
    functions: FunctionRegistry
    limits: Limits = DEFAULT_LIMITS
    sql: bool = False
    frames: list[_Frame] = field(default_factory=list)

    def check(self, node: Node) -> Typed:
        if not self.frames:
            self.frames.append(_Frame(None, self.scope))
        if isinstance(node, Literal):
            return self._literal(node)
        if isinstance(node, Path):
            return self._path(node)
        if isinstance(node, ListExpr):
            return self._list(node)
        if isinstance(node, Unary):
            return self._unary(node)
        if isinstance(node, Binary):
            return self._binary(node)
        if isinstance(node, Call):
            return self._call(node)
        raise TypeError(f"unknown node {node!r}")

    def _literal(self, node: Literal) -> Typed:
        v = node.value
        if isinstance(v, bool):
            return TLiteral(node.col, Out(Kind.BOOLEAN, nullable=False), v)
        if isinstance(v, Decimal):
            if len(v.as_tuple().digits) > self.limits.max_literal_digits:
                raise _fail(
                    f"a number may have at most {self.limits.max_literal_digits} digits", node.col, "expr.limit"
                )
            return TLiteral(node.col, Out(Kind.NUMBER, nullable=False, scale=places(v)), v)
        if isinstance(v, str):
            return TLiteral(node.col, Out(Kind.TEXT, nullable=False, length=len(v)), v)
        return TLiteral(node.col, Out(Kind.NULL), None)

    def _path(self, node: Path) -> Typed:
        parts, frame = node.parts, 0
        for i in range(len(self.frames) - 1, 0, -1):
            if self.frames[i].alias == parts[0]:
                if len(parts) == 1:
                    raise _fail(
                        f"'{parts[0]}' stands for one item; name one of its fields, like {parts[0]}.name", node.col
                    )
                parts, frame = parts[1:], i
                break
        scope = self.frames[frame].scope
        info = scope.field(parts)
        offset = node.col + (len(node.parts[0]) + 1 if frame else 0)
        if info is None:
            if len(parts) == 1 and scope.collection(parts[0]) is not None:
                raise _fail(f"'{parts[0]}' is a collection; use count({parts[0]}) or sum({parts[0]}, ...)", node.col)
            for i, part in enumerate(parts):
                options = scope.names(parts[:i])
                if part not in options:
                    col = offset + sum(len(p) + 1 for p in parts[:i])
                    where = f" on '{'.'.join(parts[:i])}'" if i else ""
                    raise _fail(f"unknown field '{part}'{where}{did_you_mean(part, options)}", col, "expr.unknown_name")
            raise _fail(f"unknown field '{'.'.join(parts)}'", node.col, "expr.unknown_name")
        if not info.readable:
            raise _fail(f"you may not read the field '{'.'.join(parts)}'", node.col, "expr.forbidden")
        if self.sql and info.kind is Kind.LIST:
            raise _fail(f"the list field '{'.'.join(parts)}' cannot be used in SQL yet", node.col, "expr.no_sql")
        out = Out(info.kind, info.nullable, info.scale, info.max_length, info.item_kind, info.shown, info.options)
        return TField(node.col, out, frame, parts, info)

    def _list(self, node: ListExpr) -> Typed:
        if len(node.items) > self.limits.max_list:
            raise _fail(f"a list may hold at most {self.limits.max_list} items", node.col, "expr.limit")
        items = tuple(self.check(i) for i in node.items)
        kinds = [i for i in items if i.kind is not Kind.NULL]
        for item in kinds:
            if item.kind is Kind.LIST:
                raise _fail("lists cannot hold lists", item.col)
            if item.kind is not kinds[0].kind:
                raise _fail(f"list items must have one type: {kinds[0].out.shown} and {item.out.shown}", item.col)
        item_kind = kinds[0].kind if kinds else Kind.NULL
        return TList(node.col, Out(Kind.LIST, nullable=False, item_kind=item_kind), items)

    def _unary(self, node: Unary) -> Typed:
        arg = self.check(node.operand)
        want = Kind.BOOLEAN if node.op == "not" else Kind.NUMBER
        if arg.kind not in (want, Kind.NULL):
            shown = "not" if node.op == "not" else "-"
            raise _fail(f"'{shown}' needs a {want.value}, got {arg.out.shown}", arg.col)
        return TUnary(node.col, Out(want, arg.out.nullable, arg.out.scale), node.op, arg)

    def _binary(self, node: Binary) -> Typed:
        left, right = self.check(node.left), self.check(node.right)
        op, nullable = node.op, left.out.nullable or right.out.nullable
        if op in ("and", "or"):
            for side in (left, right):
                if side.kind not in (Kind.BOOLEAN, Kind.NULL):
                    raise _fail(f"'{op}' needs true/false on both sides, got {side.out.shown}", side.col)
            return TBinary(node.col, Out(Kind.BOOLEAN, nullable), op, left, right)
        if op in ("in", "not in"):
            return self._in(node, left, right)
        if op in ("=", "!=", "<", "<=", ">", ">="):
            return self._compare(node, left, right)
        return self._arith(node, left, right)

    def _compare(self, node: Binary, left: Typed, right: Typed) -> Typed:
        for side in (left, right):
            if side.kind is Kind.NULL:
                raise _fail(
                    "comparing with null is never true or false; use is_blank(x)", side.col, "expr.null_compare"
                )
            if side.kind is Kind.LIST:
                raise _fail(f"cannot compare lists; use 'x in {side.out.shown}'", side.col)
        if left.kind is not right.kind:
            raise _fail(f"cannot compare {left.out.shown} with {right.out.shown}", right.col)
        if node.op not in ("=", "!=") and left.kind not in _ORDERED:
            raise _fail(f"'{node.op}' does not apply to {left.out.shown}; use = or !=", node.op_col)
        _check_option(left, right)
        _check_option(right, left)
        return TBinary(node.col, Out(Kind.BOOLEAN, left.out.nullable or right.out.nullable), node.op, left, right)

    def _in(self, node: Binary, left: Typed, right: Typed) -> Typed:
        if right.kind is not Kind.LIST:
            raise _fail(f"'{node.op}' needs a list on its right, like ['a', 'b'], got {right.out.shown}", right.col)
        if left.kind is Kind.LIST:
            raise _fail("the left side of 'in' must be a single value", left.col)
        item = right.out.item_kind
        if item not in (None, Kind.NULL) and left.kind not in (item, Kind.NULL):
            raise _fail(f"cannot look for {left.out.shown} in a list of {item.value if item else ''}", left.col)
        for candidate in right.items if isinstance(right, TList) else ():
            _check_option(left, candidate)
        if right.kind is Kind.LIST:  # 'vip' in tags: the list's items are options
            _check_option(right, left)
        nullable = left.out.nullable or right.out.nullable or not isinstance(right, TList)
        out = Out(Kind.BOOLEAN, nullable or any(i.out.nullable for i in getattr(right, "items", ())))
        found = TBinary(node.col, out, "in", left, right)
        return found if node.op == "in" else TUnary(node.col, out, "not", found)

    def _arith(self, node: Binary, left: Typed, right: Typed) -> Typed:
        op, nullable = node.op, left.out.nullable or right.out.nullable
        kinds = {left.kind, right.kind} - {Kind.NULL}
        if op == "+" and kinds == {Kind.TEXT}:
            ll, rl = left.out.length, right.out.length
            length = None if ll is None or rl is None else ll + rl
            if length is not None and length > self.limits.max_text:
                raise _fail(
                    f"text may grow to {length} characters; the limit is {self.limits.max_text}",
                    node.op_col,
                    "expr.limit",
                )
            return TBinary(node.col, Out(Kind.TEXT, nullable, length=length), "concat", left, right)
        for side in (left, right):
            if side.kind not in (Kind.NUMBER, Kind.NULL):
                hint = "; use add_days() or days_between()" if side.kind in (Kind.DATE, Kind.DATETIME) else ""
                raise _fail(f"'{op}' needs numbers, got {side.out.shown}{hint}", side.col)
        sl, sr = left.out.scale, right.out.scale
        scale = {"+": max(sl, sr), "-": max(sl, sr), "*": sl + sr, "/": DIVISION_SCALE}[op]
        if scale > self.limits.max_scale:
            raise _fail(
                f"the result would carry {scale} decimal places; the limit is {self.limits.max_scale}",
                node.op_col,
                "expr.limit",
            )
        return TBinary(node.col, Out(Kind.NUMBER, nullable or op == "/", scale), op, left, right)

    def _call(self, node: Call) -> Typed:
        name = node.name.lower()
        if node.alias is not None and name not in _AGGREGATES:
            raise _fail(
                f"'as' names the items of a collection, in {', '.join(_AGGREGATES)}", node.alias_col, "expr.syntax"
            )
        if name in _AGGREGATES and node.args and isinstance(node.args[0], Path) and len(node.args[0].parts) == 1:
            items = self.frames[-1].scope.collection(node.args[0].parts[0])
            if items is not None:
                return self._aggregate(node, name, items)
        if name == "if":
            return self._if(node)
        if name in ("changed", "previous"):
            return self._record_fn(node, name)
        fn = self.functions.get(name)
        if fn is None:
            if name in _AGGREGATES and name not in ("min", "max"):
                raise _fail(f"{name}() needs a collection as its first argument, like {name}(lines)", node.col)
            options = [*self.functions.names(), *SPECIAL_FORMS]
            raise _fail(
                f"unknown function '{node.name}'{did_you_mean(name, options)}", node.col, "expr.unknown_function"
            )
        if self.sql and fn.sql is None:
            raise _fail(
                f"{name}() has no SQL form, so it cannot be used where the database evaluates", node.col, "expr.no_sql"
            )
        args = tuple(self.check(a) for a in node.args)
        return TCall(node.col, fn.check(args, node), fn, args)

    def _if(self, node: Call) -> Typed:
        if len(node.args) != 3:
            raise _fail(f"if() takes 3 arguments (condition, then, else), got {len(node.args)}", node.col, "expr.arity")
        cond, then, other = (self.check(a) for a in node.args)
        if cond.kind not in (Kind.BOOLEAN, Kind.NULL):
            raise _fail(f"if() needs a condition (true/false) first, got {cond.out.shown}", cond.col)
        if Kind.NULL not in (then.kind, other.kind) and then.kind is not other.kind:
            raise _fail(f"if() branches must have one type: {then.out.shown} and {other.out.shown}", other.col)
        if Kind.LIST in (then.kind, other.kind):
            raise _fail("if() branches cannot be lists", then.col)
        kind = other.kind if then.kind is Kind.NULL else then.kind
        lengths = (then.out.length, other.out.length)
        out = Out(
            kind,
            then.out.nullable or other.out.nullable,
            max(then.out.scale, other.out.scale),
            None if None in lengths else max(x for x in lengths if x is not None),
        )
        return TIf(node.col, out, cond, then, other)

    def _record_fn(self, node: Call, name: str) -> Typed:
        if self.sql:
            raise _fail(f"{name}() looks at an update of one record; it has no SQL form", node.col, "expr.no_sql")
        if len(node.args) != 1 or not isinstance(node.args[0], Path) or len(self.frames) > 1:
            raise _fail(f"{name}() takes one field of the record, like {name}(stage)", node.col, "expr.arity")
        field_ = self.check(node.args[0])
        assert isinstance(field_, TField)
        if len(field_.path) > 1:
            raise _fail(f"{name}() takes a field of the record itself, not a related path", field_.col)
        out = Out(Kind.BOOLEAN, nullable=False) if name == "changed" else field_.out
        return TRecordFn(node.col, out, name, field_.path)

    def _aggregate(self, node: Call, name: str, items: TypeScope) -> Typed:
        collection = node.args[0]
        assert isinstance(collection, Path)
        coll = collection.parts[0]
        rest = node.args[1:]
        if (name == "count" and len(rest) > 1) or (name != "count" and len(rest) not in (1, 2)):
            usage = f"count({coll}[, filter])" if name == "count" else f"{name}({coll}, value[, filter])"
            raise _fail(f"{name}() is used as {usage}", node.col, "expr.arity")
        key = items.field(("id",))
        if key is not None and not key.readable:  # the reader may not read these records at all
            raise _fail(f"you may not read the records of '{coll}'", collection.col, "expr.forbidden")
        alias = node.alias or coll[0]
        self.frames.append(_Frame(alias, items))
        try:
            frame = len(self.frames) - 1
            value = self.check(rest[0]) if name != "count" else None
            where_node = rest[-1] if (name == "count" and rest) or len(rest) == 2 else None
            where = self.check(where_node) if where_node is not None else None
        finally:
            self.frames.pop()
        if where is not None and where.kind not in (Kind.BOOLEAN, Kind.NULL):
            raise _fail(f"the filter of {name}() must be true/false, got {where.out.shown}", where.col)
        if name == "count":
            out = Out(Kind.NUMBER, nullable=False)
        elif name in ("sum", "avg"):
            assert value is not None
            if value.kind not in (Kind.NUMBER, Kind.NULL):
                raise _fail(f"{name}() adds numbers, got {value.out.shown}", value.col)
            out = Out(Kind.NUMBER, name == "avg", DIVISION_SCALE if name == "avg" else value.out.scale)
        else:
            assert value is not None
            if value.kind not in (*_ORDERED, Kind.NULL):
                raise _fail(f"{name}() needs numbers, text or dates, got {value.out.shown}", value.col)
            out = Out(value.kind, True, value.out.scale, value.out.length, label=value.out.label)
        return TAggregate(node.col, out, name, coll, frame, value, where)


def check(
    node: Node,
    scope: TypeScope,
    functions: FunctionRegistry,
    *,
    expected: Kind | None = None,
    limits: Limits = DEFAULT_LIMITS,
    sql: bool = False,
) -> Typed:
    """Type-check `node` against `scope`. `expected` is the kind the result must have (null is
    accepted); `sql=True` refuses anything without a SQL form; beyond `limits.max_cost` the
    expression is refused as `expr.too_costly`. Raises `ExprError`."""
    typed = Checker(scope, functions, limits, sql).check(node)
    if expected is not None and typed.kind not in (expected, Kind.NULL):
        raise _fail(f"expected {expected.value}, got {typed.out.shown}", node.col)
    if limits.max_cost is not None:
        cost = expression_cost(typed)
        if cost > limits.max_cost:
            raise _fail(
                f"{limits.cost_owner} may cost at most {limits.max_cost} per row; this one costs {cost} "
                "(an arithmetic operator costs 10, a function 5, a lookup step 3, a collection 10 per item: "
                "docs/expressions.md, Limits)",
                node.col,
                "expr.too_costly",
            )
    return typed
