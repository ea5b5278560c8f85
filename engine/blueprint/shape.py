"""Shape check against the published JSON Schema, with located, readable messages."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.blueprint.source import Source
from engine.errors import Problem

#: Names people try for field types, and what they mean here.
TYPE_ALIASES = {
    "money": "currency",
    "int": "integer",
    "number": "decimal",
    "float": "decimal",
    "string": "text",
    "str": "text",
    "bool": "boolean",
    "textarea": "long_text",
    "enum": "select",
    "choice": "select",
    "reference": "lookup",
    "foreign_key": "lookup",
    "file": "attachment",
    "timestamp": "datetime",
}
_TYPE_NAMES = {
    "string": "text",
    "integer": "whole number",
    "number": "number",
    "boolean": "true/false",
    "object": "mapping",
    "array": "list",
    "null": "null",
}


@cache
def blueprint_schema() -> dict[str, Any]:
    """The published blueprint JSON Schema (draft 2020-12)."""
    text = resources.files("engine.blueprint").joinpath("blueprint.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(blueprint_schema())


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_shape(src: Source) -> list[Problem]:
    """Every shape problem of the merged blueprint data."""
    out: list[Problem] = []
    for err in _validator().iter_errors(src.data):
        out.extend(_explain(src, err))
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"'{value}'"


def _expected(types: str | Sequence[str]) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(t, t) for t in names)


def _explain(src: Source, err: ValidationError) -> list[Problem]:
    path = tuple(err.absolute_path)
    v = err.validator
    if v == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        return [
            src.problem(
                (*path, k),
                f"unknown key '{k}'{did_you_mean(k, allowed)} (allowed: {', '.join(allowed)})",
                "schema.unknown_key",
                key=True,
            )
            for k in extra
        ]
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else str(err.validator_value)
        return [src.problem(path, f"missing key '{missing}'", "schema.required", key=True)]
    if v == "enum":
        choices = [str(c) for c in err.validator_value]
        is_type = bool(path) and path[-1] == "type"
        hint = (
            f"; did you mean '{TYPE_ALIASES[err.instance]}'?"
            if is_type and err.instance in TYPE_ALIASES
            else did_you_mean(str(err.instance), choices)
        )
        return [
            src.problem(
                path,
                f"{_kind(err.instance)} is not one of [{', '.join(choices)}]{hint}",
                "field.unknown_type" if is_type else "schema.enum",
            )
        ]
    if v == "type":
        return [
            src.problem(path, f"expected {_expected(err.validator_value)}, got {_kind(err.instance)}", "schema.type")
        ]
    if v == "pattern" and err.relative_schema_path and "propertyNames" in err.relative_schema_path:
        return [_bad_name(src, path, err.instance)]
    if v == "pattern" and err.schema.get("pattern") == "^[a-z][a-z0-9_]*$":
        return [_bad_name(src, path, err.instance, key=False)]
    if v == "maxLength" and "propertyNames" in err.relative_schema_path:
        return [
            src.problem(
                (*path, err.instance),
                f"name '{err.instance}' is longer than 48 characters",
                "name.too_long",
                key=True,
            )
        ]
    if v == "oneOf":
        title = path[-1] if path else ""
        if title in ("label", "plural", "help", "description"):
            return [
                src.problem(
                    path,
                    f"a label must be text or a mapping {{en: ..., zh: ...}}, got {_kind(err.instance)}",
                    "schema.label",
                )
            ]
        best = min(err.context or [err], key=lambda e: len(e.message))
        if best is not err:
            return _explain(src, best)
    return [src.problem(path, err.message, f"schema.{v}")]


def _bad_name(src: Source, path: tuple[Any, ...], name: Any, *, key: bool = True) -> Problem:
    where = (*path, name) if key else path
    return src.problem(
        where,
        f"'{name}' is not a legal name: use lowercase letters, digits and _, starting with a letter",
        "name.illegal",
        key=key,
    )
