"""Fields named in list and aggregate requests, resolved against the blueprint before any SQL.

A request names stored fields by column (`amount`, `account_id`, `created_at`), virtual formulas by
name (`won_value`) and, where allowed, fields of linked records by path (`account.industry`). Each
becomes a `FieldRef`: the SQL reading it and how its values compare and order on each database.
Values are parsed by the field's type and bound as parameters: nothing from a request reaches SQL
as text. SQLite holds decimals as scaled integers, and numbers computed by formulas as scaled
integers or decimal text; both compare and sort in exact numeric order here.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, and_, func, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import FromClause

from engine.blueprint.model import FieldDef, Label, ObjectDef
from engine.errors import FieldProblem, InputInvalid
from engine.expr.numbers import places
from engine.expr.sqlvalue import ScaledNumber, TextNumber
from engine.store.access import READ, Access
from engine.types.base import DECIMAL_DIGITS

if TYPE_CHECKING:
    from engine.store.records import Store

SYSTEM_INTS = ("id", "version", "owner_id", "created_by", "position")
SYSTEM_TIMES = ("created_at", "updated_at")
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "isnull")
_RANGE_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull")
_SYSTEM_METRICS = frozenset({"min", "max"})
#: Lookups a path may follow (`contact.account.industry` follows two).
MAX_HOPS = 3
_SYSTEM_FIELD = FieldDef(name="system", type="integer", label=Label(en="system"))


@dataclass(frozen=True)
class Condition:
    """`key op value`, as given in a request (`amount__gt=50000`); `param` names it in errors."""

    key: str
    op: str
    value: Any
    param: str = ""


@dataclass(frozen=True)
class FieldRef:
    """A field named in a request: the SQL that reads it and how its values compare and order."""

    key: str
    expr: ColumnElement[Any]
    #: The object holding the field and its column (or virtual formula name): for JSON values.
    obj: ObjectDef
    column: str
    field: FieldDef | None
    #: The expression-language kind of its values: number, text, date, datetime, boolean, list.
    kind: str
    #: SQLite numbers computed in a query: "scaled" (integer times 10**scale) or "text" (decimal
    #: text); "plain" everywhere else (the column's type binds and orders its values).
    form: str = "plain"
    scale: int = 0
    nullable: bool = True
    sortable: bool = True
    metrics: frozenset[str] = frozenset()
    ops: tuple[str, ...] = _RANGE_OPS

    @property
    def virtual(self) -> bool:
        return self.field is not None and self.field.type == "formula" and self.field.column is None

    def order(self) -> ColumnElement[Any]:
        """What to ORDER BY for this field's order (decimal text: a key in numeric order)."""
        return func.lw_order_key(self.expr) if self.form == "text" else self.expr

    def among(self, values: list[Any]) -> ColumnElement[bool]:
        """`field IN (values)`."""
        if self.form == "plain" and not (self.virtual and self.kind == "number"):
            return self.expr.in_(values)
        return or_(*(self.compare("eq", v) for v in values))

    def compare(self, op: str, value: Any) -> ColumnElement[bool]:
        """`field op value` for eq, ne, gt, gte, lt, lte; `ne` also matches empty values."""
        if self.form == "plain":
            left, right = self.expr, value
            if self.virtual and self.kind == "number":  # NUMERIC read through a text type: bind a NUMERIC
                right = sa.literal(value, sa.Numeric())
            elif isinstance(value, bool):  # SQLAlchemy reads a bare True as IS TRUE, which has no order
                right = sa.literal(value, sa.Boolean())
        elif self.form == "scaled" and places(value) <= self.scale:
            left, right = self.expr, sa.literal(int(value.scaleb(self.scale)), sa.BigInteger())
        else:
            text = self.expr if self.form == "text" else func.lw_num(self.expr, self.scale, type_=sa.String())
            left, right = func.lw_cmp(text, str(value), type_=sa.Integer()), sa.literal(0, sa.Integer())
        if op == "ne":
            return or_(left != right, self.expr.is_(None))
        return _COMPARE[op](left, right)


_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def nul_problems(params: Iterable[tuple[str, Any]]) -> list[FieldProblem]:
    """One 422 per query parameter holding a NUL character (PostgreSQL cannot bind one; no field
    may hold one), decided before anything else on every database."""
    out: list[FieldProblem] = []
    for param, value in params:
        texts = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts) and all(p.loc[-1] != param for p in out):
            out.append(FieldProblem(("query", param), "must not contain NUL characters", "query.bad_value"))
    return out


def refuse_nul(params: Iterable[tuple[str, Any]]) -> None:
    """Raise InputInvalid for the parameters holding a NUL character (see `nul_problems`)."""
    problems = nul_problems(params)
    if problems:
        raise InputInvalid(problems)


def condition_params(conditions: Sequence[Condition]) -> Iterable[tuple[str, Any]]:
    """(parameter, text) for the names and values of field filters."""
    for c in conditions:
        yield c.param or c.key, c.key
        yield c.param or c.key, c.value


@dataclass
class _Join:
    alias: FromClause
    on: ColumnElement[bool]


class Resolver:
    """Resolves the request keys of one object (as one user sees it) and parses values for them.

    Problems are collected, so every bad parameter of a request is reported at once."""

    def __init__(self, store: Store, obj: ObjectDef, access: Access | None = None) -> None:
        self.store = store
        self.obj = obj
        self.access = access
        self.table = store.tables[obj.name]
        self.problems: list[FieldProblem] = []
        #: LEFT JOINs that paths need, by path prefix (`account`, `account.parent_account`).
        self.joins: dict[str, _Join] = {}
        self._hidden: dict[str, frozenset[str]] = {}

    def hidden(self, obj: ObjectDef) -> frozenset[str]:
        if self.access is None:
            return frozenset()
        if obj.name not in self._hidden:
            self._hidden[obj.name] = self.access.hidden(obj.name)
        return self._hidden[obj.name]

    def is_hidden(self, obj: ObjectDef, key: str) -> bool:
        hidden = self.hidden(obj)
        if not hidden:
            return False
        f = _field_by_key(obj, key)
        return key in hidden or (f is not None and f.name in hidden)

    def fail(self, param: str, message: str, code: str) -> None:
        self.problems.append(FieldProblem(("query", param), message, code))

    def check(self) -> None:
        """Raise InputInvalid with every problem found so far."""
        if self.problems:
            raise InputInvalid(self.problems)

    # -- names -> FieldRefs --------------------------------------------------------------------------
    def ref(self, key: str, param: str, *, paths: bool = False) -> FieldRef | None:
        """The field `key` names (a path through lookups when `paths`); None after a problem."""
        if paths and "." in key:
            return self._path(key, param)
        return self._local(self.obj, self.table, key, key, param, nullable=None)

    def _local(
        self, obj: ObjectDef, table: FromClause, key: str, shown: str, param: str, *, nullable: bool | None
    ) -> FieldRef | None:
        if self.is_hidden(obj, key):
            self.fail(param, f"you may not read the field '{shown[:64]}'", "query.forbidden_field")
            return None
        f = _field_by_key(obj, key)
        types = self.store.types
        if f is not None and f.type == "formula" and f.column is None:
            expr = self.store.virtual_columns(obj, table)[f.name].element
            form, scale = self._number_form(expr)
            ftype = types["formula"]
            return FieldRef(
                shown, expr, obj, f.name, f, ftype.result(f), form, scale, True,
                ftype.sortable, ftype.metrics_for(f), ftype.filter_ops,
            )  # fmt: skip
        if f is not None and f.column is not None and f.type != "child_table":
            col = table.c[f.column]
            ftype = types[f.type]
            kind = ftype.result(f) if f.type == "formula" else ftype.expr_type
            return FieldRef(
                shown, col, obj, f.column, f, kind, "plain", 0, col.nullable if nullable is None else nullable,
                ftype.sortable, ftype.metrics_for(f), ftype.filter_ops,
            )  # fmt: skip
        system = (*SYSTEM_INTS, *SYSTEM_TIMES, *((obj.parent_column,) if obj.parent_column else ()))
        if key in system and key in table.c:  # a line's parent id too: `quote_line?quote_id=5`
            col = table.c[key]
            kind = "datetime" if key in SYSTEM_TIMES else "number"
            null = col.nullable if nullable is None else nullable
            return FieldRef(shown, col, obj, key, None, kind, nullable=bool(null), metrics=_SYSTEM_METRICS)
        choices = [k for k in _keys(obj) if not self.is_hidden(obj, k)]
        choices += [c for c in system if c in table.c]
        close = difflib.get_close_matches(key, choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        where = "" if obj is self.obj else f" of {obj.name}"
        self.fail(param, f"unknown field '{key[:64]}'{where}{hint}", "query.unknown_field")
        return None

    def _number_form(self, expr: ColumnElement[Any]) -> tuple[str, int]:
        if not self.store.db.is_sqlite:
            return "plain", 0
        if isinstance(expr.type, ScaledNumber):
            return "scaled", expr.type.scale
        if isinstance(expr.type, TextNumber):
            return "text", 0
        return "plain", 0

    def _path(self, key: str, param: str) -> FieldRef | None:
        """`account.industry`: a field of a linked record, read through LEFT JOINs. A lookup the
        user may not read, an object they may not read and a hidden field are refused; a linked
        record outside their row scope reads as empty."""
        steps = key.split(".")
        if len(steps) - 1 > MAX_HOPS or not all(steps):
            self.fail(param, f"'{key[:64]}': a path follows 1 to {MAX_HOPS} lookups", "query.unknown_field")
            return None
        obj: ObjectDef = self.obj
        table: FromClause = self.table
        for i, step in enumerate(steps[:-1]):
            link = _link(obj, step)
            if link is None:
                self.fail(param, f"'{step[:64]}' is not a lookup of {obj.name}", "query.unknown_field")
                return None
            target_name, column = link
            if self.is_hidden(obj, step) or self.is_hidden(obj, column):
                self.fail(param, f"you may not read the field '{step}'", "query.forbidden_field")
                return None
            if self.access is not None and not self.access.may(target_name, READ):
                self.fail(param, f"you may not read {target_name} records", "query.forbidden_field")
                return None
            prefix = ".".join(steps[: i + 1])
            join = self.joins.get(prefix)
            if join is None:
                join = self._join(target_name, table.c[column])
                self.joins[prefix] = join
            obj, table = self.store.app.object(target_name), join.alias
        return self._local(obj, table, steps[-1], key, param, nullable=True)

    def _join(self, target: str, reference: ColumnElement[Any]) -> _Join:
        real = self.store.tables[target]
        alias = real.alias()
        on = alias.c.id == reference
        scope = None if self.access is None else self.access.rows(target, READ, real)
        if scope is not None:
            # The scope is built on the real table; the alias joins only the rows it selects.
            on = and_(on, alias.c.id.in_(select(real.c.id).where(scope).correlate(None)))
        return _Join(alias, on)

    def joined(self) -> FromClause:
        """The object's table with the LEFT JOINs its paths need."""
        source: FromClause = self.table
        for join in self.joins.values():
            source = source.outerjoin(join.alias, join.on)
        return source

    # -- values --------------------------------------------------------------------------------------
    def parse(self, ref: FieldRef, raw: Any, param: str) -> Any:
        """`raw` (query text or JSON) as a value of the field, or None after a problem."""
        try:
            if ref.virtual and ref.kind == "number":
                return _decimal(raw)
            if ref.field is not None:
                ftype = self.store.types[ref.field.type]
                return ftype.parse_text(ref.field, raw) if isinstance(raw, str) else ftype.parse(ref.field, raw)
            if ref.column in SYSTEM_TIMES:
                return self.store.types["datetime"].parse(_SYSTEM_FIELD, raw)
            value = self.store.types["integer"].parse(_SYSTEM_FIELD, raw)
            if ref.column in ("version", "position") and not -(2**31) <= value < 2**31:  # 32-bit columns
                raise ValueError("number out of range")
            return value
        except ValueError as exc:
            self.fail(param, f"{ref.key[:64]}: {exc}", "query.bad_value")
        except ArithmeticError:  # decimal.Overflow: an exponent past anything a field holds
            self.fail(param, f"{ref.key[:64]}: number out of range", "query.bad_value")
        return None

    def flag(self, raw: Any, param: str) -> bool | None:
        """A yes/no parameter (`isnull=true`); None after a problem."""
        if isinstance(raw, bool):
            return raw
        try:
            return bool(self.store.types["boolean"].parse_text(_SYSTEM_FIELD, str(raw)))
        except ValueError as exc:
            self.fail(param, str(exc), "query.bad_value")
            return None

    # -- field filters -------------------------------------------------------------------------------
    def conditions(self, conditions: Sequence[Condition]) -> list[ColumnElement[bool]]:
        return [c for c in (self._condition(cond) for cond in conditions) if c is not None]

    def _condition(self, cond: Condition) -> ColumnElement[bool] | None:
        param = cond.param or cond.key
        ref = self.ref(cond.key, param)
        if ref is None:
            return None
        if cond.op not in OPERATORS:
            known = ", ".join(OPERATORS)
            self.fail(param, f"unknown operator '{cond.op[:32]}' (use one of {known})", "query.unknown_op")
            return None
        if cond.op not in ref.ops:
            self.fail(param, f"operator '{cond.op}' does not apply to '{cond.key}'", "query.bad_op")
            return None
        if cond.op == "isnull":
            flag = self.flag(cond.value, param)
            return None if flag is None else ref.expr.is_(None) if flag else ref.expr.is_not(None)
        if cond.op == "in":
            raws = cond.value.split(",") if isinstance(cond.value, str) else list(cond.value)
            if not raws or len(raws) > 500:
                self.fail(param, "give between 1 and 500 comma-separated values", "query.bad_value")
                return None
            values = [self.parse(ref, v, param) for v in raws]
            return None if any(v is None for v in values) else ref.among(values)
        if cond.op in ("contains", "startswith") and ref.field is not None and ref.field.type == "multi_select":
            option = self.parse(ref, str(cond.value), param)  # an option id, or a located did-you-mean
            return None if option is None else self._json_contains(ref.expr, option)
        if cond.op in ("contains", "startswith"):
            text = str(cond.value)
            matched: ColumnElement[bool] = (
                ref.expr.icontains(text, autoescape=True)
                if cond.op == "contains"
                else ref.expr.istartswith(text, autoescape=True)
            )
            return matched
        value = self.parse(ref, cond.value, param)
        return None if value is None else ref.compare(cond.op, value)

    def _json_contains(self, col: ColumnElement[Any], option: str) -> ColumnElement[bool]:
        if self.store.db.is_sqlite:
            each = func.json_each(col).table_valued("value")
            return select(each.c.value).where(each.c.value == option).exists()
        return type_coerce(col, JSONB).contains([option])

    def expression_filter(self, text: str) -> ColumnElement[bool]:
        """`filter=`: a boolean expression over the object (see engine.store.computed.sql_filter)."""
        from engine.store.computed import sql_filter

        try:
            return sql_filter(self.store, self.obj, text, access=self.access)
        except InputInvalid as exc:
            self.problems.extend(exc.problems)
            return true()

    def scopes(self, scope: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
        """The caller's extra condition and the user's row scope on the object."""
        out = [] if scope is None else [scope]
        rows = None if self.access is None else self.access.rows(self.obj.name, READ, self.store.tables[self.obj.name])
        return out if rows is None else [*out, rows]


def where_clause(store: Store, obj: ObjectDef, conditions: Sequence[Condition]) -> list[ColumnElement[bool]]:
    """SQL conditions for request filters; raises InputInvalid listing every bad one."""
    refuse_nul(condition_params(conditions))
    r = Resolver(store, obj)
    out = r.conditions(conditions)
    r.check()
    return out


def _keys(obj: ObjectDef) -> list[str]:
    """The names requests use for an object's fields: columns, and virtual formulas by name."""
    return [f.column or f.name for f in obj.fields if f.type != "child_table"]


def _field_by_key(obj: ObjectDef, key: str) -> FieldDef | None:
    for f in obj.fields:
        if f.type != "child_table" and (f.column or f.name) == key:
            return f
    return None


def _link(obj: ObjectDef, step: str) -> tuple[str, str] | None:
    """(target object, reference column) of a lookup field or of a line's parent, by name."""
    if obj.parent is not None and step == obj.parent:
        return obj.parent, f"{obj.parent}_id"
    if obj.has_field(step):
        f = obj.field(step)
        if f.type == "lookup" and f.target is not None:
            return f.target, f"{step}_id"
    return None


def _decimal(raw: Any) -> Decimal:
    """A number for comparing with a computed one (any places; JSON number or decimal text)."""
    if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
        raise ValueError("expected a number")
    try:
        value = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"expected a number, got '{str(raw)[:40]}'") from None
    if not value.is_finite() or value.adjusted() >= 2 * DECIMAL_DIGITS or places(value) > 2 * DECIMAL_DIGITS:
        raise ValueError("expected a finite number of at most 36 digits before and after the point")
    return value
