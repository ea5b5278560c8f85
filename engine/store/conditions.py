"""Conditional fields at run time: `visible_if`, `required_if` and computed defaults, compiled once
per object and applied on every write (one record, bulk, lines, forms alike).

A field's visibility is its own `visible_if` and that of every layout section holding it, all of
which must hold; it is required while it is visible and `required` is set, or its `required_if` or
a holding section's `required_if` holds. On a write:

- a field that is not visible may not receive a value (`field.not_visible`); a value already
  stored stays (it is not erased when its field becomes hidden, and it is back when it shows again);
- a field that is required must be filled (`field.required`), checked on the record as it will be
  stored (for an update: the stored record with the changes);
- on create, a field left out gets its default (constant or computed) only while it is visible.

Conditions read the record's own fields and the acting user's attributes (`user.region`), never
the database, so `condition_state` is pure: the form engine calls it while the user types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from engine.blueprint.conditions import check_condition, default_kind
from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.errors import FieldProblem
from engine.expr import FunctionRegistry, Kind, builtin_functions, to_python
from engine.expr.types import RecordView
from engine.store.access import Access

USER = "user"
#: Field types that hold no value a user enters: visibility applies to them, requiredness does not.
UNENTERED_TYPES = frozenset({"formula", "autonumber", "child_table"})


@dataclass(frozen=True)
class Condition:
    """One compiled expression and the blueprint text it came from."""

    text: str
    run: Callable[[RecordView], Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class FieldConditions:
    """What decides whether one field is shown, required and defaulted."""

    field: FieldDef
    visible: tuple[Condition, ...] = ()  # all must hold (the field's and its sections')
    required: tuple[Condition, ...] = ()  # any makes it required
    default: Condition | None = None

    @property
    def key(self) -> str:
        """The field's input key (`account_id` for a lookup `account`)."""
        return self.field.column or self.field.name


@dataclass(frozen=True)
class ObjectConditions:
    """The compiled conditions of one object, by field name (fields without any are left out)."""

    object: str
    fields: Mapping[str, FieldConditions] = field(default_factory=dict)
    #: Every compiled condition by its text (a page evaluates a section's `visible_if` through it).
    by_text: Mapping[str, Condition] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.fields


class ValuesView:
    """A record being entered, as expressions see it: its values by column, and `user.*`."""

    def __init__(self, obj: ObjectDef, values: Mapping[str, Any], user: Mapping[str, Any]) -> None:
        self.obj = obj
        self.values = values
        self.user = user

    def value(self, path: tuple[str, ...]) -> Any:
        if path[0] == USER and len(path) == 2:
            return self.user.get(path[1])
        if self.obj.has_field(path[0]):
            return self.values.get(self.obj.field(path[0]).column or path[0])
        return self.values.get(path[0])

    def items(self, collection: str) -> Iterable[RecordView]:
        return []  # conditions never aggregate (refused at load)

    def previous(self, path: tuple[str, ...]) -> Any:
        return None  # nor read earlier values


def _compile(app: App, obj: ObjectDef, text: str, types: Any, functions: FunctionRegistry, kind: Kind) -> Condition:
    return Condition(text, to_python(check_condition(app, obj, text, types, functions, expected=kind)))


def compile_conditions(
    app: App, obj: ObjectDef, types: Any, functions: FunctionRegistry | None = None
) -> ObjectConditions:
    """Compile the conditions and computed defaults of `obj` (type-checked when the blueprint loaded)."""
    functions = functions or builtin_functions()
    cache: dict[str, Condition] = {}

    def condition(text: str) -> Condition:
        if text not in cache:
            cache[text] = _compile(app, obj, text, types, functions, Kind.BOOLEAN)
        return cache[text]

    visible: dict[str, list[Condition]] = {}
    required: dict[str, list[Condition]] = {}
    for f in obj.fields:
        if f.visible_if:
            visible.setdefault(f.name, []).append(condition(f.visible_if))
        if f.required_if:
            required.setdefault(f.name, []).append(condition(f.required_if))
    for layout in obj.layouts:
        for section in layout.sections:
            for text in (section.visible_if, section.required_if):
                if text:
                    condition(text)
            for name in section.fields:
                if not obj.has_field(name):
                    continue
                if section.visible_if and condition(section.visible_if) not in visible.get(name, []):
                    visible.setdefault(name, []).append(condition(section.visible_if))
                if section.required_if and obj.field(name).type not in UNENTERED_TYPES:
                    required.setdefault(name, []).append(condition(section.required_if))
    fields: dict[str, FieldConditions] = {}
    for f in obj.fields:
        default = None
        if f.default_expr:
            kind = default_kind(f, types)
            default = _compile(app, obj, f.default_expr, types, functions, kind or Kind.NULL)
        if f.name in visible or f.name in required or default is not None:
            fields[f.name] = FieldConditions(
                f, tuple(visible.get(f.name, ())), tuple(required.get(f.name, ())), default
            )
    return ObjectConditions(obj.name, fields, dict(cache))


def holds(condition: Condition, view: RecordView) -> bool:
    """Whether a condition holds for a record; null counts as false."""
    return condition.run(view) is True


def is_visible(conds: FieldConditions, view: RecordView) -> bool:
    return all(holds(c, view) for c in conds.visible)


def is_required(conds: FieldConditions, view: RecordView) -> bool:
    """Required now: visible, and `required` or one of its `required_if` conditions holds."""
    if conds.field.type in UNENTERED_TYPES or not is_visible(conds, view):
        return False
    return conds.field.required or any(holds(c, view) for c in conds.required)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


# -- the user -------------------------------------------------------------------------------------
class ActingUser(Mapping[str, Any]):
    """`user.*` of a write: the access's user, or for the system (no access) only its actor id."""

    NAMES = ("id", "team", "region", "email", "locale")

    def __init__(self, access: Access | None, actor: int | None) -> None:
        self.access = access
        self.actor = actor

    def __getitem__(self, name: str) -> Any:
        if name not in self.NAMES:
            raise KeyError(name)
        if self.access is not None:
            return self.access.attribute(name)
        return self.actor if name == "id" else None

    def __iter__(self) -> Any:
        return iter(self.NAMES)

    def __len__(self) -> int:
        return len(self.NAMES)


# -- on a write -----------------------------------------------------------------------------------
def apply_conditions(
    conds: ObjectConditions,
    types: Any,
    obj: ObjectDef,
    row: dict[str, Any],
    previous: Mapping[str, Any] | None,
    user: Mapping[str, Any],
    loc: tuple[str | int, ...],
    locked: frozenset[str] = frozenset(),
) -> list[FieldProblem]:
    """Fill the defaults a new `row` waits for, then report what the conditions refuse.

    `row` holds the record as it will be stored (for an update, the stored record with the
    changes); `previous` is the stored record (None on create). A field in `locked` (one the
    user may not change) is never required of them."""
    if conds.empty:
        return []
    problems: list[FieldProblem] = []
    view = ValuesView(obj, row, user)
    if previous is None:
        fill_defaults(conds, types, row, view)
    for c in conds.fields.values():
        key = c.key
        if c.field.column is None:
            continue  # a child table: lines are shown or not, never refused here
        value = row.get(key)
        if not is_visible(c, view):
            sent = previous is None or value != previous.get(key)
            if sent and not is_empty(value):
                problems.append(
                    FieldProblem(
                        (*loc, key), f"'{c.field.name}' is not shown now and cannot be set", "field.not_visible"
                    )
                )
            continue
        attachment_later = previous is None and c.field.type == "attachment"  # files come after the record
        if c.field.name in locked or attachment_later:
            continue
        if is_empty(value) and is_required(c, view):
            problems.append(FieldProblem((*loc, key), f"'{c.field.name}' is required", "field.required"))
    return problems


def fill_defaults(conds: ObjectConditions, types: Any, row: dict[str, Any], view: ValuesView) -> None:
    """Defaults of the fields left out and shown now. A computed default that is no valid value for
    its field (a user's region that is not one of the options) leaves the field empty: the user did
    not send it, so it is not theirs to fix; a required field then says it is required."""
    for c in conds.fields.values():
        f = c.field
        if c.key in row or f.column is None or (c.default is None and f.default is None):
            continue
        if not is_visible(c, view):
            continue
        if c.default is None:
            row[c.key] = f.default
            continue
        try:
            value = default_value(f, types, c.default.run(view))
        except ValueError:
            continue
        if value is not None:
            row[c.key] = value


def default_value(f: FieldDef, types: Any, value: Any) -> Any:
    """A computed default as the field stores it; raises `ValueError` with the field type's reason."""
    if value is None:
        return None
    ftype = types[f.type]
    if isinstance(value, Decimal) and f.type in ("integer", "lookup", "user") and value == value.to_integral_value():
        value = int(value)
    elif isinstance(value, datetime) and f.type == "date":
        value = value.date()
    elif isinstance(value, date) and not isinstance(value, datetime) and f.type == "datetime":
        value = value.isoformat() + "T00:00:00Z"
    parsed = ftype.parse(f, value)
    message = ftype.validate(f, parsed)
    if message:
        raise ValueError(message)
    return parsed
