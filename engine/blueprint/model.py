"""The frozen blueprint model: what the engine interprets. Built only by `engine.blueprint.build`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from types import MappingProxyType
from typing import Any

#: A `min`/`max` bound: a number for numeric types, a date or an aware UTC datetime for date types.
Bound = Decimal | date | datetime

#: Columns every object table has; blueprints may not declare fields with these names.
SYSTEM_COLUMNS = ("id", "created_at", "updated_at", "created_by", "owner_id", "version", "position")


@dataclass(frozen=True)
class Label:
    """A bilingual label; `get` falls back to English, then Chinese."""

    en: str
    zh: str | None = None

    def get(self, locale: str = "en") -> str:
        if locale.startswith("zh") and self.zh:
            return self.zh
        return self.en or self.zh or ""

    def as_dict(self) -> dict[str, str]:
        out = {"en": self.en}
        if self.zh:
            out["zh"] = self.zh
        return out


@dataclass(frozen=True)
class Option:
    """One choice of a select or multi-select field."""

    id: str
    label: Label
    color: str | None = None


@dataclass(frozen=True)
class FieldDef:
    """One field of an object. Type-specific settings live in `settings` (see engine.types)."""

    name: str
    type: str
    label: Label
    required: bool = False
    unique: bool = False
    indexed: bool = False
    default: Any = None
    min: Bound | None = None  # parsed by the field type (`FieldType.parse_bound`)
    max: Bound | None = None
    max_length: int | None = None
    pattern: str | None = None
    help: Label | None = None
    options: tuple[Option, ...] = ()
    target: str | None = None  # lookup: object referred to; child_table: child object
    on_delete: str = "restrict"  # lookup: restrict | set_null | cascade
    renamed_from: str | None = None
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Conditions (boolean expressions over the record's own fields and `user.*`): the field is
    #: shown and may hold a new value only while `visible_if` holds; it must be filled while `required_if` holds.
    visible_if: str | None = None
    required_if: str | None = None
    #: A default computed on create (`default: {expr: "today()"}`), instead of the constant `default`.
    default_expr: str | None = None

    @property
    def column(self) -> str | None:
        """The column that stores this field, or None for fields with no column (child tables)."""
        if self.type == "child_table" or (self.type == "formula" and not self.settings.get("stored", True)):
            return None
        if self.type in ("lookup", "user"):
            return f"{self.name}_id"
        return self.name

    @property
    def conditional(self) -> bool:
        """Whether the field has a condition or a computed default (read at every write)."""
        return bool(self.visible_if or self.required_if or self.default_expr)

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)

    @cached_property
    def option_ids(self) -> frozenset[str]:
        return frozenset(o.id for o in self.options)


@dataclass(frozen=True)
class RuleDef:
    """A validation rule: a write is refused when `when` is true for the record."""

    name: str
    when: str
    message: Label
    field: str | None = None


@dataclass(frozen=True)
class IndexDef:
    fields: tuple[str, ...]
    unique: bool = False
    name: str | None = None


@dataclass(frozen=True)
class LayoutSection:
    label: Label | None
    fields: tuple[str, ...]
    columns: int = 1
    #: Conditions on every field of the section, as on a field (see `FieldDef.visible_if`).
    visible_if: str | None = None
    required_if: str | None = None


@dataclass(frozen=True)
class LayoutDef:
    name: str
    sections: tuple[LayoutSection, ...]


@dataclass(frozen=True)
class ViewDef:
    """A named list view: its columns, default sort (`-` for descending) and filter expression."""

    name: str
    label: Label
    columns: tuple[str, ...]
    sort: tuple[str, ...] = ()
    filter: str | None = None


@dataclass(frozen=True)
class BoardDef:
    """The object's kanban board: columns by a select field, the fields its cards show, the
    number summed in each column's header."""

    by: str
    card: tuple[str, ...] = ()
    sum: str | None = None


@dataclass(frozen=True)
class NavGroup:
    """A group of the app's menu: a heading (none for the top group) and objects in order."""

    label: Label | None
    objects: tuple[str, ...]


@dataclass(frozen=True)
class PublicFormDef:
    """A form anyone may submit at /f/{slug}: which object, which fields, what every submission gets."""

    slug: str
    object: str
    label: Label | None
    fields: tuple[str, ...]
    set: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    thanks: Label | None = None
    frame_ancestors: tuple[str, ...] = ()
    per_hour: int = 10


@dataclass(frozen=True)
class ObjectDef:
    """One business object: one real table."""

    name: str
    label: Label
    plural: Label
    fields: tuple[FieldDef, ...]
    indexes: tuple[IndexDef, ...] = ()
    layouts: tuple[LayoutDef, ...] = ()
    rules: tuple[RuleDef, ...] = ()
    owned: bool = True
    title_field: str = "name"
    parent: str | None = None  # set when another object holds this one as a child table
    renamed_from: str | None = None
    description: Label | None = None
    views: tuple[ViewDef, ...] = ()
    board: BoardDef | None = None
    #: `timeline:` — its records appear on the timeline of each record they point at (activities);
    #: `timeline_at` is the datetime field that places them there (None: when they were created).
    timeline: bool = False
    timeline_at: str | None = None

    def field(self, name: str) -> FieldDef:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def has_field(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    @property
    def parent_column(self) -> str | None:
        return f"{self.parent}_id" if self.parent else None

    @property
    def stored_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if f.column is not None)

    @property
    def formula_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if f.type == "formula")

    @property
    def child_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if f.type == "child_table")

    def layout(self, name: str) -> LayoutDef:
        for layout in self.layouts:
            if layout.name == name:
                return layout
        raise KeyError(name)

    @property
    def has_conditions(self) -> bool:
        """Whether a field or a layout section has `visible_if`, `required_if` or a computed default."""
        return any(f.conditional for f in self.fields) or any(
            s.visible_if or s.required_if for layout in self.layouts for s in layout.sections
        )


#: Record scopes a role may name; anything else is a boolean expression (see docs/permissions.md).
SCOPE_WORDS = ("own", "team", "all")
#: Field restrictions a role may place.
FIELD_ACCESS = ("hidden", "read_only")
ACTIONS = ("create", "read", "update", "delete")


@dataclass(frozen=True)
class PermissionDef:
    """What one role may do with one object: actions, the records it sees, and field restrictions."""

    object: str
    create: bool = False
    read: bool = False
    update: bool = False
    delete: bool = False
    scope: str = "own"  # own | team | all | a boolean expression over the record and `user.*`
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # field -> hidden | read_only

    def allows(self, action: str) -> bool:
        return action in ACTIONS and bool(getattr(self, action))

    @property
    def scope_is_expression(self) -> bool:
        return self.scope not in SCOPE_WORDS

    @property
    def hidden(self) -> frozenset[str]:
        return frozenset(k for k, v in self.fields.items() if v == "hidden")

    @property
    def read_only(self) -> frozenset[str]:
        return frozenset(k for k, v in self.fields.items() if v == "read_only")


@dataclass(frozen=True)
class RoleDef:
    """A role: an administrator, or permissions per object (objects not listed are closed)."""

    name: str
    label: Label
    admin: bool = False
    objects: tuple[PermissionDef, ...] = ()
    description: Label | None = None

    def permission(self, object_name: str) -> PermissionDef | None:
        return next((p for p in self.objects if p.object == object_name), None)


@dataclass(frozen=True)
class App:
    """A whole blueprint: app metadata and its objects, in declaration order."""

    name: str
    label: Label
    version: str
    objects: tuple[ObjectDef, ...]
    description: Label | None = None
    default_locale: str = "en"
    roles: tuple[RoleDef, ...] = ()
    #: The IANA time zone whose calendar days datetimes fall on in date buckets (`close_at:month`).
    timezone: str = "UTC"
    #: The menu: groups of objects (`navigation:`); empty means every top-level object in order.
    navigation: tuple[NavGroup, ...] = ()
    #: Public web forms (`forms:`), by slug.
    forms: tuple[PublicFormDef, ...] = ()
    #: The merged blueprint document this model was built from (stored with each migration).
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def object(self, name: str) -> ObjectDef:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(name)

    def has_object(self, name: str) -> bool:
        return any(o.name == name for o in self.objects)

    def role(self, name: str) -> RoleDef:
        for r in self.roles:
            if r.name == name:
                return r
        raise KeyError(name)

    def has_role(self, name: str) -> bool:
        return any(r.name == name for r in self.roles)
