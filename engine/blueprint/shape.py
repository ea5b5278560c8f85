"""Shape check against the published JSON Schema, with located, readable messages."""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from engine.blueprint.source import Source
from engine.errors import Problem

if TYPE_CHECKING:  # jsonschema loads only when a blueprint has shape problems to explain
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

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
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true/false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}


@cache
def blueprint_schema() -> dict[str, Any]:
    """The published blueprint JSON Schema (draft 2020-12)."""
    text = resources.files("engine.blueprint").joinpath("blueprint.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _fast_check() -> Callable[[Any], Any]:
    """A compiled validator that only says yes or no; our schema uses nothing beyond draft-07."""
    import fastjsonschema

    schema = copy.deepcopy(blueprint_schema())  # compile() rewrites the references it is given
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema)


def shape_is_valid(data: Any) -> bool:
    """Quick verdict of the schema on `data` (the located explanation is `check_shape`)."""
    import fastjsonschema

    try:
        _fast_check()(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    # References are inlined once: validating without $ref lookups is twice as fast.
    schema = blueprint_schema()
    return Draft202012Validator(_inline_refs(schema, schema["$defs"]))


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """A copy of `node` with every `#/$defs/...` reference replaced by its target (no cycles here)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
            return {**target, **{k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"}}
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(x, defs) for x in node]
    return node


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


#: What a value of a `pattern` must look like, in words (patterns not listed print as a regex).
_PATTERN_WORDS = {
    "^#[0-9a-fA-F]{6}$": "a colour such as '#3366ff'",
    "^[A-Z]{3}$": "a three-letter ISO 4217 currency code such as 'USD'",
}
_SECTION_HINTS = {"app": " (name, label, version)", "objects": " (each object with its fields)"}
_NAME_PATTERN = "^[a-z][a-z0-9_]*$"
_NAME_RULE = "use lowercase letters, digits and _, starting with a letter"


def check_shape(src: Source) -> list[Problem]:
    """Every shape problem of the merged blueprint data."""
    out: list[Problem] = []
    if shape_is_valid(src.data):
        return out
    for err in _validator().iter_errors(src.data):
        if _explained_by_typo(err):
            continue
        out.extend(_explain(src, err))
    return out


def _explained_by_typo(err: ValidationError) -> bool:
    """A missing key that sits misspelt beside it is reported once, as the unknown key."""
    if err.validator != "required" or not isinstance(err.instance, dict):
        return False
    missing = _missing_key(err)
    allowed = err.schema.get("properties", {})
    extra = [str(k) for k in err.instance if k not in allowed]
    return bool(difflib.get_close_matches(missing, extra, n=1, cutoff=0.6))


def _missing_key(err: ValidationError) -> str:
    return err.message.split("'")[1] if "'" in err.message else str(err.validator_value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "nothing (null)"
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


def suggest_name(name: str) -> str:
    """A legal spelling of `name` (SalesAccount -> sales_account), or '' when there is none."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", str(name).strip())
    snake = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")
    return snake if re.fullmatch(_NAME_PATTERN, snake) and len(snake) <= 48 and snake != name else ""


def _explain(src: Source, err: ValidationError) -> list[Problem]:
    path = tuple(err.absolute_path)
    v = err.validator
    last = path[-1] if path else ""
    if v == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        return [
            src.problem(
                (*path, k),
                f"unknown key '{k}'" + (did_you_mean(k, allowed) or _unknown_key_hint(k, allowed)),
                "schema.unknown_key",
                key=True,
            )
            for k in extra
        ]
    if v == "required":
        missing = _missing_key(err)
        if not path:
            hint = _SECTION_HINTS.get(missing, "")
            return [src.problem(path, f"missing section '{missing}'{hint}", "schema.required", key=True)]
        return [src.problem(path, f"missing key '{missing}'", "schema.required", key=True)]
    if v == "enum":
        choices = [str(c) for c in err.validator_value]
        is_type = last == "type"
        hint = (
            f"; did you mean '{TYPE_ALIASES[err.instance]}'?"
            if is_type and isinstance(err.instance, str) and err.instance in TYPE_ALIASES
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
        return [src.problem(path, _type_message(err, path), "schema.type")]
    if v == "pattern" and "propertyNames" in err.relative_schema_path:
        return [_bad_name(src, path, err.instance)]
    if v == "pattern" and err.validator_value == _NAME_PATTERN:
        return [_bad_name(src, path, err.instance, key=False)]
    if v == "pattern":
        words = _PATTERN_WORDS.get(str(err.validator_value), f"text matching {err.validator_value}")
        hint = did_you_mean(str(err.instance).upper(), [str(err.instance).upper()]) if last == "currency" else ""
        return [src.problem(path, f"{_kind(err.instance)} is not {words}{hint}", "schema.pattern")]
    if v == "maxLength" and "propertyNames" in err.relative_schema_path:
        return [
            src.problem(
                (*path, err.instance),
                f"name is {len(err.instance)} characters long; at most {err.validator_value} are allowed",
                "name.too_long",
                key=True,
            )
        ]
    if v == "maxLength":
        return [
            src.problem(
                path,
                f"'{err.instance}' is {len(err.instance)} characters long; at most {err.validator_value} are allowed",
                "name.too_long",
            )
        ]
    if v in ("minimum", "maximum"):
        bound = "at least" if v == "minimum" else "at most"
        return [
            src.problem(path, f"'{last}' must be {bound} {err.validator_value}, got {err.instance}", "schema.range")
        ]
    if v in ("minItems", "minProperties", "minLength"):
        what = "field" if last == "fields" and v == "minProperties" else "entry"
        msg = "an object needs at least one field" if what == "field" else f"'{last}' must not be empty"
        if not path or path == ("objects",):
            msg = "a blueprint needs at least one object"
        return [src.problem(path, msg, "schema.empty")]
    if v == "oneOf":
        return _explain_one_of(src, err, path)
    return [src.problem(path, err.message, f"schema.{v}")]


def _unknown_key_hint(key: str, allowed: Sequence[str]) -> str:
    if " " in key.strip():
        # `{help: Legal name, as registered}`: the comma ended the value, the rest became a key.
        return "; a comma inside {...} ends the value: quote text that contains commas"
    return f" (allowed: {', '.join(allowed)})"


def _type_message(err: ValidationError, path: tuple[Any, ...]) -> str:
    expected = _expected(err.validator_value)
    got = _kind(err.instance)
    is_field = len(path) == 4 and path[0] == "objects" and path[2] == "fields"
    if is_field and isinstance(err.instance, str):
        return f"a field is a mapping: write '{path[-1]}: {{type: {err.instance}}}', not '{path[-1]}: {err.instance}'"
    if err.validator_value == "object" and "propertyNames" in err.schema:
        expected = "a mapping of name: {...} entries"
    if err.instance is None and path:
        return f"'{path[-1]}' has no value; expected {expected}"
    if isinstance(err.instance, str) and _unquoted_fits(err.instance, err.validator_value):
        return f"expected {expected}, got {got}; remove the quotes"
    return f"expected {expected}, got {got}"


def _unquoted_fits(text: str, types: str | Sequence[str]) -> bool:
    """Whether `text` would have the expected type if it were written without quotes."""
    names = [types] if isinstance(types, str) else list(types)
    if "boolean" in names and text in ("true", "false"):
        return True
    if "integer" in names and re.fullmatch(r"-?[0-9]+", text):
        return True
    return "number" in names and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text) is not None


def _explain_one_of(src: Source, err: ValidationError, path: tuple[Any, ...]) -> list[Problem]:
    """Explain the alternative whose type fits the value (text or mapping), else say what fits."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in err.context or ():
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    for errors in branches.values():
        if not any(e.validator == "type" and not e.relative_path for e in errors):
            return [p for e in errors for p in _explain(src, e)]
    last = path[-1] if path else ""
    if last in ("label", "plural", "help", "description"):
        return [
            src.problem(
                path,
                f"a label must be text or a mapping {{en: ..., zh: ...}}, got {_kind(err.instance)}",
                "schema.label",
            )
        ]
    if len(path) >= 2 and path[-2] == "options":
        return [
            src.problem(
                path, f"an option is an id or a mapping {{id, label, color}}, got {_kind(err.instance)}", "schema.type"
            )
        ]
    return [src.problem(path, err.message, "schema.oneOf")]


def _bad_name(src: Source, path: tuple[Any, ...], name: Any, *, key: bool = True) -> Problem:
    where = (*path, name) if key else path
    suggestion = suggest_name(name)
    hint = f"; did you mean '{suggestion}'?" if suggestion else ""
    return src.problem(where, f"'{name}' is not a legal name: {_NAME_RULE}{hint}", "name.illegal", key=key)
