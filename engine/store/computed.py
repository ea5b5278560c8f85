"""Formulas and rules at run time: compiled once per object, evaluated on every write.

Python evaluation sees a record through `RowView` (lookups and collections are loaded from the
database on demand, once per write); SQL evaluation sees a table through `TableScope`. Formulas
and rules that aggregate over collections are evaluated after the record's lines are written.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, and_, false, select
from sqlalchemy.sql import FromClause

from engine.blueprint.model import App, FieldDef, ObjectDef, RuleDef
from engine.blueprint.scope import ObjectScope, collections_of
from engine.errors import ExprError, FieldProblem, InputInvalid
from engine.expr import FunctionRegistry, Kind, SqlCollection, Typed, builtin_functions, check, parse, to_python, to_sql
from engine.expr.typed import TAggregate, TCall, TField, nodes
from engine.store.access import READ, Access

if TYPE_CHECKING:
    from engine.store.records import Store

Evaluate = Callable[[Any], Any]


def own_fields(typed: Any) -> set[str]:
    """Names of the record's own fields an expression reads (frame 0, first step of the path)."""
    return {n.path[0] for n in nodes(typed) if isinstance(n, TField) and n.frame == 0}


def uses_collections(typed: Any) -> bool:
    """Whether a typed expression aggregates over child or related records."""
    return any(isinstance(n, TAggregate) for n in nodes(typed))


@dataclass
class Compiled:
    typed: Typed
    run: Evaluate
    aggregates: bool


@dataclass
class ObjectLogic:
    """The compiled formulas and rules of one object."""

    stored: list[tuple[FieldDef, Compiled]] = field(default_factory=list)
    virtual: dict[str, Compiled] = field(default_factory=dict)
    rules: list[tuple[RuleDef, Compiled]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.stored or self.virtual or self.rules)

    @property
    def has_aggregates(self) -> bool:
        return any(c.aggregates for _, c in self.stored) or any(c.aggregates for _, c in self.rules)


def compile_logic(app: App, types: Any, functions: FunctionRegistry | None = None) -> dict[str, ObjectLogic]:
    """Compile every formula and rule of `app` (already type-checked when the blueprint loaded)."""
    functions = functions or builtin_functions()
    out: dict[str, ObjectLogic] = {}
    for obj in app.objects:
        scope = ObjectScope(app, obj, types)
        logic = ObjectLogic()
        for f in obj.formula_fields:
            compiled = _compile(str(f.settings["expression"]), scope, functions, None)
            if f.column is None:
                logic.virtual[f.name] = compiled
            else:
                logic.stored.append((f, compiled))
        for rule in obj.rules:
            logic.rules.append((rule, _compile(rule.when, scope, functions, Kind.BOOLEAN)))
        _after_lines(logic)
        out[obj.name] = logic
    return out


def _after_lines(logic: ObjectLogic) -> None:
    """Whatever reads a formula that aggregates over lines must itself wait for the lines."""
    formulas = {f.name: c for f, c in logic.stored} | logic.virtual
    changed = True
    while changed:
        changed = False
        waiting = {name for name, c in formulas.items() if c.aggregates}
        for c in [*formulas.values(), *(c for _, c in logic.rules)]:
            if not c.aggregates and own_fields(c.typed) & waiting:
                c.aggregates = True
                changed = True


def _compile(text: str, scope: ObjectScope, functions: FunctionRegistry, expected: Kind | None) -> Compiled:
    typed = check(parse(text), scope, functions, expected=expected)
    return Compiled(typed, to_python(typed), uses_collections(typed))


class Loader:
    """Rows needed while evaluating one write, loaded once each."""

    def __init__(self, store: Store, conn: Connection, *, key_share: bool = False) -> None:
        self.store = store
        self.conn = conn
        # Creating: read lookups with the key-share lock the new row's foreign key takes anyway, so
        # a concurrent change of them (and its recomputing, which cannot see this row) goes first.
        self.key_share = key_share and conn.dialect.name == "postgresql"
        self._rows: dict[tuple[str, int], Mapping[str, Any] | None] = {}
        self._items: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}

    def row(self, obj: str, record_id: int) -> Mapping[str, Any] | None:
        key = (obj, record_id)
        if key not in self._rows:
            table = self.store.tables[obj]
            stmt = select(table).where(table.c.id == record_id)
            if self.key_share:
                stmt = stmt.with_for_update(read=True, key_share=True)
            found = self.conn.execute(stmt).mappings().first()
            self._rows[key] = dict(found) if found is not None else None
        return self._rows[key]

    def items(self, obj: ObjectDef, name: str, record_id: int) -> list[Mapping[str, Any]]:
        key = (obj.name, name, record_id)
        if key not in self._items:
            item_obj, back = collections_of(self.store.app, obj)[name]
            table = self.store.tables[item_obj.name]
            rows = self.conn.execute(select(table).where(table.c[back] == record_id).order_by(table.c.id))
            self._items[key] = [dict(r) for r in rows.mappings()]
        return self._items[key]

    def forget(self, obj: str, record_id: int) -> None:
        self._rows.pop((obj, record_id), None)
        self._items = {k: v for k, v in self._items.items() if (k[0], k[2]) != (obj, record_id)}


class RowView:
    """One record's values (by column) for the Python backend; implements `RecordView`."""

    def __init__(
        self, loader: Loader, obj: ObjectDef, values: Mapping[str, Any], previous: Mapping[str, Any] | None = None
    ) -> None:
        self.loader = loader
        self.obj = obj
        self.values = values
        self.before = previous or {}
        self.fields = {f.name: f for f in obj.fields}

    def _column(self, name: str) -> str:
        f = self.fields.get(name)
        return f.column or name if f is not None else name

    def value(self, path: tuple[str, ...]) -> Any:
        name = path[0]
        f = self.fields.get(name)
        if f is not None and f.type == "formula" and f.column is None:
            # as a stored formula would hold it (the SQL side gives the same: `TableScope.column`)
            value = self.loader.store.types["formula"].fit(
                f, self.loader.store.logic[self.obj.name].virtual[name].run(self)
            )
        else:
            value = self.values.get(self._column(name))
        if len(path) == 1:
            return value
        target = (
            f.target if f is not None and f.type == "lookup" else self.obj.parent if name == self.obj.parent else None
        )
        record_id = self.values.get(f"{name}_id") if target else None
        if target is None or record_id is None:
            return None
        row = self.loader.row(target, int(record_id))
        if row is None:
            return None
        return RowView(self.loader, self.loader.store.app.object(target), row).value(path[1:])

    def items(self, collection: str) -> Iterable[RowView]:
        record_id = self.values.get("id")
        if record_id is None:
            return []
        item_obj = collections_of(self.loader.store.app, self.obj)[collection][0]
        return [RowView(self.loader, item_obj, r) for r in self.loader.items(self.obj, collection, int(record_id))]

    def previous(self, path: tuple[str, ...]) -> Any:
        return self.before.get(self._column(path[0]))


def compute_formulas(
    store: Store,
    loader: Loader,
    obj: ObjectDef,
    values: dict[str, Any],
    previous: Mapping[str, Any] | None,
    *,
    aggregates: bool,
) -> dict[str, Any]:
    """Stored formula values that differ from `values` (local ones, or those over collections)."""
    logic = store.logic[obj.name]
    changed: dict[str, Any] = {}
    ftype = store.types["formula"]
    for _ in range(max(1, len(logic.stored))):  # formulas may use each other: settle in a few passes
        moved = False
        for f, compiled in logic.stored:
            if compiled.aggregates and not aggregates:
                continue  # needs the lines: computed once they are written
            value = ftype.fit(f, compiled.run(RowView(loader, obj, values, previous)))
            if values.get(str(f.column)) != value:
                values[str(f.column)] = value
                changed[str(f.column)] = value
                moved = True
        if not moved:
            break
    return changed


def broken_rules(
    store: Store,
    loader: Loader,
    obj: ObjectDef,
    values: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    loc: tuple[str | int, ...],
    *,
    aggregates: bool,
) -> list[FieldProblem]:
    """Problems for every rule of `obj` whose `when` is true (null counts as false)."""
    problems = []
    for rule, compiled in store.logic[obj.name].rules:
        if compiled.aggregates != aggregates:
            continue
        if compiled.run(RowView(loader, obj, values, previous)) is True:
            where = (*loc, rule.field) if rule.field else loc
            problems.append(FieldProblem(where, rule.message.en, f"rule.{rule.name}", rule.message.as_dict()))
    return problems


# -- SQL ---------------------------------------------------------------------------------------------
class TableScope:
    """SQL for expressions over one object's table (or an alias of it); implements `SqlScope`.

    With `access` (an expression a user wrote, such as `filter=`), related records are read as
    that user reads them: a lookup to a record outside their scope is empty and a collection
    holds only the records they may read. Without it (formulas, rules, role scopes: the
    blueprint's own expressions) every row counts. Virtual formulas are the blueprint's, so they
    are computed over every row either way: a filter on one agrees with the value shown."""

    def __init__(self, store: Store, obj: ObjectDef, table: FromClause, access: Access | None = None) -> None:
        self.store = store
        self.obj = obj
        self.table = table
        self.access = access
        self.fields = {f.name: f for f in obj.fields}

    @property
    def dialect(self) -> str:
        return self.store.db.dialect

    def column(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        name = path[0]
        f = self.fields.get(name)
        if len(path) == 1:
            if f is not None and f.type == "formula" and f.column is None:
                typed = self.store.logic[self.obj.name].virtual[name].typed
                system = self if self.access is None else TableScope(self.store, self.obj, self.table)
                return to_sql(typed, system, places=self.store.types["formula"].places(f))
            col: ColumnElement[Any] = self.table.c[f.column or name if f is not None else name]
            return col
        target = f.target if f is not None and f.type == "lookup" else self.obj.parent
        target_obj = self.store.app.object(str(target))
        alias = self.store.tables[target_obj.name].alias()
        inner = TableScope(self.store, target_obj, alias, self.access)
        query = select(inner.column(path[1:])).where(alias.c.id == self.table.c[f"{name}_id"])
        reachable = self._reachable(target_obj, alias)
        if reachable is not None:
            query = query.where(reachable)
        return query.scalar_subquery()

    def collection(self, name: str) -> SqlCollection:
        item_obj, back = collections_of(self.store.app, self.obj)[name]
        alias = self.store.tables[item_obj.name].alias()
        where: ColumnElement[bool] = alias.c[back] == self.table.c.id
        reachable = self._reachable(item_obj, alias)
        if reachable is not None:
            where = and_(where, reachable)
        return SqlCollection(alias, where, TableScope(self.store, item_obj, alias, self.access))

    def _reachable(self, obj: ObjectDef, alias: FromClause) -> ColumnElement[bool] | None:
        """The rows of a related object the user may read (None: all, or no user)."""
        if self.access is None:
            return None
        if not self.access.may(obj.name, READ):
            return false()
        return self.access.rows(obj.name, READ, alias)


def reads_clock(typed: Any) -> bool:
    """Whether an expression calls today() or now(), so its SQL must be built afresh each time."""
    return any(isinstance(n, TCall) and n.fn.name in ("today", "now") for n in nodes(typed))


def _readable(access: Access) -> Callable[[str, str], bool]:
    def readable(object_name: str, field_name: str) -> bool:
        return access.may(object_name, READ) and field_name not in access.hidden(object_name)

    return readable


class FilterCache:
    """Checked filter expressions by (object, text, field mask): a repeated filter skips parse and
    type-check. The SQL is built per request, since it carries the reader's own row scopes."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Typed] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Typed | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, typed: Typed) -> None:
        with self._lock:
            self._items[key] = typed
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def sql_filter(
    store: Store, obj: ObjectDef, text: str, param: str = "filter", *, access: Access | None = None
) -> ColumnElement[bool]:
    """A WHERE condition from a filter expression given in a request; 422 with the position if bad.

    With `access`, the expression sees what the user sees: a field hidden from them, or any field
    or collection of an object they may not read, is refused (`expr.forbidden`), and related
    records (lookups, collections) are only those in their read scope — so nothing can be
    counted, summed or inferred through a filter that the user could not list."""
    key = (obj.name, text, None if access is None else access.key)
    typed = store.filters.get(key)
    try:
        if typed is None:
            readable = None if access is None else _readable(access)
            typed = check(
                parse(text, store.expr_limits),
                ObjectScope(store.app, obj, store.types, readable),
                store.functions,
                expected=Kind.BOOLEAN,
                sql=True,
                limits=store.expr_limits,
            )
            store.filters.put(key, typed)
        condition: ColumnElement[bool] = to_sql(typed, TableScope(store, obj, store.tables[obj.name], access))
    except ExprError as exc:
        where = f"col {exc.col}: " if exc.col else ""
        raise InputInvalid([FieldProblem(("query", param), f"{where}{exc.message}", exc.code)]) from None
    return condition
