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


def input_fields(obj: ObjectDef) -> dict[str, FieldDef]:
    """Fields by the key clients use for them (`account_id` for a lookup `account`)."""
    return {(f.column or f.name): f for f in obj.fields}


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
    by_key: Mapping[str, FieldDef] | None = None,
) -> Coerced:
    """Coerce and check `data` for `obj`. On create, defaults fill gaps and `required` holds."""
    fields = by_key if by_key is not None else input_fields(obj)
    out = Coerced()
    if not isinstance(data, Mapping):  # JSON input may be anything
        out.problems.append(FieldProblem(loc, "expected a JSON object", "type.object"))  # type: ignore[unreachable]
        return out
    for key, raw in data.items():
        f = fields.get(key)
        if f is None:
            _special_key(obj, key, raw, out, loc, creating, fields)
            continue
        _one_value(f, raw, types, out, (*loc, key))
    if creating:
        _fill_defaults(obj, data, fields, out, loc)
    return out


def _special_key(
    obj: ObjectDef, key: str, raw: Any, out: Coerced, loc: Loc, creating: bool, fields: Mapping[str, FieldDef]
) -> None:
    where = (*loc, key)
    if key == "version" and not creating:
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
            out.version = raw
        else:
            out.problems.append(FieldProblem(where, "version must be a positive whole number", "type.integer"))
    elif key == "owner_id" and obj.owned:
        if raw is None or (isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1):
            out.values["owner_id"] = raw
        else:
            out.problems.append(FieldProblem(where, "owner_id must be a user id", "type.integer"))
    elif key in READ_ONLY_KEYS or key == "version":
        out.problems.append(FieldProblem(where, f"'{key}' is read-only", "field.read_only"))
    elif obj.parent_column and key in (obj.parent_column, "position"):
        if isinstance(raw, int) and not isinstance(raw, bool):
            out.values[key] = raw
        else:
            out.problems.append(FieldProblem(where, f"{key} must be a whole number", "type.integer"))
    else:
        choices = [*fields, "owner_id"] if obj.owned else list(fields)
        out.problems.append(
            FieldProblem(where, f"unknown field '{key[:64]}'{_did_you_mean(key, choices)}", "field.unknown")
        )


def _one_value(f: FieldDef, raw: Any, types: TypeRegistry, out: Coerced, where: Loc) -> None:
    if f.type == "autonumber":
        out.problems.append(
            FieldProblem(where, f"'{f.name}' is numbered automatically and read-only", "field.read_only")
        )
        return
    if f.type == "attachment":
        if raw is not None:
            out.problems.append(
                FieldProblem(
                    where,
                    "upload files with PUT .../files/{field}; only null (remove) is accepted here",
                    "field.read_only",
                )
            )
        else:
            out.values[f.name] = None
        return
    if f.type == "child_table":
        if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
            out.problems.append(FieldProblem(where, "expected a list of line objects", "type.list"))
        else:
            out.children[f.name] = [dict(r) for r in raw]
        return
    column = f.column or f.name
    if raw is None or (raw == "" and f.type not in ("text", "long_text")):
        if f.required:
            out.problems.append(FieldProblem(where, f"'{f.name}' is required", "field.required"))
        else:
            out.values[column] = None
        return
    ftype = types[f.type]
    try:
        value = ftype.parse(f, raw)
    except ValueError as exc:
        out.problems.append(FieldProblem(where, str(exc), f"type.{f.type}"))
        return
    if f.required and value in ("", []):
        out.problems.append(FieldProblem(where, f"'{f.name}' is required", "field.required"))
        return
    message = ftype.validate(f, value)
    if message:
        out.problems.append(FieldProblem(where, message, "field.invalid"))
        return
    out.values[column] = value


def _fill_defaults(
    obj: ObjectDef, data: Mapping[str, Any], fields: Mapping[str, FieldDef], out: Coerced, loc: Loc
) -> None:
    for key, f in fields.items():
        if key in data or f.type in ("child_table", "autonumber", "attachment"):
            continue
        if f.default is not None:
            out.values[key] = f.default
        elif f.required:
            out.problems.append(FieldProblem((*loc, key), f"'{f.name}' is required", "field.required"))
