"""Aggregates: counts, sums, averages, minima and maxima, grouped in the database.

One statement per request: an inner SELECT reads the group keys (own fields, virtual formulas,
fields of linked records through LEFT JOINs, date buckets) and the measured values of the rows the
user may read; the outer one groups, orders and limits. Sums are exact on both databases and
averages are the exact sum divided by the count under the expression language's division rule,
so SQLite and PostgreSQL give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, func, select, true, type_coerce
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Subquery

from engine.expr import Kind
from engine.expr.numbers import DIVISION_SCALE, EXACT, div
from engine.expr.python import utc_now
from engine.expr.sql import pg_divide
from engine.expr.sqlvalue import ScaledNumber, SqlContext, SqlValue, TextNumber
from engine.store.access import READ, Access, require
from engine.store.resolve import Condition, FieldRef, Resolver, condition_params, nul_problems
from engine.types.sqltypes import ExactDecimal

if TYPE_CHECKING:
    from engine.store.records import Store

#: Groups one answer holds at most; `Groups.truncated` says when more exist.
MAX_GROUPS = 10_000
MAX_GROUP_KEYS = 4
MAX_METRICS = 20
METRICS = ("count", "sum", "avg", "min", "max")
#: Date buckets (`close_date:month`): the date each period starts on; weeks are ISO (Monday);
#: a datetime falls on its day in the app's time zone (`app.timezone`, UTC by default).
BUCKETS = ("day", "week", "month", "quarter", "year")
#: Decimal places of an average before trailing zeros are trimmed (the division rule of expressions).
AVG_PLACES = DIVISION_SCALE


@dataclass
class AggregateQuery:
    group_by: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=lambda: ["count"])
    conditions: list[Condition] = field(default_factory=list)
    filter: str | None = None
    #: Group keys (as written in group_by) and metrics (`sum:amount`), `-` for descending.
    sort: list[str] = field(default_factory=list)
    #: At most this many groups (1 to MAX_GROUPS; None: MAX_GROUPS).
    limit: int | None = None

    def params(self) -> Iterable[tuple[str, Any]]:
        """Every text of the query with the request parameter it came from."""
        yield from condition_params(self.conditions)
        yield "group_by", self.group_by
        yield "metrics", self.metrics
        yield "filter", self.filter
        yield "sort", self.sort


@dataclass
class Groups:
    """The groups of an aggregate, with Python values; `truncated`: more groups matched than the
    limit let through."""

    rows: list[dict[str, Any]]
    truncated: bool
    converters: dict[str, Callable[[Any], Any]] = field(default_factory=dict, repr=False)

    def to_json(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready values (decimals as strings, dates and moments in ISO 8601)."""
        return [{k: _json(self.converters.get(k), v) for k, v in row.items()} for row in self.rows]


@dataclass(frozen=True)
class _Key:
    name: str
    ref: FieldRef
    bucket: str | None


@dataclass
class _Metric:
    kind: str
    ref: FieldRef | None
    label: str
    shown: bool = True


def aggregate(
    store: Store,
    object_name: str,
    q: AggregateQuery,
    *,
    scope: ColumnElement[bool] | None = None,
    access: Access | None = None,
) -> Groups:
    """Counts, sums, averages, minima and maxima over the rows the user may read, grouped, sorted
    and limited in the database (hidden fields cannot be grouped, measured or filtered on)."""
    obj = store.object(object_name)
    require(access, obj.name, READ)
    r = Resolver(store, obj, access)
    r.problems += nul_problems(q.params())
    r.check()
    conditions = r.conditions(q.conditions)
    if q.filter is not None:
        conditions.append(r.expression_filter(q.filter))
    conditions += r.scopes(scope)
    keys = _keys(r, q.group_by)
    metrics = _metrics(r, q.metrics, keys)
    order = _sort(r, q.sort, keys, metrics)
    limit = MAX_GROUPS if q.limit is None else q.limit
    if not 1 <= limit <= MAX_GROUPS:
        r.fail("limit", f"limit must be between 1 and {MAX_GROUPS}", "query.bad_limit")
    r.check()
    plan = _Plan(store, r, keys, metrics, order)
    with store.db.read() as conn:
        try:
            rows = [dict(m) for m in conn.execute(plan.statement(conditions, limit + 1)).mappings()]
        except OperationalError as exc:
            if "integer overflow" not in str(exc.orig):
                raise
            conn.rollback()
            plan.exact = True  # SQLite's native sum overflowed 64 bits: add up as exact decimals
            rows = [dict(m) for m in conn.execute(plan.statement(conditions, limit + 1)).mappings()]
    truncated = len(rows) > limit
    return Groups([plan.finish(row) for row in rows[:limit]], truncated, plan.converters())


# -- the request -> keys, metrics and order ------------------------------------------------------------
def _keys(r: Resolver, group_by: list[str]) -> list[_Key]:
    names = [n.strip() for n in group_by if n.strip()]
    if len(names) > MAX_GROUP_KEYS:
        r.fail("group_by", f"at most {MAX_GROUP_KEYS} group_by keys (got {len(names)})", "query.bad_group_by")
        return []
    keys: list[_Key] = []
    for name in names:
        if any(k.name == name for k in keys):
            r.fail("group_by", f"'{name[:64]}' is given twice", "query.bad_group_by")
            continue
        path, _, bucket = name.partition(":")
        ref = r.ref(path, "group_by", paths=True)
        if ref is None:
            continue
        if bucket and bucket not in BUCKETS:
            r.fail("group_by", f"'{bucket[:20]}' is not a date bucket (use {', '.join(BUCKETS)})", "query.bad_group_by")
        elif bucket and ref.kind not in ("date", "datetime"):
            r.fail("group_by", f"'{path[:64]}' is not a date or datetime: no '{bucket}' buckets", "query.bad_group_by")
        elif not ref.sortable:
            shown = ref.field.type if ref.field is not None else ref.kind
            r.fail("group_by", f"cannot group by '{path[:64]}' ({shown})", "query.not_sortable")
        else:
            keys.append(_Key(name, replace(ref, key=name), bucket or None))
    return keys


def _metrics(r: Resolver, given: list[str], keys: list[_Key]) -> list[_Metric]:
    specs = [m.strip() for m in given if m.strip()] or ["count"]
    if len(specs) > MAX_METRICS:
        r.fail("metrics", f"at most {MAX_METRICS} metrics (got {len(specs)})", "query.bad_metric")
        return []
    out: list[_Metric] = []
    for spec in specs:
        metric = _metric(r, spec, "metrics")
        if metric is None:
            continue
        if any(m.label == metric.label for m in out):
            r.fail("metrics", f"'{spec[:64]}' is given twice", "query.bad_metric")
        elif any(k.name == metric.label for k in keys):
            r.fail("metrics", f"'{spec[:64]}' is named like the group_by key '{metric.label}'", "query.bad_metric")
        else:
            out.append(metric)
    return out


def _metric(r: Resolver, spec: str, param: str) -> _Metric | None:
    kind, _, target = spec.partition(":")
    if kind not in METRICS or (kind == "count") != (target == ""):
        r.fail(param, f"'{spec[:40]}' is not a metric (count, sum:f, avg:f, min:f, max:f)", "query.bad_metric")
        return None
    if kind == "count":
        return _Metric("count", None, "count")
    ref = r.ref(target, param)
    if ref is None:
        return None
    if kind not in ref.metrics:
        what = ref.field.type if ref.field is not None else ref.kind
        if ref.field is not None and ref.field.type == "formula":
            what = f"a formula giving {ref.kind}"
        r.fail(param, f"cannot take the {kind} of '{target[:64]}' ({what})", "query.bad_metric")
        return None
    return _Metric(kind, ref, f"{kind}_{target}")


def _sort(r: Resolver, sort: list[str], keys: list[_Key], metrics: list[_Metric]) -> list[tuple[Any, bool]]:
    """(group key or metric, descending) in the requested order, then the group keys not named."""
    out: list[tuple[Any, bool]] = []
    for item in sort:
        item = item.strip()
        name = item.lstrip("-+")
        if not name:
            continue
        found: Any = next((k for k in keys if k.name == name), None)
        if found is None:
            found = next((m for m in metrics if m.label == name.replace(":", "_", 1)), None)
        if found is None and (name == "count" or name.partition(":")[0] in METRICS):
            found = _metric(r, name, "sort")
            if found is None:
                continue
            found.shown = False  # measured for the order only
            metrics.append(found)
        if found is None:
            r.fail("sort", f"'{name[:64]}' is neither a group_by key nor a metric", "query.bad_sort")
        elif all(f is not found for f, _ in out):
            out.append((found, item.startswith("-")))
    return out + [(k, False) for k in keys if all(f is not k for f, _ in out)]


# -- SQL -------------------------------------------------------------------------------------------------
class _Plan:
    """The statement of one aggregate request, and how to read its rows back."""

    def __init__(
        self, store: Store, r: Resolver, keys: list[_Key], metrics: list[_Metric], order: list[tuple[Any, bool]]
    ) -> None:
        self.store = store
        self.r = r
        self.sqlite = store.db.is_sqlite
        self.keys = keys
        self.metrics = metrics
        self.order = order
        self.exact = False
        #: Measured fields by key: one inner column each, shared by their metrics.
        self.targets = {m.ref.key: m.ref for m in metrics if m.ref is not None}

    def statement(self, conditions: list[ColumnElement[bool]], limit: int) -> sa.Select[Any]:
        """Group keys and measured values of the matching rows in an inner SELECT (keys with bound
        parameters, such as buckets, then group by a column: PostgreSQL matches GROUP BY and SELECT
        expressions by their text, and each bound parameter gets its own placeholder); grouped,
        ordered and limited outside."""
        inner_columns: list[Any] = []
        zone = self.store.app.timezone
        for i, k in enumerate(self.keys):
            value = k.ref.expr if k.bucket is None else _bucket(k.ref.expr, k.ref.kind, k.bucket, self.sqlite, zone)
            inner_columns.append(value.label(f"k{i}"))
            if self._by_order_key(k):
                inner_columns.append(k.ref.order().label(f"o{i}"))
        for j, ref in enumerate(self.targets.values()):
            inner_columns.append(ref.expr.label(f"v{j}"))
        if not inner_columns:  # only count: the rows need no column
            inner_columns.append(sa.literal_column("1").label("row"))
        inner = select(*inner_columns).select_from(self.r.joined()).where(*conditions, true()).subquery("rows")
        group_by: list[Any] = []
        selected: list[Any] = []
        sort_exprs: dict[int, Any] = {}
        for i, k in enumerate(self.keys):
            if self._by_order_key(k):
                # Equal numbers may be written differently in decimal text: group by their order key.
                group_by.append(inner.c[f"o{i}"])
                selected.append(type_coerce(func.lw_max(inner.c[f"k{i}"]), TextNumber()).label(f"k{i}"))
                sort_exprs[id(k)] = inner.c[f"o{i}"]
            else:
                group_by.append(inner.c[f"k{i}"])
                selected.append(inner.c[f"k{i}"])
                text = k.bucket is None and k.ref.kind == "text" and not self.sqlite
                sort_exprs[id(k)] = sa.collate(inner.c[f"k{i}"], "C") if text else inner.c[f"k{i}"]
        for n, m in enumerate(self.metrics):
            columns, sort_expr = self._metric(m, n, inner)
            selected += columns
            sort_exprs[id(m)] = sort_expr
        stmt = select(*selected).select_from(inner)
        if group_by:
            stmt = stmt.group_by(*group_by)
        ordering = [sort_exprs[id(f)].desc() if desc else sort_exprs[id(f)].asc() for f, desc in self.order]
        return stmt.order_by(*(o.nulls_last() for o in ordering)).limit(limit)

    def _by_order_key(self, k: _Key) -> bool:
        return k.bucket is None and k.ref.form == "text"

    def _metric(self, m: _Metric, n: int, inner: Subquery) -> tuple[list[Any], ColumnElement[Any]]:
        """The selected columns of one metric and the expression that orders by it."""
        if m.ref is None:
            count = func.count()
            return [count.label(f"m{n}")], count
        v: ColumnElement[Any] = inner.c[f"v{list(self.targets).index(m.ref.key)}"]
        if m.kind in ("min", "max"):
            return self._extreme(m, v, n)
        total, ordered_total = self._sum(m.ref, v)
        values = func.count(v)
        if m.kind == "sum" and not self._sum_is_text(m.ref):
            return [total.label(f"m{n}")], ordered_total  # SQL's sum of no values is already null
        columns = [total.label(f"m{n}"), values.label(f"n{n}")]
        if m.kind == "sum":  # decimal text added up in Python: "0" for no values
            return columns, ordered_total
        if self.sqlite:
            text = total if self._sum_is_text(m.ref) else func.lw_num(total, _scale(m.ref), type_=sa.String())
            return columns, func.lw_order_key(func.lw_div(text, values))
        ctx = SqlContext("postgresql", utc_now)
        return columns, pg_divide(ctx, SqlValue(total, Kind.NUMBER), SqlValue(values, Kind.NUMBER))

    def _sum_is_text(self, ref: FieldRef) -> bool:
        return self.sqlite and (ref.form == "text" or self.exact)

    def _sum(self, ref: FieldRef, v: ColumnElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        """An exact sum and what orders by it: NUMERIC on PostgreSQL; on SQLite a native sum of
        scaled integers, or decimal text added up exactly by a function of the expression language."""
        if not self.sqlite:
            total = type_coerce(func.sum(v), sa.Numeric(asdecimal=True))
            return total, total
        if ref.form == "text":
            total = type_coerce(func.lw_sum(v), TextNumber())
            return total, func.lw_order_key(total)
        scale = _scale(ref)
        if self.exact:
            total = type_coerce(func.lw_sum(func.lw_num(v, scale)), TextNumber())
            return total, func.lw_order_key(total)
        total = type_coerce(func.sum(v), ScaledNumber(scale))
        return total, total

    def _extreme(self, m: _Metric, v: ColumnElement[Any], n: int) -> tuple[list[Any], ColumnElement[Any]]:
        assert m.ref is not None
        pick = func.min if m.kind == "min" else func.max
        if self.sqlite and m.ref.form == "text":
            picked = type_coerce((func.lw_min if m.kind == "min" else func.lw_max)(v), TextNumber())
            return [picked.label(f"m{n}")], func.lw_order_key(picked)
        if m.ref.kind == "text" and not self.sqlite:
            # By code point, as SQLite compares text (PostgreSQL's collation would differ).
            picked = type_coerce(pick(sa.collate(v, "C")), v.type)
            return [picked.label(f"m{n}")], sa.collate(picked, "C")
        picked = type_coerce(pick(v), v.type)
        return [picked.label(f"m{n}")], picked

    def finish(self, row: dict[str, Any]) -> dict[str, Any]:
        """A result row under its request names, with sums and averages made exact."""
        out = {k.name: row[f"k{i}"] for i, k in enumerate(self.keys)}
        for n, m in enumerate(self.metrics):
            if not m.shown:
                continue
            value = row[f"m{n}"]
            if m.kind in ("sum", "avg") and m.ref is not None:
                count = row.get(f"n{n}")
                if value is None or count == 0:
                    value = None  # no values in the group: no sum either (as min, max and avg)
                elif m.kind == "avg":
                    average = div(Decimal(value), int(count or 0), AVG_PLACES)
                    value = None if average is None else _trimmed(average, self._places(m.ref))
                elif m.ref.field is not None and m.ref.field.type == "integer":
                    value = int(value)
                else:
                    value = Decimal(value)
            out[m.label] = value
        return out

    def _places(self, ref: FieldRef) -> int:
        """Places an average keeps at least: the field's scale (0 for whole numbers)."""
        if ref.field is None:
            return 0
        ftype = self.store.types[ref.field.type]
        scale = getattr(ftype, "scale", None)
        return int(scale(ref.field)) if callable(scale) else 0

    def converters(self) -> dict[str, Callable[[Any], Any]]:
        codec = self.store.codec
        out: dict[str, Callable[[Any], Any]] = {}
        for k in self.keys:
            out[k.name] = date.isoformat if k.bucket else partial(codec.value_json, k.ref.obj.name, k.ref.column)
        for m in self.metrics:
            if m.ref is not None and m.kind in ("min", "max"):
                out[m.label] = partial(codec.value_json, m.ref.obj.name, m.ref.column)
        return out


def _bucket(expr: ColumnElement[Any], kind: str, unit: str, sqlite: bool, zone: str) -> ColumnElement[Any]:
    """The first day of the `unit` holding a date or a moment (on the calendar of `zone`), as a date."""
    if sqlite:
        if kind == "datetime" and zone != "UTC":
            expr = func.lw_local_day(expr, zone)
        modifiers: dict[str, tuple[Any, ...]] = {
            "day": (),
            "week": ("weekday 0", "-6 days"),
            "month": ("start of month",),
            "year": ("start of year",),
        }
        if unit == "quarter":
            month = sa.cast(func.strftime("%m", expr), sa.Integer())
            back = func.printf("-%d months", (month - 1) % 3)
            return type_coerce(func.date(expr, "start of month", back), sa.Date())
        return type_coerce(func.date(expr, *modifiers[unit]), sa.Date())
    moment = func.timezone(zone, expr) if kind == "datetime" else sa.cast(expr, TIMESTAMP())
    return sa.cast(func.date_trunc(unit, moment), sa.Date())


def _scale(ref: FieldRef) -> int:
    """Decimal places of a field's SQLite values (scaled integers); 0 for whole numbers."""
    kind = ref.expr.type
    if isinstance(kind, ExactDecimal | ScaledNumber):
        return int(kind.scale)
    return 0


def _trimmed(value: Decimal, keep: int) -> Decimal:
    """`value` without trailing zeros beyond `keep` places."""
    short = value.normalize(EXACT)
    exponent = short.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    return short if exponent <= -keep else short.quantize(Decimal(1).scaleb(-keep), context=EXACT)


def _json(convert: Callable[[Any], Any] | None, value: Any) -> Any:
    if value is None:
        return None
    out = value if convert is None else convert(value)
    return str(out) if isinstance(out, Decimal) else out
