"""What the generated app shows of a blueprint: list views, the kanban board, the menu and timelines.

Each part is checked like the rest of the blueprint, with located problems: a view's columns and
sort name fields of the object (or its timestamps), a board groups by a select field and sums a
number, the menu names top-level objects once. View filters are type-checked with the other
expressions (`check_view_filters`, called from `engine.blueprint.expressions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.blueprint.model import App, BoardDef, FieldDef, Label, NavGroup, ObjectDef, PublicFormDef, ViewDef
from engine.blueprint.shape import did_you_mean
from engine.blueprint.source import Path_, Source
from engine.errors import ExprError, Problem

#: Columns a view may show and sort by besides the object's fields (`owner_id` where owned).
SYSTEM_COLUMNS = ("created_at", "updated_at")
#: Field types a board can sum in its column headers.
NUMBERS = frozenset({"integer", "decimal", "currency", "percent"})
#: Field types that cannot be a list column (a child table is a list of its own).
NOT_COLUMNS = frozenset({"child_table"})

Fail = Callable[[Path_, str, str], None]


def _names(raw: Any) -> list[str]:
    return [n for n in raw if isinstance(n, str)] if isinstance(raw, list) else []


class ViewsBuilder:
    """Builds one object's views and board from its raw data, reporting problems through `fail`."""

    def __init__(self, fail: Fail, label_of: Callable[[Any, str], Label], *, owned: bool) -> None:
        self.fail = fail
        self.label_of = label_of
        self.system = (*SYSTEM_COLUMNS, "owner_id") if owned else SYSTEM_COLUMNS

    def views(self, path: Path_, raw: Any, fields: list[FieldDef]) -> tuple[ViewDef, ...]:
        if not isinstance(raw, Mapping):
            return ()
        out = []
        for name, vraw in raw.items():
            if not isinstance(vraw, Mapping):
                continue
            vpath = (*path, "views", name)
            columns = self._columns((*vpath, "columns"), _names(vraw.get("columns")), fields)
            sort = self._sort((*vpath, "sort"), _names(vraw.get("sort")), fields)
            filt = vraw.get("filter")
            out.append(
                ViewDef(
                    name=name,
                    label=self.label_of(vraw.get("label"), name),
                    columns=columns,
                    sort=sort,
                    filter=filt if isinstance(filt, str) else None,
                )
            )
        return tuple(out)

    def _known(self, fields: list[FieldDef]) -> dict[str, FieldDef | None]:
        known: dict[str, FieldDef | None] = {f.name: f for f in fields if f.type not in NOT_COLUMNS}
        known.update(dict.fromkeys(self.system))
        return known

    def _columns(self, path: Path_, names: list[str], fields: list[FieldDef]) -> tuple[str, ...]:
        known = self._known(fields)
        tables = {f.name for f in fields if f.type in NOT_COLUMNS}
        for i, n in enumerate(names):
            if n in tables:
                self.fail((*path, i), f"'{n}' is a child table: its lines show on the record page", "view.not_a_column")
            elif n not in known:
                self.fail(
                    (*path, i), f"column '{n}' is not a field{did_you_mean(n, list(known))}", "view.unknown_field"
                )
            elif n in names[:i]:
                self.fail((*path, i), f"column '{n}' is listed twice", "view.duplicate_field")
        return tuple(names)

    def _sort(self, path: Path_, keys: list[str], fields: list[FieldDef]) -> tuple[str, ...]:
        known = self._known(fields)
        sortable = [
            n for n, f in known.items() if f is None or f.type not in ("multi_select", "attachment", "long_text")
        ]
        for i, key in enumerate(keys):
            n = key.removeprefix("-")
            if n not in known:
                self.fail(
                    (*path, i), f"sort field '{n}' is not a field{did_you_mean(n, sortable)}", "view.unknown_field"
                )
            elif n not in sortable:
                self.fail((*path, i), f"a list cannot be sorted by '{n}' ({known[n].type})", "view.not_sortable")  # type: ignore[union-attr]
        return tuple(keys)

    def board(self, path: Path_, raw: Any, fields: list[FieldDef]) -> BoardDef | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("by"), str):
            return None
        bpath = (*path, "board")
        by = raw["by"]
        byname = {f.name: f for f in fields}
        selects = [f.name for f in fields if f.type == "select"]
        if by not in selects:
            why = f"'{by}' is a {byname[by].type} field" if by in byname else f"'{by}' is not a field"
            self.fail(
                (*bpath, "by"), f"a board groups by a select field: {why}{did_you_mean(by, selects)}", "board.bad_field"
            )
        card = self._columns((*bpath, "card"), _names(raw.get("card")), fields)
        total = raw.get("sum") if isinstance(raw.get("sum"), str) else None
        if total is not None:
            numbers = [f.name for f in fields if _is_number(f)]
            if total not in numbers:
                why = f"'{total}' is a {byname[total].type} field" if total in byname else f"'{total}' is not a field"
                self.fail(
                    (*bpath, "sum"),
                    f"a board sums a number field: {why}{did_you_mean(total, numbers)}",
                    "board.bad_field",
                )
        return BoardDef(by=by, card=card, sum=total)


def _is_number(f: FieldDef) -> bool:
    """A number field, or a formula (whose result is checked once formulas are typed)."""
    return f.type in NUMBERS or f.type == "formula"


def navigation(
    fail: Fail, raw: Any, objects: list[ObjectDef], label_of: Callable[[Any, str], Label | None]
) -> tuple[NavGroup, ...]:
    """The menu's groups; each object a top-level one, listed once."""
    if not isinstance(raw, list):
        return ()
    top = [o.name for o in objects if o.parent is None]
    children = {o.name for o in objects if o.parent is not None}
    seen: set[str] = set()
    groups = []
    for i, graw in enumerate(raw):
        if not isinstance(graw, Mapping):
            continue
        names = _names(graw.get("objects"))
        for j, n in enumerate(names):
            where: Path_ = ("app", "navigation", i, "objects", j)
            if n in children:
                fail(
                    where,
                    f"'{n}' is a child table's object: it is reached from its parent's records",
                    "navigation.child_object",
                )
            elif n not in top:
                fail(
                    where,
                    f"'{n}' is not an object of this blueprint{did_you_mean(n, top)}",
                    "navigation.unknown_object",
                )
            elif n in seen:
                fail(where, f"'{n}' is already in the menu", "navigation.duplicate_object")
            seen.add(n)
        groups.append(NavGroup(label=label_of(graw.get("label"), ""), objects=tuple(names)))
    return tuple(groups)


def timeline_of(fail: Fail, path: Path_, name: str, raw: Any, fields: list[FieldDef]) -> tuple[bool, str | None]:
    """`timeline: true`, or `timeline: {at: <datetime field>}` (the shape is checked by the schema)."""
    if not isinstance(raw, dict):
        return raw is True, None
    at = raw.get("at")
    if not isinstance(at, str):
        return True, None
    moments = [f.name for f in fields if f.type == "datetime"]
    if at not in moments:
        what = "not a datetime field" if any(f.name == at for f in fields) else "not a field"
        fail(
            (*path, "timeline", "at"),
            f"the timeline places records at a datetime field; '{at}' is {what} of '{name}'{did_you_mean(at, moments)}",
            "object.unknown_field",
        )
        return True, None
    return True, at


#: Field types a public form may ask a visitor for (no lookups: a visitor cannot see the records).
PUBLIC_TYPES = frozenset(
    {
        "text",
        "long_text",
        "integer",
        "decimal",
        "currency",
        "percent",
        "boolean",
        "date",
        "select",
        "multi_select",
        "email",
        "phone",
        "url",
    }
)


def public_forms(
    fail: Fail, raw: Any, objects: list[ObjectDef], label_of: Callable[[Any, str], Label | None], types: Any
) -> tuple[PublicFormDef, ...]:
    """The blueprint's `forms:`: each names a top-level object, fields a visitor may fill in, and
    values (`set:`) that parse for their fields."""
    if not isinstance(raw, Mapping):
        return ()
    by_name = {o.name: o for o in objects if o.parent is None}
    out = []
    for slug, fraw in raw.items():
        if not isinstance(fraw, Mapping):
            continue
        path: Path_ = ("forms", slug)
        obj = by_name.get(str(fraw.get("object")))
        if obj is None:
            name = str(fraw.get("object"))
            fail(
                (*path, "object"),
                f"'{name}' is not a top-level object{did_you_mean(name, list(by_name))}",
                "form.unknown_object",
            )
            continue
        fields = {f.name: f for f in obj.fields}
        names = _names(fraw.get("fields"))
        for i, n in enumerate(names):
            f = fields.get(n)
            if f is None:
                fail(
                    (*path, "fields", i),
                    f"'{n}' is not a field of '{obj.name}'{did_you_mean(n, list(fields))}",
                    "form.unknown_field",
                )
            elif f.type not in PUBLIC_TYPES:
                fail((*path, "fields", i), f"a public form cannot ask for '{n}' ({f.type})", "form.bad_field")
        fixed: dict[str, Any] = {}
        for key, value in (fraw.get("set") or {}).items() if isinstance(fraw.get("set"), Mapping) else ():
            f = fields.get(str(key))
            if f is None or f.column is None:
                fail(
                    (*path, "set", key),
                    f"'{key}' is not a field of '{obj.name}'{did_you_mean(str(key), list(fields))}",
                    "form.unknown_field",
                )
                continue
            try:
                fixed[str(f.column)] = types[f.type].parse(f, value) if f.type in types else value
                problem = types[f.type].validate(f, fixed[str(f.column)]) if f.type in types else None
            except (ValueError, TypeError) as exc:
                problem = str(exc)
            if problem:
                fail((*path, "set", key), f"{problem}", "form.bad_value")
            else:
                fixed[str(f.column)] = value
        out.append(
            PublicFormDef(
                slug=str(slug),
                object=obj.name,
                label=label_of(fraw.get("label"), ""),
                fields=tuple(names),
                set=fixed,
                thanks=label_of(fraw.get("thanks"), ""),
                frame_ancestors=tuple(_names(fraw.get("frame_ancestors"))),
                per_hour=int(fraw["per_hour"]) if isinstance(fraw.get("per_hour"), int) else 10,
            )
        )
    return tuple(out)


def check_view_filters(app: App, src: Source, types: Any, functions: Any, problems: list[Problem]) -> None:
    """Every view filter is a boolean expression over its object's fields; a board sums a number."""
    from engine.blueprint.scope import FormulaPending, ObjectScope
    from engine.expr import Kind, check, parse

    for obj in app.objects:
        if obj.board is not None and obj.board.sum is not None and obj.has_field(obj.board.sum):
            summed = obj.field(obj.board.sum)
            if summed.type == "formula" and summed.settings.get("result") not in (None, Kind.NUMBER.value):
                problems.append(
                    src.problem(
                        ("objects", obj.name, "board", "sum"),
                        f"a board sums a number field: formula '{summed.name}' gives {summed.settings['result']}",
                        "board.bad_field",
                    )
                )
        scope = ObjectScope(app, obj, types)
        for view in obj.views:
            if view.filter is None:
                continue
            try:
                check(parse(view.filter), scope, functions, expected=Kind.BOOLEAN, sql=True)
            except ExprError as exc:
                prefix = f"expression col {exc.col}: " if exc.col else "expression: "
                problems.append(
                    src.problem(("objects", obj.name, "views", view.name, "filter"), prefix + exc.message, exc.code)
                )
            except FormulaPending:  # a formula that failed to type; already reported
                continue
