"""A list page's query from its URL: the view, the sort, the search, the filter, the columns, the page.

The URL holds the whole state (`/app/opportunity?view=open&sort=-amount&q=acme&filter=...`), so a
list can be bookmarked and shared. A view's filter and the user's filter both apply (`and`); the
reader's permissions apply below both, in the store, as for every read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from engine.blueprint.model import Label, ObjectDef, ViewDef
from engine.store.query import Condition, ListQuery

#: Field types a list column cannot show.
NOT_SHOWN = frozenset({"child_table", "long_text"})
#: Columns of the default view: the title and this many more fields.
DEFAULT_COLUMNS = 5
PAGE_SIZES = (25, 50, 100)
#: A list counts its records up to this many, then says "more than" (counting a whole large
#: table would cost more than the page itself; docs/benchmarks.md).
TOTAL_LIMIT = 10_000
#: The list page's own parameters; any other `field` or `field__op` parameter is a condition.
LIST_PARAMS = frozenset({"view", "sort", "q", "filter", "cursor", "columns", "size"})


def key(obj: ObjectDef, name: str) -> str:
    """How the store's queries name a field: its column (`account_id` for the lookup `account`)."""
    return (obj.field(name).column or name) if obj.has_field(name) else name


def sort_key(obj: ObjectDef, sort: str) -> str:
    desc = sort.startswith("-")
    return ("-" if desc else "") + key(obj, sort.removeprefix("-"))


def default_view(obj: ObjectDef) -> ViewDef:
    title = obj.title_field
    rest = [f.name for f in obj.fields if f.name != title and f.type not in NOT_SHOWN and f.type != "attachment"]
    columns = ([title] if title != "id" else []) + rest[:DEFAULT_COLUMNS]
    return ViewDef(name="all", label=Label(en="All", zh="全部"), columns=tuple(columns), sort=("-updated_at",))


def views_of(obj: ObjectDef) -> tuple[ViewDef, ...]:
    return obj.views or (default_view(obj),)


def choosable_columns(obj: ObjectDef, hidden: frozenset[str]) -> list[str]:
    """Every column the column chooser offers the reader, in blueprint order, then the system
    columns; never a field hidden from them."""
    names = [f.name for f in obj.fields if f.type not in ("child_table",) and f.name not in hidden]
    extra = ["owner_id"] if obj.owned else []
    return [*names, *extra, "created_at", "updated_at"]


@dataclass
class ListState:
    """What the URL of a list page asks for (already checked against the object)."""

    obj: ObjectDef
    view: ViewDef
    sort: str
    search: str = ""
    filter: str = ""
    cursor: str | None = None
    columns: tuple[str, ...] = ()
    size: int = PAGE_SIZES[0]
    conditions: list[Condition] = field(default_factory=list)
    custom_columns: bool = False

    def query(self, *, total: bool = True, limit: int | None = None, cursor: str | None = None) -> ListQuery:
        return ListQuery(
            conditions=list(self.conditions),
            sort=[sort_key(self.obj, self.sort)] if self.sort else [],
            limit=limit or self.size,
            cursor=cursor if cursor is not None else self.cursor,
            fields=self.fields(),
            total=total,
            total_limit=TOTAL_LIMIT,
            filter=self.combined_filter(),
            search=self.search or None,
        )

    def combined_filter(self) -> str | None:
        parts = [p for p in (self.view.filter, self.filter.strip()) if p]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else " and ".join(f"({p})" for p in parts)

    def fields(self) -> list[str]:
        """The record fields to read: the columns, with `id` and the title."""
        out = ["id", "version"]
        title = self.obj.title_field
        if title != "id":
            out.append(key(self.obj, title))
        for c in self.columns:
            if key(self.obj, c) not in out:
                out.append(key(self.obj, c))
        return out

    def url(self, **changes: str | None) -> str:
        """This list's URL with some parameters changed (None removes one); paging restarts
        unless `cursor` is given."""
        params: dict[str, str] = {}
        if self.view.name != views_of(self.obj)[0].name:
            params["view"] = self.view.name
        if self.sort and self.sort != self.default_sort:
            params["sort"] = self.sort
        if self.search:
            params["q"] = self.search
        if self.filter:
            params["filter"] = self.filter
        if self.custom_columns:
            params["columns"] = ",".join(self.columns)
        if self.size != PAGE_SIZES[0]:
            params["size"] = str(self.size)
        for c in self.conditions:
            params[c.param] = str(c.value)
        for k, v in changes.items():
            if v is None:
                params.pop(k, None)
            else:
                params[k] = v
        query = urlencode(params)
        return f"/app/{self.obj.name}" + (f"?{query}" if query else "")

    @property
    def default_sort(self) -> str:
        return self.view.sort[0] if self.view.sort else "-updated_at"

    def sort_url(self, column: str) -> str:
        """Clicking a header: ascending, then descending, then back."""
        if self.sort == column:
            return self.url(sort=f"-{column}")
        return self.url(sort=column)


def list_state(
    obj: ObjectDef, params: Mapping[str, str], multi: list[tuple[str, str]], hidden: frozenset[str]
) -> ListState:
    """The state a list URL asks for; unknown views and columns fall back to the defaults (a stale
    bookmark still opens), bad filters and sorts are reported by the store as located 422s. Fields
    hidden from the reader are never columns (a view's own columns included)."""
    views = views_of(obj)
    view = next((v for v in views if v.name == params.get("view")), views[0])
    allowed = choosable_columns(obj, hidden)
    asked = [c.strip() for c in (params.get("columns") or "").split(",") if c.strip() in allowed]
    columns = tuple(dict.fromkeys(asked)) if asked else tuple(c for c in view.columns if c not in hidden)
    size = (
        int(params["size"]) if params.get("size", "").isdigit() and int(params["size"]) in PAGE_SIZES else PAGE_SIZES[0]
    )
    conditions = []
    for name, value in multi:
        if name in LIST_PARAMS:
            continue
        key, _, op = name.partition("__")  # an unknown field or operator is the store's located 422
        conditions.append(Condition(key=key, op=op or "eq", value=value, param=name))
    state = ListState(
        obj=obj,
        view=view,
        sort="",
        search=(params.get("q") or "")[:200],
        filter=(params.get("filter") or "")[:4000],
        cursor=params.get("cursor") or None,
        columns=columns,
        size=size,
        conditions=conditions,
        custom_columns=bool(asked),
    )
    state.sort = (params.get("sort") or "").strip()[:80] or state.default_sort
    return state
