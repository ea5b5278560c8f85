"""The form spec: what a form for one object shows to one user, as pure data the pages render.

    spec = form_spec(app, types, "opportunity", access, mode="edit")
    for section in spec.sections:
        for f in section.fields: ...          # widget, label, read_only, options, lines, ...

Sections come from the object's layout (its first one, unless one is named); without a layout
there is one section with every field in blueprint order. Fields the user may not see (a role's
`hidden`) are left out entirely; fields they may not change (`read_only`, formulas, autonumbers,
and everything in view mode) are marked `read_only`. In create and edit mode, a field the user may
write that the layout leaves out goes into a last section, "Other", so every writable field can
be reached. Child tables are nested `LineSpec`s: the line object's fields, in order.

Whether a field is shown or required *now* depends on the values entered: `engine.forms.conditions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from engine.auth.policy import Decision, decide
from engine.blueprint.model import App, Bound, FieldDef, Label, LayoutDef, LayoutSection, ObjectDef, Option
from engine.errors import NotFound
from engine.store.access import READ, Access
from engine.store.conditions import ObjectConditions, compile_conditions

Mode = Literal["create", "edit", "view"]
MODES: tuple[Mode, ...] = ("create", "edit", "view")
#: Field types whose value nobody enters: always shown read-only.
COMPUTED_TYPES = frozenset({"formula", "autonumber"})
#: The label of the section holding writable fields a layout leaves out.
OTHER_LABEL = Label(en="Other", zh="其他")


@dataclass(frozen=True)
class LineSpec:
    """A child table's lines: the line object's fields (as `FieldSpec`s), in blueprint order."""

    object: str
    label: Label
    plural: Label
    fields: tuple[FieldSpec, ...]
    #: The line object's compiled conditions and definition, for `engine.forms.conditions.line_state`.
    conditions: ObjectConditions = field(compare=False, repr=False)
    definition: ObjectDef | None = field(default=None, compare=False, repr=False)

    def field(self, name: str) -> FieldSpec:
        return _find(self.fields, name)


@dataclass(frozen=True)
class FieldSpec:
    """One input (or read-only value) of a form."""

    name: str
    #: The key the API and form posts use: `account_id` for a lookup `account`, else `name`.
    key: str
    type: str
    #: The field type's widget (`FieldType.widget`): input, textarea, number, date, select, lookup, ...
    widget: str
    label: Label
    help: Label | None
    #: Always required (the blueprint's `required`); see `required_if` for the condition.
    required: bool
    required_if: str | None
    visible_if: str | None
    read_only: bool
    #: select, multi_select: the choices in order, with labels and colours.
    options: tuple[Option, ...] = ()
    #: lookup: the object referred to.
    target: str | None = None
    #: The constant default, or None; `default_expr` is computed by the server on create.
    default: Any = None
    default_expr: str | None = None
    min: Bound | None = None
    max: Bound | None = None
    max_length: int | None = None
    pattern: str | None = None
    #: Type-specific settings (scale, currency, format, accept, max_size, ...).
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: child_table: the lines' spec.
    lines: LineSpec | None = None


@dataclass(frozen=True)
class SectionSpec:
    """A group of fields, laid out in `columns` columns."""

    #: The section's place in the form (0, 1, ...): a stable id for partial re-rendering.
    index: int
    label: Label | None
    columns: int
    fields: tuple[FieldSpec, ...]
    visible_if: str | None = None
    required_if: str | None = None
    #: True for the extra section of writable fields the layout leaves out.
    other: bool = False


@dataclass(frozen=True)
class FormSpec:
    """Everything a page needs to render a form for one object, layout, mode and user."""

    object: str
    label: Label
    mode: Mode
    #: The layout used, or None when the object declares none.
    layout: str | None
    sections: tuple[SectionSpec, ...]
    #: The object's compiled conditions and the field types, for `engine.forms.conditions.form_state`.
    conditions: ObjectConditions = field(compare=False, repr=False)
    types: Any = field(default=None, compare=False, repr=False)
    definition: ObjectDef | None = field(default=None, compare=False, repr=False)

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        """Every field of the form, in the order shown."""
        return tuple(f for s in self.sections for f in s.fields)

    def field(self, name: str) -> FieldSpec:
        return _find(self.fields, name)


def _find(fields: tuple[FieldSpec, ...], name: str) -> FieldSpec:
    for f in fields:
        if f.name == name:
            return f
    raise KeyError(name)


@dataclass(frozen=True)
class _Mask:
    """What one user may see and change of one object."""

    hidden: frozenset[str]
    locked: frozenset[str]


def _mask(app: App, types: Any, who: Access | Decision | None, object_name: str) -> _Mask:
    if who is None:
        return _Mask(frozenset(), frozenset())
    if isinstance(who, Decision):
        d = who if who.object == object_name else decide(app, who.subject, object_name, who.action, types=types)
        return _Mask(d.hidden, d.hidden | d.read_only)
    return _Mask(who.hidden(object_name), who.locked(object_name))


def form_spec(
    app: App,
    types: Any,
    object_name: str,
    access: Access | Decision | None = None,
    layout: str | None = None,
    mode: Mode = "create",
    *,
    conditions: Mapping[str, ObjectConditions] | None = None,
) -> FormSpec:
    """The form for `object_name` as the user behind `access` sees it (None: the system, all fields).

    `access` is the store's `Access` of the request (its `hidden` and `locked` fields, as every
    write enforces them), or a policy `Decision` for the object (its hidden and read-only fields).
    `conditions` are the store's compiled ones (`store.conditions`); compiled here when not given.
    Raises `NotFound` for an unknown object or layout, `ValueError` for an unknown mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not app.has_object(object_name):
        raise NotFound(f"unknown object '{object_name[:64]}'", code="object.unknown")
    obj = app.object(object_name)
    chosen = _layout(obj, layout)
    builder = _Builder(app, types, access, mode, conditions)
    mask = builder.mask(obj.name)
    sections: list[SectionSpec] = []
    placed: set[str] = set()
    raw_sections = chosen.sections if chosen is not None else (LayoutSection(None, tuple(f.name for f in obj.fields)),)
    for s in raw_sections:
        fields = tuple(builder.field(obj, obj.field(n), mask) for n in s.fields if n not in mask.hidden)
        placed.update(s.fields)
        if not fields:
            continue  # every field of the section is hidden from this user
        sections.append(SectionSpec(len(sections), s.label, s.columns, fields, s.visible_if, s.required_if))
    if mode != "view":
        rest = [f for f in obj.fields if f.name not in placed and f.name not in mask.hidden]
        writable = tuple(builder.field(obj, f, mask) for f in rest if not builder.read_only(f, mask))
        if writable:
            sections.append(SectionSpec(len(sections), OTHER_LABEL, 1, writable, other=True))
    name = chosen.name if chosen else None
    return FormSpec(obj.name, obj.label, mode, name, tuple(sections), builder.compiled(obj), types, obj)


def _layout(obj: ObjectDef, name: str | None) -> LayoutDef | None:
    if name is None:
        return obj.layouts[0] if obj.layouts else None
    try:
        return obj.layout(name)
    except KeyError:
        raise NotFound(f"'{obj.name}' has no layout '{name[:64]}'", code="layout.unknown") from None


class _Builder:
    """Builds field and line specs for one request (masks and conditions looked up once each)."""

    def __init__(
        self,
        app: App,
        types: Any,
        access: Access | Decision | None,
        mode: Mode,
        conditions: Mapping[str, ObjectConditions] | None,
    ) -> None:
        self.app = app
        self.types = types
        self.access = access
        self.mode = mode
        self.conditions = conditions
        self._masks: dict[str, _Mask] = {}

    def mask(self, object_name: str) -> _Mask:
        if object_name not in self._masks:
            self._masks[object_name] = _mask(self.app, self.types, self.access, object_name)
        return self._masks[object_name]

    def compiled(self, obj: ObjectDef) -> ObjectConditions:
        if self.conditions is not None and obj.name in self.conditions:
            return self.conditions[obj.name]
        return compile_conditions(self.app, obj, self.types)

    def read_only(self, f: FieldDef, mask: _Mask) -> bool:
        return self.mode == "view" or f.type in COMPUTED_TYPES or f.name in mask.locked

    def field(self, obj: ObjectDef, f: FieldDef, mask: _Mask) -> FieldSpec:
        return FieldSpec(
            name=f.name,
            key=f.column or f.name,
            type=f.type,
            widget=str(self.types[f.type].widget) if f.type in self.types else "input",
            label=f.label,
            help=f.help,
            required=f.required,
            required_if=f.required_if,
            visible_if=f.visible_if,
            read_only=self.read_only(f, mask),
            options=f.options,
            target=f.target if f.type == "lookup" else None,
            default=f.default,
            default_expr=f.default_expr,
            min=f.min,
            max=f.max,
            max_length=f.max_length,
            pattern=f.pattern,
            settings=f.settings,
            lines=self.lines(f) if f.type == "child_table" else None,
        )

    def lines(self, f: FieldDef) -> LineSpec | None:
        if not f.target or not self.app.has_object(f.target):
            return None
        child = self.app.object(f.target)
        mask = self.mask(child.name)
        if self.access is not None and not isinstance(self.access, Decision) and not self.access.may(child.name, READ):
            fields: tuple[FieldSpec, ...] = ()
        else:
            fields = tuple(self.field(child, cf, mask) for cf in child.fields if cf.name not in mask.hidden)
        return LineSpec(child.name, child.label, child.plural, fields, self.compiled(child), child)
