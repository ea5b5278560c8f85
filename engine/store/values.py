"""Turn JSON-like input into column values: coerce, check constraints, report per-field problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.blueprint.model import FieldDef, ObjectDef
from engine.errors import FieldProblem
from engine.types.registry import TypeRegistry

#: Keys a client may send back unchanged but never set.
READ_ONLY_KEYS = frozenset({"id", "created_at", "updated_at", "created_by"})
Loc = tuple[str | int, ...]


@dataclass
class Coerced:
    """The result of coercing one record's input."""

    values: dict[str, Any] = field(default_factory=dict)  # column -> value
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # child field -> rows
    problems: list[FieldProblem] = field(default_factory=list)
    version: int | None = None


@dataclass(frozen=True)
class FieldInput:
    """How one input key is handled: precomputed once per object, used for every record."""

    field: FieldDef
    ftype: Any
    column: str
    kind: str  # value | autonumber | attachment | child
    #: The default waits for the store's condition step (computed, or the field may be hidden).
    deferred: bool = False


def input_fields(obj: ObjectDef, types: TypeRegistry) -> dict[str, FieldInput]:
    """Fields by the key clients use for them (`account_id` for a lookup `account`)."""
    out = {}
    hidden_by_section = {n for layout in obj.layouts for s in layout.sections if s.visible_if for n in s.fields}
    for f in obj.fields:
        kind = {
            "autonumber": "autonumber",
            "attachment": "attachment",
            "child_table": "child",
            "formula": "formula",
        }.get(f.type, "value")
        deferred = bool(f.default_expr or f.visible_if) or f.name in hidden_by_section
        out[f.column or f.name] = FieldInput(f, types[f.type], f.column or f.name, kind, deferred)
    return out


def _did_you_mean(key: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def coerce_record(
    obj: ObjectDef,
    data: Mapping[str, Any],
    types: TypeRegistry,
    *,
    creating: bool,
    loc: Loc = ("body",),
    by_key: Mapping[str, FieldInput] | None = None,
) -> Coerced:
    """Coerce and check `data` for `obj`. On create, defaults fill gaps and `required` holds."""
    fields = by_key if by_key is not None else input_fields(obj, types)
    out = Coerced()
    if not isinstance(data, Mapping):  # JSON input may be anything
        out.problems.append(FieldProblem(loc, "expected a JSON object", "type.object"))  # type: ignore[unreachable]
        return out
    values = out.values
    for key, raw in data.items():
        spec = fields.get(key)
        if spec is None:
            _special_key(obj, key, raw, out, loc, creating, fields)
        elif spec.kind == "value" and raw is not None and raw != "":
            f = spec.field
            try:
                value = spec.ftype.parse(f, raw)
            except ValueError as exc:
                out.problems.append(FieldProblem((*loc, key), str(exc), f"type.{f.type}"))
                continue
            message = spec.ftype.validate(f, value)
            if message:
                out.problems.append(FieldProblem((*loc, key), message, "field.invalid"))
            elif f.required and value in ("", []):
                out.problems.append(FieldProblem((*loc, key), f"'{f.name}' is required", "field.required"))
            else:
                values[spec.column] = value
        else:
            _other_value(spec, raw, out, (*loc, key))
    if creating:
        _fill_defaults(obj, data, fields, out, loc)
    return out


def missing_parent(obj: ObjectDef, values: Mapping[str, Any], loc: Loc) -> list[FieldProblem]:
    """A line created on its own must name its parent (inline lines get it from the parent)."""
    column = obj.parent_column
    if column is None or column in values:
        return []
    return [FieldProblem((*loc, column), f"'{column}' is required", "field.required")]


def _special_key(
    obj: ObjectDef, key: str, raw: Any, out: Coerced, loc: Loc, creating: bool, fields: Mapping[str, FieldInput]
) -> None:
    where = (*loc, key)
    if key == "version" and not creating:
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
            out.version = raw
        else:
            out.problems.append(FieldProblem(where, "version must be a positive whole number", "type.integer"))
    elif key == "owner_id" and obj.owned:
        if raw is None or (isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw < 2**63):
            out.values["owner_id"] = raw
        else:
            out.problems.append(FieldProblem(where, "owner_id must be a user id", "type.integer"))
    elif key in READ_ONLY_KEYS or key == "version":
        out.problems.append(FieldProblem(where, f"'{key}' is read-only", "field.read_only"))
    elif obj.parent_column and key in (obj.parent_column, "position"):
        top = 2**31 if key == "position" else 2**63  # the position column is 32-bit, ids 64-bit
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < top:
            out.values[key] = raw
        else:
            out.problems.append(
                FieldProblem(where, f"{key} must be a whole number from 0 to {top - 1}", "type.integer")
            )
    else:
        choices = [*fields, "owner_id"] if obj.owned else list(fields)
        out.problems.append(
            FieldProblem(where, f"unknown field '{key[:64]}'{_did_you_mean(key, choices)}", "field.unknown")
        )


def _other_value(spec: FieldInput, raw: Any, out: Coerced, where: Loc) -> None:
    """Empty values, and the kinds of field that are not set directly."""
    f = spec.field
    if spec.kind == "autonumber":
        out.problems.append(
            FieldProblem(where, f"'{f.name}' is numbered automatically and read-only", "field.read_only")
        )
    elif spec.kind == "formula":
        out.problems.append(
            FieldProblem(where, f"'{f.name}' is computed by a formula and read-only", "field.read_only")
        )
    elif spec.kind == "attachment":
        if raw is not None:
            message = "upload files with PUT .../files/{field}; only null (remove) is accepted here"
            out.problems.append(FieldProblem(where, message, "field.read_only"))
        else:
            out.values[f.name] = None
    elif spec.kind == "child":
        if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
            out.problems.append(FieldProblem(where, "expected a list of line objects", "type.list"))
        else:
            out.children[f.name] = [dict(r) for r in raw]
    elif raw == "" and f.type in ("text", "long_text"):
        if f.required:
            out.problems.append(FieldProblem(where, f"'{f.name}' is required", "field.required"))
        else:
            out.values[spec.column] = raw
    elif f.required:
        out.problems.append(FieldProblem(where, f"'{f.name}' is required", "field.required"))
    else:
        out.values[spec.column] = None


def _fill_defaults(
    obj: ObjectDef, data: Mapping[str, Any], fields: Mapping[str, FieldInput], out: Coerced, loc: Loc
) -> None:
    for key, spec in fields.items():
        f = spec.field
        if key in data or spec.kind != "value" or spec.deferred:
            continue  # deferred: engine.store.conditions fills the default (or finds it missing)
        if f.default is not None:
            out.values[key] = f.default
        elif f.required:
            out.problems.append(FieldProblem((*loc, key), f"'{f.name}' is required", "field.required"))
