"""Lists and aggregates: field filters, sorting, keyset cursors, field selection, totals.

Every filter and sort key is resolved against the blueprint before any SQL is built, values are
parsed by their field type and bound as parameters: nothing from a request reaches SQL as text.
Empty values sort last in both directions, on every database.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cmp_to_key, partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import Select

from engine.blueprint.model import FieldDef, Label, ObjectDef
from engine.errors import FieldProblem, InputInvalid
from engine.store.access import READ, Access, require

if TYPE_CHECKING:
    from sqlalchemy import Column, Connection, Table

    from engine.store.records import Store

MAX_LIMIT = 1000
DEFAULT_LIMIT = 25
_SYSTEM_INTS = ("id", "version", "owner_id", "created_by", "position")
_SYSTEM_TIMES = ("created_at", "updated_at")
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "isnull")
METRICS = ("count", "sum", "avg", "min", "max")


@dataclass(frozen=True)
class Condition:
    """`key op value`, as given in a request (`amount__gt=50000`); `param` names it in errors."""

    key: str
    op: str
    value: Any
    param: str = ""


@dataclass
class ListQuery:
    conditions: list[Condition] = field(default_factory=list)
    sort: list[str] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    fields: list[str] | None = None
    total: bool = False
    filter: str | None = None
    #: Type-ahead: records whose title field contains this text (case-insensitive).
    search: str | None = None


@dataclass
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None


class _Resolver:
    """Resolves request keys of one object to columns and parses values for them."""

    def __init__(self, store: Store, obj: ObjectDef, access: Access | None = None) -> None:
        self.store = store
        self.obj = obj
        self.access = access
        self.table: Table = store.tables[obj.name]
        self.fields = {(f.column or f.name): f for f in obj.stored_fields}
        self.hidden = access.hidden(obj.name) if access is not None else frozenset()
        self.problems: list[FieldProblem] = []

    def is_hidden(self, key: str) -> bool:
        f = self.fields.get(key)
        return key in self.hidden or (f is not None and f.name in self.hidden)

    def fail(self, param: str, message: str, code: str) -> None:
        self.problems.append(FieldProblem(("query", param), message, code))

    def column(self, key: str, param: str, *, for_sort: bool = False) -> Column[Any] | None:
        f = self.fields.get(key)
        if self.hidden and self.is_hidden(key):
            self.fail(param, f"you may not read the field '{key}'", "query.forbidden_field")
            return None
        if key in self.table.c and (f is not None or key in _SYSTEM_INTS or key in _SYSTEM_TIMES):
            if f is not None and for_sort and not self.store.types[f.type].sortable:
                self.fail(param, f"cannot sort by '{key}' ({f.type})", "query.not_sortable")
                return None
            return self.table.c[key]
        choices = list(self.fields) + [c for c in (*_SYSTEM_INTS, *_SYSTEM_TIMES) if c in self.table.c]
        close = difflib.get_close_matches(key, choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        self.fail(param, f"unknown field '{key[:64]}'{hint}", "query.unknown_field")
        return None

    def parse(self, key: str, raw: Any, param: str) -> Any:
        f = self.fields.get(key)
        try:
            if f is not None:
                ftype = self.store.types[f.type]
                value = ftype.parse_text(f, raw) if isinstance(raw, str) else ftype.parse(f, raw)
                return value
            if key in _SYSTEM_TIMES:
                return self.store.types["datetime"].parse(_SYSTEM_FIELD, raw)
            return self.store.types["integer"].parse(_SYSTEM_FIELD, raw)
        except ValueError as exc:
            self.fail(param, f"{key}: {exc}", "query.bad_value")
            return None

    def ops(self, key: str) -> tuple[str, ...]:
        f = self.fields.get(key)
        if f is None:
            return ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull")
        ops: tuple[str, ...] = self.store.types[f.type].filter_ops
        return ops


_SYSTEM_FIELD = FieldDef(name="system", type="integer", label=Label(en="system"))


def where_clause(store: Store, obj: ObjectDef, conditions: Sequence[Condition]) -> list[ColumnElement[bool]]:
    """SQL conditions for request filters; raises InputInvalid listing every bad one."""
    r = _Resolver(store, obj)
    out = _conditions(r, conditions)
    if r.problems:
        raise InputInvalid(r.problems)
    return out


def _conditions(r: _Resolver, conditions: Sequence[Condition]) -> list[ColumnElement[bool]]:
    return [c for c in (_condition(r, cond) for cond in conditions) if c is not None]


def _condition(r: _Resolver, cond: Condition) -> ColumnElement[bool] | None:
    param = cond.param or cond.key
    col = r.column(cond.key, param)
    if col is None:
        return None
    if cond.op not in OPERATORS:
        r.fail(param, f"unknown operator '{cond.op[:32]}' (use one of {', '.join(OPERATORS)})", "query.unknown_op")
        return None
    if cond.op not in r.ops(cond.key):
        r.fail(param, f"operator '{cond.op}' does not apply to '{cond.key}'", "query.bad_op")
        return None
    if cond.op == "isnull":
        try:
            flag = (
                r.store.types["boolean"].parse_text(_SYSTEM_FIELD, str(cond.value))
                if isinstance(cond.value, str)
                else bool(cond.value)
            )
        except ValueError as exc:
            r.fail(param, f"{cond.key}__isnull: {exc}", "query.bad_value")
            return None
        return col.is_(None) if flag else col.is_not(None)
    if cond.op == "in":
        raws = cond.value.split(",") if isinstance(cond.value, str) else list(cond.value)
        if not raws or len(raws) > 500:
            r.fail(param, "give between 1 and 500 comma-separated values", "query.bad_value")
            return None
        values = [r.parse(cond.key, v, param) for v in raws]
        return col.in_(values)
    f = r.fields.get(cond.key)
    if cond.op in ("contains", "startswith") and f is not None and f.type == "multi_select":
        option = r.parse(cond.key, str(cond.value), param)
        return None if option is None else _json_contains(r, col, option)
    if cond.op in ("contains", "startswith"):
        text = str(cond.value)
        matched: ColumnElement[bool] = (
            col.icontains(text, autoescape=True) if cond.op == "contains" else col.istartswith(text, autoescape=True)
        )
        return matched
    value = r.parse(cond.key, cond.value, param)
    if value is None:
        return None
    return _COMPARE[cond.op](col, value)


_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": operator.eq,
    "ne": lambda col, value: or_(col != value, col.is_(None)),
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _json_contains(r: _Resolver, col: Column[Any], option: str) -> ColumnElement[bool]:
    if r.store.db.is_sqlite:
        each = func.json_each(col).table_valued("value")
        return select(each.c.value).where(each.c.value == option).exists()
    return type_coerce(col, JSONB).contains([option])


def _sort_keys(r: _Resolver, sort: Sequence[str]) -> list[tuple[Column[Any], bool, str]]:
    keys: list[tuple[Column[Any], bool, str]] = []
    for item in sort:
        item = item.strip()
        if not item:
            continue
        desc = item.startswith("-")
        name = item.lstrip("-+")
        col = r.column(name, "sort", for_sort=True)
        if col is not None and all(k[2] != name for k in keys):
            keys.append((col, desc, name))
    if all(k[2] != "id" for k in keys):
        keys.append((r.table.c.id, False, "id"))
    return keys


def list_records(
    store: Store,
    object_name: str,
    q: ListQuery,
    *,
    scope: ColumnElement[bool] | None = None,
    access: Access | None = None,
) -> Page:
    """One page of records matching the filters, in the requested order.

    With `access`: only rows in the user's read scope, no hidden field selected, filtered,
    sorted or returned (a hidden field named anywhere is a 422, never an empty result)."""
    obj = store.object(object_name)
    require(access, obj.name, READ)
    r = _Resolver(store, obj, access)
    if not 1 <= q.limit <= MAX_LIMIT:
        r.fail("limit", f"limit must be between 1 and {MAX_LIMIT}", "query.bad_limit")
    conditions = _conditions(r, q.conditions)
    if q.filter is not None:
        conditions.append(_expression_filter(r, q.filter))
    if q.search is not None:
        conditions += _search(r, q.search)
    base = [*conditions, *([] if scope is None else [scope])]
    conditions += _scopes(store, obj, scope, access)
    keys = _sort_keys(r, q.sort)
    columns = _selected(r, q.fields, keys)
    after = _decode_cursor(r, q.cursor, keys)
    if r.problems:
        raise InputInvalid(r.problems)
    alternatives = _alternatives(store, obj, keys, access)
    with store.db.read() as conn:
        if alternatives:
            rows = _merged(conn, columns, base, alternatives, keys, after, q.limit + 1)
        else:
            rows = _page(conn, columns, conditions, keys, after, q.limit + 1)
        total = None
        if q.total:
            total = int(conn.execute(select(func.count()).select_from(r.table).where(*conditions)).scalar_one())
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = _encode_cursor(store, obj, keys, rows[-1]) if more and rows else None
    for row in rows:
        for k in [k[2] for k in keys]:
            if q.fields is not None and k not in q.fields and k != "id":
                row.pop(k, None)
    return Page(rows, cursor, total)


MAX_SEARCH = 200


def _search(r: _Resolver, text: str) -> list[ColumnElement[bool]]:
    """`q=`: the title field contains the text (case-insensitive, `%` and `_` literal); for an
    object titled by its id, the id equals the number."""
    text = text.strip()
    if len(text) > MAX_SEARCH:
        r.fail("q", f"search text longer than {MAX_SEARCH} characters", "query.bad_value")
        return []
    if not text:
        return []
    title = r.obj.title_field
    if title == "id":
        whole = text.isascii() and text.isdigit() and len(text) < 19  # isdigit() alone takes any script's digits
        return [r.table.c.id == int(text)] if whole else [false()]
    col = r.column(str(r.obj.field(title).column or title), "q")
    return [] if col is None else [col.icontains(text, autoescape=True)]


def _scopes(
    store: Store, obj: ObjectDef, scope: ColumnElement[bool] | None, access: Access | None
) -> list[ColumnElement[bool]]:
    out = [] if scope is None else [scope]
    rows = None if access is None else access.rows(obj.name, READ, store.tables[obj.name])
    return out if rows is None else [*out, rows]


def _alternatives(
    store: Store, obj: ObjectDef, keys: list[tuple[Column[Any], bool, str]], access: Access | None
) -> list[ColumnElement[bool]] | None:
    """The user's scope as alternatives to read one by one and merge (`Access.alternatives`), when
    Python orders the sort keys as the database does: always on SQLite (binary collation), on
    PostgreSQL only without text keys (its collation is not Python's)."""
    if access is None:
        return None
    if not store.db.is_sqlite:
        try:
            if any(issubclass(k.type.python_type, str) for k, _, _ in keys):
                return None
        except NotImplementedError:
            return None
    return access.alternatives(obj.name, READ, store.tables[obj.name])


def _merged(
    conn: Connection,
    columns: list[Any],
    base: list[ColumnElement[bool]],
    alternatives: list[ColumnElement[bool]],
    keys: list[tuple[Column[Any], bool, str]],
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A page read as one ordered, limited query per alternative (each an index range that stops
    early, where one query with their OR would gather and sort every candidate), merged in Python.
    The alternatives return only the sort keys; the page's rows are then read in one query."""
    found: dict[Any, dict[str, Any]] = {}
    key_columns = [k for k, _, _ in keys]
    for alternative in alternatives:
        for row in _page(conn, key_columns, [*base, alternative], keys, after, limit):
            found.setdefault(row["id"], row)
    ids = [r["id"] for r in sorted(found.values(), key=cmp_to_key(partial(_compare, keys)))[:limit]]
    if not ids:
        return []
    id_column = next(k for k, _, name in keys if name == "id")
    rows = {m["id"]: dict(m) for m in conn.execute(select(*columns).where(id_column.in_(ids))).mappings()}
    return [rows[i] for i in ids if i in rows]


def _compare(keys: list[tuple[Column[Any], bool, str]], a: dict[str, Any], b: dict[str, Any]) -> int:
    """SQL's keyset order in Python: each key ascending or descending, empty values last."""
    for _, desc, name in keys:
        x, y = a.get(name), b.get(name)
        if x == y:
            continue
        if x is None or y is None:
            return 1 if x is None else -1
        smaller = -1 if x < y else 1
        return -smaller if desc else smaller
    return 0


def _page(
    conn: Connection,
    columns: list[Any],
    conditions: list[ColumnElement[bool]],
    keys: list[tuple[Column[Any], bool, str]],
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` rows after the cursor, in keyset order with empty values last.

    PostgreSQL reads a B-tree backwards as `DESC NULLS FIRST`, so `ORDER BY x DESC NULLS LAST` would
    sort every matching row. A descending list on a nullable first key is read in two parts there:
    the values (`x IS NOT NULL ORDER BY x DESC`: an index read backwards, stopping at `limit`), then,
    if the page is not full, the empty ones."""
    first, desc, _ = keys[0]
    if not (desc and first.nullable and conn.dialect.name == "postgresql"):
        stmt: Select[Any] = select(*columns).where(*conditions)
        if after is not None:
            stmt = stmt.where(_after(keys, after))
        order = [(k.desc() if d else k.asc()).nulls_last() for k, d, _ in keys]
        return [dict(m) for m in conn.execute(stmt.order_by(*order).limit(limit)).mappings()]
    rest = [(k.desc() if d else k.asc()).nulls_last() for k, d, _ in keys[1:]]
    rows: list[dict[str, Any]] = []
    rest_after = after[1:] if after is not None and after[0] is None else None
    if after is None or after[0] is not None:
        values = select(*columns).where(*conditions, first.is_not(None))
        if after is not None:
            values = values.where(_after(keys, after))
        rows = [dict(m) for m in conn.execute(values.order_by(first.desc(), *rest).limit(limit)).mappings()]
        if len(rows) >= limit:
            return rows
    empties = select(*columns).where(*conditions, first.is_(None))
    if rest_after is not None:
        empties = empties.where(_after(keys[1:], rest_after))
    rows += [dict(m) for m in conn.execute(empties.order_by(*rest).limit(limit - len(rows))).mappings()]
    return rows


def _is_number(store: Store, f: FieldDef) -> bool:
    ftype = store.types[f.type]
    return bool(ftype.expr_type == "number" or (f.type == "formula" and ftype.result(f) == "number"))


def _expression_filter(r: _Resolver, text: str) -> ColumnElement[bool]:
    from engine.store.computed import sql_filter

    try:
        return sql_filter(r.store, r.obj, text, access=r.access)
    except InputInvalid as exc:
        r.problems.extend(exc.problems)
        return true()


def _selected(r: _Resolver, fields: list[str] | None, keys: list[tuple[Column[Any], bool, str]]) -> list[Any]:
    virtual = r.store.virtual_columns(r.obj, r.table)
    if fields is None:
        if r.hidden:
            shown = [c for c in r.table.c if not r.is_hidden(c.key)]
            return [*shown, *(c for n, c in virtual.items() if n not in r.hidden)]
        return [*r.table.c, *virtual.values()]
    cols = {"id": r.table.c.id}
    for name in fields:
        if name in virtual and name in r.hidden:
            r.fail("fields", f"you may not read the field '{name}'", "query.forbidden_field")
            continue
        if name in virtual:
            cols[name] = virtual[name]
            continue
        col = r.column(name, "fields")
        if col is not None:
            cols[name] = col
    for col, _, name in keys:
        cols.setdefault(name, col)
    return list(cols.values())


def _after(keys: list[tuple[Column[Any], bool, str]], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the keyset order (empty values last)."""
    col, desc, _ = keys[0]
    value = values[0]
    rest = _after(keys[1:], values[1:]) if len(keys) > 1 else false()
    if value is None:
        return and_(col.is_(None), rest)
    beyond = col < value if desc else col > value
    return or_(beyond, col.is_(None), and_(col == value, rest))


def _encode_cursor(store: Store, obj: ObjectDef, keys: list[tuple[Column[Any], bool, str]], row: dict[str, Any]) -> str:
    payload = {
        "s": [("-" if d else "") + n for _, d, n in keys],
        "v": [store.codec.value_json(obj.name, n, row.get(n)) for _, _, n in keys],
    }
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(r: _Resolver, cursor: str | None, keys: list[tuple[Column[Any], bool, str]]) -> list[Any] | None:
    if not cursor:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        signature = [("-" if d else "") + n for _, d, n in keys]
        if not isinstance(payload, dict) or payload.get("s") != signature or len(payload.get("v", [])) != len(keys):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        r.fail("cursor", "the cursor is malformed or belongs to another sort order", "query.bad_cursor")
        return None
    return [None if v is None else r.parse(n, v, "cursor") for (_, _, n), v in zip(keys, payload["v"], strict=True)]


# -- aggregates -------------------------------------------------------------------------------------------------
@dataclass
class AggregateQuery:
    group_by: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=lambda: ["count"])
    conditions: list[Condition] = field(default_factory=list)
    filter: str | None = None


def aggregate(
    store: Store,
    object_name: str,
    q: AggregateQuery,
    *,
    scope: ColumnElement[bool] | None = None,
    access: Access | None = None,
) -> list[dict[str, Any]]:
    """Counts, sums, averages, minima and maxima, grouped in the database (over the rows the
    user may read; hidden fields cannot be grouped, measured or filtered on)."""
    obj = store.object(object_name)
    require(access, obj.name, READ)
    r = _Resolver(store, obj, access)
    conditions = _conditions(r, q.conditions)
    if q.filter is not None:
        conditions.append(_expression_filter(r, q.filter))
    conditions += _scopes(store, obj, scope, access)
    groups = [(name, r.column(name, "group_by", for_sort=True)) for name in q.group_by[:4]]
    selected: list[Any] = [c.label(n) for n, c in groups if c is not None]
    plans: list[tuple[str, str, str]] = []
    for metric in q.metrics or ["count"]:
        kind, _, target = metric.partition(":")
        if kind not in METRICS or (kind == "count") != (target == ""):
            r.fail(
                "metrics", f"'{metric[:40]}' is not a metric (count, sum:f, avg:f, min:f, max:f)", "query.bad_metric"
            )
            continue
        if kind == "count":
            selected.append(func.count().label("count"))
            plans.append(("count", "count", ""))
            continue
        col = r.column(target, "metrics")
        if col is None:
            continue
        f = r.fields.get(target)
        numeric = f is not None and _is_number(r.store, f)
        if kind in ("sum", "avg") and not numeric:
            r.fail("metrics", f"cannot {kind} '{target}' (not a number)", "query.bad_metric")
            continue
        label = f"{kind}_{target}"
        if kind == "avg":
            selected.append(type_coerce(func.sum(col), col.type).label(f"__sum_{target}"))
            selected.append(func.count(col).label(f"__n_{target}"))
        else:
            aggregated = func.sum(col) if kind == "sum" else func.min(col) if kind == "min" else func.max(col)
            selected.append(type_coerce(aggregated, col.type).label(label))
        plans.append((label, kind, target))
    if r.problems:
        raise InputInvalid(r.problems)
    group_cols = [c for _, c in groups if c is not None]
    stmt = select(*selected).select_from(r.table).where(*conditions, true())
    if group_cols:
        stmt = stmt.group_by(*group_cols).order_by(*(c.asc().nulls_last() for c in group_cols))
    with store.db.read() as conn:
        rows = [dict(m) for m in conn.execute(stmt.limit(10_000)).mappings()]
    for row in rows:
        for label, kind, target in plans:
            if kind == "avg":
                total, n = row.pop(f"__sum_{target}"), row.pop(f"__n_{target}")
                row[label] = None if not n else (Decimal(total) / n).quantize(Decimal("0.0001"))
    return rows
