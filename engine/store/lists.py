"""Lists: field filters, sorting, keyset cursors, field selection, totals and type-ahead search.

Every filter and sort key is resolved against the blueprint (engine.store.resolve) before any SQL
is built. Empty values sort last in both directions, on every database. Virtual formulas sort,
filter and page like stored fields (computed in the query; their order cannot use an index).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key, partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.sql import Select

from engine.blueprint.model import ObjectDef
from engine.store.access import READ, Access, require
from engine.store.resolve import Condition, FieldRef, Resolver, condition_params, nul_problems

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from engine.store.records import Store

MAX_LIMIT = 1000
DEFAULT_LIMIT = 25
MAX_SEARCH = 200


@dataclass
class ListQuery:
    conditions: list[Condition] = field(default_factory=list)
    sort: list[str] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    fields: list[str] | None = None
    total: bool = False
    #: Count at most this many for the total (the page says "more than" past it): a bound on the
    #: cost of counting a large table. None: the exact total.
    total_limit: int | None = None
    filter: str | None = None
    #: Type-ahead: records whose title field contains this text (case-insensitive).
    search: str | None = None

    def params(self) -> Iterable[tuple[str, Any]]:
        """Every text of the query with the request parameter it came from."""
        yield from condition_params(self.conditions)
        yield "sort", self.sort
        yield "cursor", self.cursor
        yield "fields", self.fields or []
        yield "filter", self.filter
        yield "q", self.search


@dataclass
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None
    #: True when more than `total` records match (`ListQuery.total_limit` was reached).
    total_capped: bool = False


@dataclass(frozen=True)
class SortKey:
    ref: FieldRef
    desc: bool

    @property
    def name(self) -> str:
        return self.ref.key

    def ordered(self) -> Any:
        key = self.ref.order()
        return (key.desc() if self.desc else key.asc()).nulls_last()


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
    r = Resolver(store, obj, access)
    r.problems += nul_problems(q.params())
    r.check()
    if not 1 <= q.limit <= MAX_LIMIT:
        r.fail("limit", f"limit must be between 1 and {MAX_LIMIT}", "query.bad_limit")
    conditions = r.conditions(q.conditions)
    if q.filter is not None:
        conditions.append(r.expression_filter(q.filter))
    if q.search is not None:
        conditions += _search(r, q.search)
    base = [*conditions, *([] if scope is None else [scope])]
    conditions += r.scopes(scope)
    keys = _sort_keys(r, q.sort)
    columns = _selected(r, q.fields, keys)
    after = _decode_cursor(r, q.cursor, keys)
    r.check()
    alternatives = _alternatives(store, obj, keys, access)
    with store.db.read() as conn:
        if alternatives:
            rows = _merged(conn, columns, base, alternatives, keys, after, q.limit + 1)
        else:
            rows = _page(conn, columns, conditions, keys, after, q.limit + 1)
        total, capped = None, False
        if q.total and q.total_limit is not None:
            bounded = select(r.table.c.id).where(*conditions).limit(q.total_limit + 1).subquery()
            total = int(conn.execute(select(func.count()).select_from(bounded)).scalar_one())
            capped, total = total > q.total_limit, min(total, q.total_limit)
        elif q.total:
            total = int(conn.execute(select(func.count()).select_from(r.table).where(*conditions)).scalar_one())
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = _encode_cursor(store, obj, keys, rows[-1]) if more and rows else None
    for row in rows:
        for k in keys:
            if q.fields is not None and k.name not in q.fields and k.name != "id":
                row.pop(k.name, None)
    return Page(rows, cursor, total, capped)


def _search(r: Resolver, text: str) -> list[ColumnElement[bool]]:
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
    ref = r.ref(str(r.obj.field(title).column or title), "q")
    return [] if ref is None else [ref.expr.icontains(text, autoescape=True)]


def _sort_keys(r: Resolver, sort: Sequence[str]) -> list[SortKey]:
    keys: list[SortKey] = []
    for item in sort:
        item = item.strip()
        if not item:
            continue
        name = item.lstrip("-+")
        ref = r.ref(name, "sort")
        if ref is not None and not ref.sortable:
            shown = ref.field.type if ref.field else ref.kind
            r.fail("sort", f"cannot sort by '{name}' ({shown})", "query.not_sortable")
        elif ref is not None and all(k.name != name for k in keys):
            keys.append(SortKey(ref, item.startswith("-")))
    if all(k.name != "id" for k in keys):
        keys.append(SortKey(FieldRef("id", r.table.c.id, r.obj, "id", None, "number", nullable=False), False))
    return keys


def _alternatives(
    store: Store, obj: ObjectDef, keys: list[SortKey], access: Access | None
) -> list[ColumnElement[bool]] | None:
    """The user's scope as alternatives to read one by one and merge (`Access.alternatives`), when
    Python orders the sort keys as the database does: always on SQLite (binary collation), on
    PostgreSQL only without text keys (its collation is not Python's)."""
    if access is None:
        return None
    if not store.db.is_sqlite and any(k.ref.kind == "text" for k in keys):
        return None
    return access.alternatives(obj.name, READ, store.tables[obj.name])


def _merged(
    conn: Connection,
    columns: list[Any],
    base: list[ColumnElement[bool]],
    alternatives: list[ColumnElement[bool]],
    keys: list[SortKey],
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A page read as one ordered, limited query per alternative (each an index range that stops
    early, where one query with their OR would gather and sort every candidate), merged in Python.
    The alternatives return only the sort keys; the page's rows are then read in one query."""
    found: dict[Any, dict[str, Any]] = {}
    key_columns = [k.ref.expr.label(k.name) for k in keys]
    for alternative in alternatives:
        for row in _page(conn, key_columns, [*base, alternative], keys, after, limit):
            found.setdefault(row["id"], row)
    ids = [r["id"] for r in sorted(found.values(), key=cmp_to_key(partial(_compare, keys)))[:limit]]
    if not ids:
        return []
    id_column = next(k.ref.expr for k in keys if k.name == "id")
    rows = {m["id"]: dict(m) for m in conn.execute(select(*columns).where(id_column.in_(ids))).mappings()}
    return [rows[i] for i in ids if i in rows]


def _compare(keys: list[SortKey], a: dict[str, Any], b: dict[str, Any]) -> int:
    """SQL's keyset order in Python: each key ascending or descending, empty values last."""
    for k in keys:
        x, y = a.get(k.name), b.get(k.name)
        if x == y:
            continue
        if x is None or y is None:
            return 1 if x is None else -1
        smaller = -1 if x < y else 1
        return -smaller if k.desc else smaller
    return 0


def _page(
    conn: Connection,
    columns: list[Any],
    conditions: list[ColumnElement[bool]],
    keys: list[SortKey],
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` rows after the cursor, in keyset order with empty values last.

    PostgreSQL reads a B-tree backwards as `DESC NULLS FIRST`, so `ORDER BY x DESC NULLS LAST` would
    sort every matching row. A descending list on a nullable first key is read in two parts there:
    the values (`x IS NOT NULL ORDER BY x DESC`: an index read backwards, stopping at `limit`), then,
    if the page is not full, the empty ones."""
    first = keys[0]
    if not (first.desc and first.ref.nullable and conn.dialect.name == "postgresql"):
        stmt: Select[Any] = select(*columns).where(*conditions)
        if after is not None:
            stmt = stmt.where(_after(keys, after))
        return [dict(m) for m in conn.execute(stmt.order_by(*(k.ordered() for k in keys)).limit(limit)).mappings()]
    rest = [k.ordered() for k in keys[1:]]
    rows: list[dict[str, Any]] = []
    rest_after = after[1:] if after is not None and after[0] is None else None
    if after is None or after[0] is not None:
        values = select(*columns).where(*conditions, first.ref.expr.is_not(None))
        if after is not None:
            values = values.where(_after(keys, after))
        rows = [dict(m) for m in conn.execute(values.order_by(first.ref.order().desc(), *rest).limit(limit)).mappings()]
        if len(rows) >= limit:
            return rows
    empties = select(*columns).where(*conditions, first.ref.expr.is_(None))
    if rest_after is not None:
        empties = empties.where(_after(keys[1:], rest_after))
    rows += [dict(m) for m in conn.execute(empties.order_by(*rest).limit(limit - len(rows))).mappings()]
    return rows


def _selected(r: Resolver, fields: list[str] | None, keys: list[SortKey]) -> list[Any]:
    virtual = r.store.virtual_columns(r.obj, r.table)
    hidden = r.hidden(r.obj)
    if fields is None:
        if hidden:
            shown = [c for c in r.table.c if not r.is_hidden(r.obj, c.key)]
            return [*shown, *(c for n, c in virtual.items() if n not in hidden)]
        return [*r.table.c, *virtual.values()]
    cols: dict[str, Any] = {"id": r.table.c.id}
    for name in fields:
        ref = r.ref(name, "fields")
        if ref is not None:
            cols[name] = ref.expr.label(name) if ref.virtual else ref.expr
    for k in keys:
        cols.setdefault(k.name, k.ref.expr.label(k.name) if k.ref.virtual else k.ref.expr)
    return list(cols.values())


def _after(keys: list[SortKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the keyset order (empty values last)."""
    key, value = keys[0], values[0]
    col = key.ref.expr
    rest = _after(keys[1:], values[1:]) if len(keys) > 1 else false()
    if value is None:
        return and_(col.is_(None), rest)
    beyond = key.ref.compare("lt" if key.desc else "gt", value)
    return or_(beyond, col.is_(None), and_(key.ref.compare("eq", value), rest))


def _encode_cursor(store: Store, obj: ObjectDef, keys: list[SortKey], row: dict[str, Any]) -> str:
    payload = {
        "s": [("-" if k.desc else "") + k.name for k in keys],
        "v": [store.codec.value_json(obj.name, k.name, row.get(k.name)) for k in keys],
    }
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(r: Resolver, cursor: str | None, keys: list[SortKey]) -> list[Any] | None:
    if not cursor:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        signature = [("-" if k.desc else "") + k.name for k in keys]
        if not isinstance(payload, dict):
            raise ValueError
        values = payload.get("v")
        if payload.get("s") != signature or not isinstance(values, list) or len(values) != len(keys):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        r.fail("cursor", "the cursor is malformed or belongs to another sort order", "query.bad_cursor")
        return None
    problems = nul_problems(("cursor", v) for v in values)
    if problems:
        r.problems += problems
        return None
    return [None if v is None else r.parse(k.ref, v, "cursor") for k, v in zip(keys, values, strict=True)]
