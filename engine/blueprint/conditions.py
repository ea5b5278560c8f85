"""Conditions on fields and layout sections (`visible_if`, `required_if`) and computed defaults
(`default: {expr: ...}`), type-checked at load.

A condition reads what a form holds while the user types: the record's own fields and the acting
user's attributes (`user.region`). It may not navigate lookups, aggregate over collections, read
formulas or earlier values, so a page can evaluate it from its inputs alone and the store can
enforce it on every write. A computed default reads the same names; its result must suit the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.blueprint.roles import RoleScope
from engine.blueprint.scope import FormulaPending, ObjectScope, field_info
from engine.blueprint.source import Path_, Source
from engine.errors import ExprError, Problem
from engine.expr import FunctionRegistry, Kind, Typed, check, parse
from engine.expr.typed import TAggregate, TField, TRecordFn, nodes

USER = "user"
#: What a condition or computed default is called in messages, by blueprint key.
_WHAT = {"visible_if": "a condition", "required_if": "a condition", "default": "a computed default"}


def condition_scope(app: App, obj: ObjectDef, types: Any) -> RoleScope:
    """The names a condition on `obj` may use: its fields, system fields and `user.*`."""
    return RoleScope(ObjectScope(app, obj, types))


def check_condition(
    app: App, obj: ObjectDef, text: str, types: Any, functions: FunctionRegistry, *, expected: Kind = Kind.BOOLEAN
) -> Typed:
    """The typed form of a condition (or, with `expected`, a computed default); raises `ExprError`."""
    typed = check(parse(text), condition_scope(app, obj, types), functions, expected=expected)
    _refuse_non_local(obj, typed, "default" if expected is not Kind.BOOLEAN else "visible_if")
    return typed


def _refuse_non_local(obj: ObjectDef, typed: Typed, key: str) -> None:
    what = _WHAT[key]
    for node in nodes(typed):
        if isinstance(node, TAggregate):
            raise ExprError(
                f"{what} reads the record's own fields and user.*; it cannot aggregate over '{node.collection}'",
                col=node.col,
                code="condition.not_local",
            )
        if isinstance(node, TRecordFn):
            raise ExprError(
                f"{what} reads the values being entered; {node.name}() has no meaning here",
                col=node.col,
                code="condition.not_local",
            )
        if not isinstance(node, TField) or node.path[0] == USER:
            continue
        if len(node.path) > 1:
            raise ExprError(
                f"{what} reads the record's own fields and user.*; '{'.'.join(node.path)}' reads another record",
                col=node.col,
                code="condition.not_local",
            )
        if obj.has_field(node.path[0]) and obj.field(node.path[0]).type == "formula":
            raise ExprError(
                f"{what} reads the values being entered; '{node.path[0]}' is a formula",
                col=node.col,
                code="condition.not_local",
            )


def default_kind(f: FieldDef, types: Any) -> Kind | None:
    """The kind a computed default of `f` must have (a lookup or user: a record id)."""
    if f.type in ("lookup", "user"):
        return Kind.NUMBER
    try:
        info = field_info(f, types)
    except FormulaPending:
        return None
    return None if info is None else info.kind


def _conditions(obj: ObjectDef) -> Iterator[tuple[Path_, str, str]]:
    """(blueprint path, key, expression text) of every condition and computed default of `obj`."""
    base: Path_ = ("objects", obj.name)
    for f in obj.fields:
        for key, text in (("visible_if", f.visible_if), ("required_if", f.required_if), ("default", f.default_expr)):
            if text:
                yield (*base, "fields", f.name, key), key, text
    for layout in obj.layouts:
        for i, section in enumerate(layout.sections):
            for key, text in (("visible_if", section.visible_if), ("required_if", section.required_if)):
                if text:
                    yield (*base, "layouts", layout.name, "sections", i, key), key, text


def check_conditions(app: App, src: Source, types: Any, functions: FunctionRegistry, problems: list[Problem]) -> None:
    """Type-check every condition and computed default; problems located at the expression."""
    for obj in app.objects:
        for path, key, text in _conditions(obj):
            expected = Kind.BOOLEAN
            if key == "default":
                kind = default_kind(obj.field(str(path[3])), types)
                if kind is None:
                    continue  # the field's type is unknown or cannot default: reported already
                expected = kind
            try:
                check_condition(app, obj, text, types, functions, expected=expected)
            except FormulaPending:
                continue
            except ExprError as exc:
                prefix = f"expression col {exc.col}: " if exc.col else "expression: "
                problems.append(src.problem(path, f"{prefix}{exc.message}", exc.code))
        _check_hidden_required(obj, src, problems)


def _check_hidden_required(obj: ObjectDef, src: Source, problems: list[Problem]) -> None:
    """A section that may be hidden cannot hold a field that is always required."""
    for layout in obj.layouts:
        for i, section in enumerate(layout.sections):
            if not section.visible_if:
                continue
            required = [n for n in section.fields if obj.has_field(n) and obj.field(n).required]
            if required:
                problems.append(
                    src.problem(
                        ("objects", obj.name, "layouts", layout.name, "sections", i, "visible_if"),
                        f"the section holds '{required[0]}', which is required, so it cannot be hidden; "
                        "give the field required_if instead",
                        "field.required_hidden",
                    )
                )
