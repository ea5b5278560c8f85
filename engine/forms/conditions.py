"""Which fields and sections of a form are shown and required now, for the values entered so far.

    state = form_state(spec, {"stage": "lost"}, user_values(subject))
    state.visible_fields   # {"name", ..., "lost_reason"}
    state.required_fields  # {"name", "lost_reason"}

The page calls this on every re-render while the user types (htmx); the store applies the same
compiled conditions on every write (`engine.store.conditions`), so what the form shows and what
the server accepts agree. Values may be given as the API takes them or as form-post text; a value
that does not parse yet (a half-typed number) counts as empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.auth.policy import Subject
from engine.blueprint.model import ObjectDef
from engine.forms.spec import FieldSpec, FormSpec, LineSpec
from engine.store.conditions import (
    UNENTERED_TYPES,
    ObjectConditions,
    ValuesView,
    fill_defaults,
    holds,
    is_required,
    is_visible,
)

#: `user.*` attributes a condition may read (see engine.blueprint.roles.USER_ATTRIBUTES).
USER_NAMES = ("id", "team", "region", "email", "locale")


@dataclass(frozen=True)
class LineState:
    """One line (row) of a child table: which of its fields are shown and required now."""

    visible_fields: frozenset[str]
    required_fields: frozenset[str]


@dataclass(frozen=True)
class FormState:
    """What the form shows and requires for the values entered so far."""

    #: Names of the fields shown now (a field of a hidden section is not shown).
    visible_fields: frozenset[str]
    #: Names of the fields that must be filled now (always among the visible, never read-only).
    required_fields: frozenset[str]
    #: Indexes (`SectionSpec.index`) of the sections shown now.
    visible_sections: frozenset[int]
    #: Child table field name -> the state of each line, in the order given.
    lines: Mapping[str, tuple[LineState, ...]]

    def shows(self, field_name: str) -> bool:
        return field_name in self.visible_fields

    def requires(self, field_name: str) -> bool:
        return field_name in self.required_fields


def user_values(subject: Subject | None) -> dict[str, Any]:
    """`user.*` of a policy subject, as `form_state` takes them."""
    if subject is None:
        return {}
    return {name: subject.attribute(name) for name in USER_NAMES}


def form_state(spec: FormSpec, values: Mapping[str, Any], user: Mapping[str, Any] | Subject | None = None) -> FormState:
    """The fields and sections of `spec` shown and required for `values` (by field key or name)."""
    who = user_values(user) if isinstance(user, Subject) else dict(user or {})
    view = ValuesView(_definition(spec.definition), parse_values(spec.definition, values, spec.types), who)
    visible: set[str] = set()
    required: set[str] = set()
    shown_sections: set[int] = set()
    for section in spec.sections:
        if section.visible_if is not None and not holds(spec.conditions.by_text[section.visible_if], view):
            continue
        shown_sections.add(section.index)
        for f in section.fields:
            shown, needed = _field_state(spec.conditions, f, view)
            if shown:
                visible.add(f.name)
            if needed:
                required.add(f.name)
    lines: dict[str, tuple[LineState, ...]] = {}
    for f in spec.fields:
        if f.lines is not None and f.name in visible:
            rows = values.get(f.key)
            lines[f.name] = tuple(
                line_state(f.lines, row, who, spec.types) for row in (rows if isinstance(rows, Sequence) else ())
            )
    return FormState(frozenset(visible), frozenset(required), frozenset(shown_sections), lines)


def initial_values(
    spec: FormSpec, user: Mapping[str, Any] | Subject | None = None, values: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The values a new record's form starts with, by field key: `values` given (parsed), then the
    constant and computed defaults (`today()`, `user.region`) of the fields shown for them — what
    the server would fill in for fields left out. Values are as the store holds them (dates, Decimals)."""
    who = user_values(user) if isinstance(user, Subject) else dict(user or {})
    obj = _definition(spec.definition)
    row = parse_values(obj, values or {}, spec.types)
    for f in obj.fields:
        key = f.column
        if key is not None and key not in row and f.default is not None and f.name not in spec.conditions.fields:
            row[key] = f.default
    fill_defaults(spec.conditions, spec.types, row, ValuesView(obj, row, who))
    return row


def line_state(spec: LineSpec, values: Any, user: Mapping[str, Any], types: Any) -> LineState:
    """Which fields of one line are shown and required for its values."""
    if not isinstance(values, Mapping):
        return LineState(frozenset(), frozenset())
    view = ValuesView(_definition(spec.definition), parse_values(spec.definition, values, types), user)
    visible: set[str] = set()
    required: set[str] = set()
    for f in spec.fields:
        shown, needed = _field_state(spec.conditions, f, view)
        if shown:
            visible.add(f.name)
        if needed:
            required.add(f.name)
    return LineState(frozenset(visible), frozenset(required))


def _field_state(conditions: ObjectConditions, f: FieldSpec, view: ValuesView) -> tuple[bool, bool]:
    """(shown, required) of one field now."""
    found = conditions.fields.get(f.name)
    if found is None:
        return True, f.required and not f.read_only
    shown = is_visible(found, view)
    needed = shown and not f.read_only and f.type not in UNENTERED_TYPES and is_required(found, view)
    return shown, needed


def _definition(obj: ObjectDef | None) -> ObjectDef:
    if obj is None:
        raise ValueError("the spec was not built by form_spec (it carries no object definition)")
    return obj


def parse_values(obj: ObjectDef | None, values: Mapping[str, Any], types: Any) -> dict[str, Any]:
    """`values` (by key or field name; JSON values or form text) as the store holds them, by column.

    Text is read as a form post gives it; a value that does not parse (yet) counts as empty;
    fields the user cannot see are simply absent from a form post, and so empty."""
    out: dict[str, Any] = {}
    for f in _definition(obj).fields:
        key = f.column
        if key is None:
            continue
        raw = values.get(key, values.get(f.name))
        if raw is None or raw == "" or f.type not in types:
            continue
        ftype = types[f.type]
        try:
            out[key] = ftype.parse_text(f, raw) if isinstance(raw, str) else ftype.parse(f, raw)
        except (ValueError, TypeError):
            continue
    return out
