"""Semantic checks and construction of the frozen model from checked blueprint data."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Protocol

from engine.blueprint.model import (
    SYSTEM_COLUMNS,
    App,
    FieldDef,
    IndexDef,
    Label,
    LayoutDef,
    LayoutSection,
    ObjectDef,
    Option,
    RuleDef,
)
from engine.blueprint.roles import RoleBuilder, has_scope_expressions
from engine.blueprint.shape import blueprint_schema, did_you_mean
from engine.blueprint.source import Path_, Source
from engine.blueprint.views import ViewsBuilder, navigation, public_forms, timeline_of
from engine.errors import Problem

COMMON_FIELD_KEYS = frozenset(
    {"type", "label", "help", "required", "unique", "index", "default", "renamed_from", "visible_if", "required_if"}
)
#: Field types that hold no value a user enters, so nothing can be required of them.
UNENTERED_TYPES = ("formula", "autonumber", "child_table")
#: Field names that would clash with system columns or API query parameters.
RESERVED_FIELD_NAMES = frozenset(SYSTEM_COLUMNS) | {
    "sort",
    "limit",
    "cursor",
    "fields",
    "filter",
    "with_total",
    "q",
    "expand",
    "deleted_at",
}
#: Type-specific field keys (the schema's field keys beyond the common ones).
SETTING_KEYS = frozenset(blueprint_schema()["$defs"]["field"]["properties"]) - COMMON_FIELD_KEYS
RESERVED_OBJECT_PREFIXES = ("lw_", "sqlite_", "pg_")
#: Object names that are paths of their own: /api/v1/trash, /api/v1/notifications, and the app's
#: /app/search, /app/locale and /app/notifications.
RESERVED_OBJECT_NAMES = frozenset({"trash", "notifications", "search", "locale"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class FieldTypeSpec(Protocol):
    """What the checker needs of a field type (implemented by engine.types)."""

    @property
    def settings(self) -> frozenset[str]: ...

    @property
    def bound_error(self) -> str: ...

    def parse(self, f: FieldDef, raw: Any) -> Any: ...
    def parse_bound(self, f: FieldDef, raw: Any) -> Any: ...
    def show_bound(self, f: FieldDef, bound: Any) -> str: ...
    def validate(self, f: FieldDef, value: Any) -> str | None: ...
    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]: ...


class FieldTypes(Protocol):
    def __contains__(self, name: object) -> bool: ...
    def __getitem__(self, name: str) -> FieldTypeSpec: ...


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _dict(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def humanize(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def label_of(raw: Any, fallback: str) -> Label:
    if isinstance(raw, dict):
        return Label(en=str(raw.get("en") or fallback), zh=raw.get("zh"))
    if isinstance(raw, str) and raw:
        return Label(en=raw)
    return Label(en=humanize(fallback))


def _text(raw: Any) -> str | None:
    return raw if isinstance(raw, str) and raw.strip() else None


def _maybe_label(raw: Any) -> Label | None:
    return label_of(raw, "") if raw else None


_GOT = re.compile(r",? got .*$")


def _shown(raw: Any) -> str:
    """A blueprint value as its author wrote it (dates without Python's repr)."""
    if isinstance(raw, date | datetime):
        return f"'{raw.isoformat()}'"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return repr(raw)


class AppBuilder:
    """Turns shape-checked data into an `App`, reporting every semantic problem found."""

    def __init__(self, src: Source, types: FieldTypes, problems: list[Problem]) -> None:
        self.src = src
        self.types = types
        self.problems = problems

    def fail(self, path: Path_, message: str, code: str, *, key: bool = False) -> None:
        self.problems.append(self.src.problem(path, message, code, key=key))

    # -- app -----------------------------------------------------------------------------
    def build(self) -> App:
        data = self.src.data
        app = _dict(data.get("app"))
        raw_objects = _dict(data.get("objects"))
        parents = self._child_parents(raw_objects)
        objects = [self._object(name, raw, parents) for name, raw in raw_objects.items() if isinstance(raw, dict)]
        self._check_references(objects)
        self._check_renames(objects, ("objects",))
        built = App(
            name=str(app.get("name", "app")),
            label=label_of(app.get("label"), str(app.get("name", "app"))),
            version=str(app.get("version", "0")),
            objects=tuple(objects),
            description=_maybe_label(app.get("description")),
            default_locale=str(app.get("default_locale", "en")),
            roles=RoleBuilder(self.fail, objects).build(_dict(data.get("roles"))),
            timezone=self._timezone(app.get("timezone")),
            navigation=navigation(self.fail, app.get("navigation"), objects, lambda raw, _: _maybe_label(raw)),
            forms=public_forms(self.fail, data.get("forms"), objects, lambda raw, _: _maybe_label(raw), self.types),
        )
        expressive = any(
            o.rules or o.formula_fields or o.has_conditions or any(v.filter for v in o.views) for o in built.objects
        )
        if not expressive and not has_scope_expressions(built):
            return built  # no expressions: the language (and its parser) need not load
        from engine.blueprint.expressions import check_expressions

        return check_expressions(built, self.src, self.types, self.problems)

    def _timezone(self, raw: Any) -> str:
        """The app's time zone: an IANA name the zone database knows (a did-you-mean if close)."""
        if not isinstance(raw, str) or raw == "UTC":
            return "UTC"  # absent, or the wrong type (the shape check reported it)
        import zoneinfo

        known = zoneinfo.available_timezones()  # IANA zones only (no file names such as posixrules)
        if raw not in known:
            hint = did_you_mean(raw, sorted(known)) or " (an IANA name: Asia/Shanghai)"
            self.fail(("app", "timezone"), f"'{raw[:64]}' is not a time zone{hint}", "app.bad_timezone")
            return "UTC"
        return raw

    def _child_parents(self, raw_objects: Mapping[str, Any]) -> dict[str, str]:
        """child object -> parent object, from child_table fields; reports shared and cyclic children."""
        parents: dict[str, str] = {}
        link: dict[str, Path_] = {}  # child object -> the child_table field's `object` key
        for oname, raw in raw_objects.items():
            fields = raw.get("fields") if isinstance(raw, dict) else None
            for fname, fraw in (fields or {}).items() if isinstance(fields, dict) else ():
                if not isinstance(fraw, dict) or fraw.get("type") != "child_table":
                    continue
                child = fraw.get("object")
                if not isinstance(child, str) or child not in raw_objects:
                    continue
                path = ("objects", oname, "fields", fname, "object")
                if child == oname:
                    self.fail(path, f"'{oname}' cannot be a child table of itself", "object.child_cycle")
                elif child in parents:
                    self.fail(
                        path,
                        f"'{child}' is already the child table of '{parents[child]}'; "
                        "a line object belongs to one parent",
                        "object.child_shared",
                    )
                else:
                    parents[child] = oname
                    link[child] = path
                    cycle = self._cycle_from(child, parents)
                    if cycle:
                        self.fail(path, f"child tables form a cycle: {' -> '.join(cycle)}", "object.child_cycle")
                        for c in cycle:
                            parents.pop(c, None)
        return parents

    @staticmethod
    def _cycle_from(child: str, parents: Mapping[str, str]) -> list[str]:
        """The cycle closed by linking `child` to its parent, from that parent down; [] if none."""
        chain = [child]
        node = child
        while node in parents:
            node = parents[node]
            if node == child:
                holders = list(reversed(chain))
                start = holders.index(parents[child])
                ring = holders[start:] + holders[:start]
                return [*ring, ring[0]]
            if node in chain:
                return []
            chain.append(node)
        return []

    # -- objects ---------------------------------------------------------------------------
    def _object(self, name: str, raw: Mapping[str, Any], parents: Mapping[str, str]) -> ObjectDef:
        path: Path_ = ("objects", name)
        if name.startswith(RESERVED_OBJECT_PREFIXES):
            self.fail(
                path,
                f"object name '{name}' is reserved (prefixes {', '.join(RESERVED_OBJECT_PREFIXES)} "
                "belong to the system)",
                "name.reserved",
                key=True,
            )
        elif name in RESERVED_OBJECT_NAMES:
            self.fail(path, f"object name '{name}' is reserved (the API's /api/v1/{name})", "name.reserved", key=True)
        parent = parents.get(name)
        raw_fields = _dict(raw.get("fields"))
        fields = [self._field(path, fname, fraw) for fname, fraw in raw_fields.items() if isinstance(fraw, dict)]
        self._check_columns(path, fields, parent)
        self._check_renames(fields, (*path, "fields"))
        field_names = [f.name for f in fields]
        title = str(raw.get("title", "name"))
        if "title" in raw and title not in field_names:
            self.fail(
                (*path, "title"),
                f"title field '{title}' is not a field of '{name}'{did_you_mean(title, field_names)}",
                "object.unknown_field",
            )
        elif title not in field_names:
            title = next((f.name for f in fields if f.type in ("text", "autonumber")), "id")
        indexes = tuple(
            self._index(path, i, ix, fields, owned=bool(raw.get("owned", parent is None)))
            for i, ix in enumerate(_list(raw.get("indexes")))
            if isinstance(ix, dict)
        )
        layouts = tuple(
            self._layout((*path, "layouts", lname), lname, lraw, field_names)
            for lname, lraw in _dict(raw.get("layouts")).items()
            if isinstance(lraw, dict)
        )
        label = label_of(raw.get("label"), name)
        shown = ViewsBuilder(self.fail, label_of, owned=bool(raw.get("owned", parent is None)))
        timeline, timeline_at = timeline_of(self.fail, path, name, raw.get("timeline"), fields)
        return ObjectDef(
            name=name,
            label=label,
            plural=label_of(raw.get("plural"), label.en),
            fields=tuple(fields),
            indexes=indexes,
            layouts=layouts,
            rules=self._rules(path, _list(raw.get("rules")), [f.name for f in fields]),
            owned=bool(raw.get("owned", parent is None)),
            title_field=title,
            parent=parent,
            renamed_from=raw.get("renamed_from"),
            description=_maybe_label(raw.get("description")),
            views=shown.views(path, raw.get("views"), fields),
            board=shown.board(path, raw.get("board"), fields),
            timeline=timeline,
            timeline_at=timeline_at,
        )

    def _rules(self, path: Path_, raw: list[Any], field_names: list[str]) -> tuple[RuleDef, ...]:
        rules: list[RuleDef] = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("when"), str):
                continue
            name = str(item.get("name") or f"rule_{i + 1}")
            if any(r.name == name for r in rules):
                self.fail((*path, "rules", i, "name"), f"rule '{name}' is declared twice", "rule.duplicate")
            target = item.get("field")
            if isinstance(target, str) and target not in field_names:
                self.fail(
                    (*path, "rules", i, "field"),
                    f"'{target}' is not a field{did_you_mean(target, field_names)}",
                    "rule.unknown_field",
                )
            message = label_of(item.get("message"), name)
            rules.append(
                RuleDef(
                    name=name, when=item["when"], message=message, field=target if isinstance(target, str) else None
                )
            )
        return tuple(rules)

    def _check_columns(self, path: Path_, fields: Iterable[FieldDef], parent: str | None) -> None:
        taken: dict[str, str] = dict.fromkeys(SYSTEM_COLUMNS, "a system column; choose another name")
        if parent:
            taken[f"{parent}_id"] = f"the link to the parent '{parent}'"
        for f in fields:
            col = f.column
            if col is None:
                continue
            if col in taken and f.name not in RESERVED_FIELD_NAMES:
                self.fail(
                    (*path, "fields", f.name),
                    f"field '{f.name}' is stored in column '{col}', which is already {taken[col]}",
                    "field.column_clash",
                    key=True,
                )
            taken[col] = f"used by field '{f.name}'"

    def _check_renames(self, items: Iterable[ObjectDef | FieldDef], path: Path_) -> None:
        items = list(items)
        names = {i.name for i in items}
        seen: dict[str, str] = {}
        for item in items:
            old = item.renamed_from
            if not old:
                continue
            where = (*path, item.name, "renamed_from")
            if old in names:
                self.fail(where, f"'{old}' still exists; a rename's old name must be gone", "rename.conflict")
            elif old in seen:
                self.fail(where, f"'{old}' is already renamed to '{seen[old]}'", "rename.conflict")
            seen[old] = item.name

    # -- fields ------------------------------------------------------------------------------
    def _field(self, opath: Path_, name: str, raw: Mapping[str, Any]) -> FieldDef:
        path: Path_ = (*opath, "fields", name)
        type_name = raw.get("type")
        if name in RESERVED_FIELD_NAMES:
            why = "every record has this system column" if name in SYSTEM_COLUMNS else "it is an API query parameter"
            self.fail(path, f"field name '{name}' is reserved: {why}", "name.reserved", key=True)
        known = isinstance(type_name, str) and type_name in self.types
        settings = {k: raw[k] for k in raw if k not in COMMON_FIELD_KEYS and k in SETTING_KEYS}
        f = FieldDef(
            name=name,
            type=str(type_name),
            label=label_of(raw.get("label"), name),
            required=bool(raw.get("required", False)),
            unique=bool(raw.get("unique", False)),
            indexed=bool(raw.get("index", False)),
            default=None,
            max_length=raw.get("max_length") if isinstance(raw.get("max_length"), int) else None,
            pattern=raw.get("pattern") if isinstance(raw.get("pattern"), str) else None,
            help=_maybe_label(raw.get("help")),
            options=self._options(path, raw.get("options")),
            target=raw.get("object") if isinstance(raw.get("object"), str) else None,
            on_delete=str(raw.get("on_delete", "restrict")),
            renamed_from=raw.get("renamed_from") if isinstance(raw.get("renamed_from"), str) else None,
            settings=MappingProxyType(settings),
            visible_if=_text(raw.get("visible_if")),
            required_if=_text(raw.get("required_if")),
        )
        self._check_conditions(path, f)
        if not known:
            return f
        ftype = self.types[str(type_name)]
        for key in settings:
            if key not in ftype.settings:
                self.fail(
                    (*path, key),
                    f"'{key}' does not apply to {article(str(type_name))} field",
                    "field.option_not_applicable",
                    key=True,
                )
        for key, message, code in ftype.check_definition(f):
            self.fail((*path, key), message, code, key=key not in raw)
        f = self._bounds(path, f, ftype, raw)
        if f.pattern is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # FutureWarning about nested sets is not the author's error
                    re.compile(f.pattern)
            except re.error as exc:
                self.fail(
                    (*path, "pattern"), f"'{f.pattern}' is not a valid regular expression: {exc}", "field.bad_pattern"
                )
        if f.type == "lookup" and f.on_delete == "set_null" and f.required:
            self.fail(
                (*path, "on_delete"),
                "a required lookup cannot use on_delete: set_null",
                "field.bad_on_delete",
            )
        if isinstance(raw.get("default"), dict):
            f = replace(f, default_expr=self._default_expr(path, f, raw["default"]))
        elif "default" in raw:
            default = self._default(path, f, ftype, raw["default"])
            f = replace(f, default=default)
        return f

    def _check_conditions(self, path: Path_, f: FieldDef) -> None:
        """A required field cannot be hidden, and only fields a user fills can be required."""
        if f.required and f.visible_if:
            self.fail(
                (*path, "visible_if"),
                f"'{f.name}' is required, so it cannot be hidden; use required_if with the same condition",
                "field.required_hidden",
            )
        if f.required_if and f.type in UNENTERED_TYPES:
            self.fail(
                (*path, "required_if"),
                f"required_if does not apply to {article(f.type)} field (nobody fills it in)",
                "field.option_not_applicable",
                key=True,
            )
        if f.required_if and f.required:
            self.fail(
                (*path, "required_if"), f"'{f.name}' is always required; drop required_if", "field.required_twice"
            )

    def _default_expr(self, path: Path_, f: FieldDef, raw: Mapping[str, Any]) -> str | None:
        """`default: {expr: "today()"}`: the expression text (type-checked with the others)."""
        where = (*path, "default")
        text = raw.get("expr")
        if set(raw) != {"expr"} or not isinstance(text, str) or not text.strip():
            self.fail(
                where,
                'a computed default is written {expr: "..."} with one expression, e.g. {expr: "today()"}',
                "field.bad_default",
            )
            return None
        if f.type in ("child_table", "autonumber", "attachment", "formula"):
            self.fail(where, f"{article(f.type)} field cannot have a default", "field.bad_default")
            return None
        return text

    def _bounds(self, path: Path_, f: FieldDef, ftype: FieldTypeSpec, raw: Mapping[str, Any]) -> FieldDef:
        """`f` with its `min`/`max`, read by the field type (numbers, dates or date-times)."""
        bounds: dict[str, Any] = {}
        for key in ("min", "max"):
            if key not in raw or raw[key] is None or key not in ftype.settings:
                continue  # a bound on a type that takes none is reported as not applicable
            try:
                bounds[key] = ftype.parse_bound(f, raw[key])
            except ValueError as exc:
                self.fail((*path, key), str(exc), ftype.bound_error)
        low, high = bounds.get("min"), bounds.get("max")
        if low is not None and high is not None and low > high:
            self.fail(
                (*path, "min"),
                f"min {ftype.show_bound(f, low)} is greater than max {ftype.show_bound(f, high)}",
                "field.bad_range",
            )
        return replace(f, **bounds) if bounds else f

    def _default(self, path: Path_, f: FieldDef, ftype: FieldTypeSpec, raw: Any) -> Any:
        if raw is None:
            return None
        where = (*path, "default")
        if f.type in ("child_table", "autonumber", "attachment", "lookup", "user"):
            self.fail(where, f"{article(f.type)} field cannot have a default", "field.bad_default")
            return None
        shown = _shown(raw)
        try:
            value = ftype.parse(f, raw)
        except ValueError as exc:
            reason = _GOT.sub("", str(exc))  # the value is named once, at the start
            self.fail(where, f"default {shown} is not valid for {article(f.type)} field: {reason}", "field.bad_default")
            return None
        message = ftype.validate(f, value)
        if message:
            names_value = message.startswith("'")
            text = f"default {message}" if names_value else f"default {shown} {message}"
            if f.options and isinstance(value, str):
                text += did_you_mean(value, [o.id for o in f.options])
            self.fail(where, text, "field.bad_default")
            return None
        return value

    def _options(self, path: Path_, raw: Any) -> tuple[Option, ...]:
        if not isinstance(raw, list):
            return ()
        out: list[Option] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            oid = item if isinstance(item, str) else item.get("id") if isinstance(item, dict) else None
            if not isinstance(oid, str):
                continue
            if oid in seen:
                self.fail((*path, "options", i), f"option '{oid}' is listed twice", "field.duplicate_option")
                continue
            seen.add(oid)
            label = item.get("label") if isinstance(item, dict) else None
            color = item.get("color") if isinstance(item, dict) else None
            out.append(Option(id=oid, label=label_of(label, oid), color=color))
        return tuple(out)

    # -- indexes, layouts, references --------------------------------------------------------
    def _index(self, opath: Path_, i: int, raw: Mapping[str, Any], fields: list[FieldDef], *, owned: bool) -> IndexDef:
        by_name = {f.name: f for f in fields}
        names = [n for n in _list(raw.get("fields")) if isinstance(n, str)]
        system = {"created_at", "updated_at", *(("owner_id",) if owned else ())}
        for j, n in enumerate(names):
            f = by_name.get(n)
            where = (*opath, "indexes", i, "fields", j)
            if f is None and n in system:
                continue
            if f is None:
                self.fail(
                    where,
                    f"index field '{n}' is not a field of '{opath[-1]}'{did_you_mean(n, by_name)}",
                    "index.unknown_field",
                )
            elif f.column is None or f.type in ("multi_select", "attachment", "long_text"):
                self.fail(where, f"{article(f.type)} field cannot be indexed", "index.bad_field")
        for j, n in enumerate(names):
            if n in names[:j]:
                self.fail(
                    (*opath, "indexes", i, "fields", j), f"'{n}' is listed twice in this index", "index.duplicate_field"
                )
        return IndexDef(fields=tuple(names), unique=bool(raw.get("unique", False)), name=raw.get("name"))

    def _layout(self, path: Path_, name: str, raw: Mapping[str, Any], field_names: list[str]) -> LayoutDef:
        sections = []
        placed: set[str] = set()
        for i, sraw in enumerate(_list(raw.get("sections"))):
            if not isinstance(sraw, dict):
                continue
            names = [n for n in _list(sraw.get("fields")) if isinstance(n, str)]
            for j, n in enumerate(names):
                if n not in field_names:
                    self.fail(
                        (*path, "sections", i, "fields", j),
                        f"layout field '{n}' is not a field{did_you_mean(n, field_names)}",
                        "layout.unknown_field",
                    )
                elif n in placed:
                    self.fail(
                        (*path, "sections", i, "fields", j),
                        f"'{n}' is placed twice in this layout",
                        "layout.duplicate_field",
                    )
                placed.add(n)
            sections.append(
                LayoutSection(
                    label=_maybe_label(sraw.get("label")),
                    fields=tuple(names),
                    columns=sraw["columns"] if isinstance(sraw.get("columns"), int) else 1,
                    visible_if=_text(sraw.get("visible_if")),
                    required_if=_text(sraw.get("required_if")),
                )
            )
        return LayoutDef(name=name, sections=tuple(sections))

    def _check_references(self, objects: list[ObjectDef]) -> None:
        names = [o.name for o in objects]
        for o in objects:
            for f in o.fields:
                if f.type not in ("lookup", "child_table") or not f.target:
                    continue
                if f.target not in names:
                    self.fail(
                        ("objects", o.name, "fields", f.name, "object"),
                        f"'{f.target}' is not an object of this blueprint{did_you_mean(f.target, names)}",
                        "field.unknown_object",
                    )
                elif f.type == "lookup" and f.on_delete == "cascade" and f.target == o.name:
                    self.fail(
                        ("objects", o.name, "fields", f.name, "on_delete"),
                        "a lookup to its own object cannot cascade deletes",
                        "field.bad_on_delete",
                    )
