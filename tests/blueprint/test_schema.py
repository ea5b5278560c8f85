"""The published blueprint JSON Schema: valid, in step with the type registry, documented."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator

from engine.blueprint.build import COMMON_FIELD_KEYS, SETTING_KEYS
from engine.blueprint.shape import TYPE_ALIASES, blueprint_schema, did_you_mean, suggest_name
from engine.types.registry import TypeRegistry


def properties(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, property schema) pair in the schema, wherever it is declared."""
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            yield f"{path}.{key}", sub
        for key, sub in node.items():
            yield from properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from properties(sub, f"{path}[{i}]")


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = blueprint_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_field_type_enum_is_the_registry() -> None:
    enum = blueprint_schema()["$defs"]["field"]["properties"]["type"]["enum"]
    assert enum == list(TypeRegistry.with_builtins())


def test_type_settings_are_exactly_the_schema_field_keys_beyond_the_common_ones() -> None:
    registry = TypeRegistry.with_builtins()
    used = set().union(*(registry[name].settings for name in registry))
    assert used == SETTING_KEYS
    field_keys = set(blueprint_schema()["$defs"]["field"]["properties"])
    assert field_keys >= COMMON_FIELD_KEYS


def test_every_key_has_a_description() -> None:
    missing = [path for path, sub in properties(blueprint_schema()) if not sub.get("description")]
    assert missing == []


def test_every_definition_has_a_description() -> None:
    defs = blueprint_schema()["$defs"]
    assert [name for name, sub in defs.items() if not sub.get("description")] == []


def test_type_aliases_point_at_real_types() -> None:
    registry = TypeRegistry.with_builtins()
    assert all(target in registry for target in TYPE_ALIASES.values())
    assert not any(alias in registry for alias in TYPE_ALIASES)


def test_a_minimal_blueprint_passes_the_schema() -> None:
    doc = {"app": {"name": "x"}, "objects": {"a": {"fields": {"name": {"type": "text"}}}}}
    assert list(Draft202012Validator(blueprint_schema()).iter_errors(doc)) == []


def test_did_you_mean_and_name_suggestions() -> None:
    assert did_you_mean("lable", ["name", "label"]) == "; did you mean 'label'?"
    assert did_you_mean("zzz", ["name", "label"]) == ""
    assert suggest_name("SalesAccount") == "sales_account"
    assert suggest_name("mobile-phone") == "mobile_phone"
    assert suggest_name("Closed Won") == "closed_won"
    assert suggest_name("2nd_email") == ""
    assert suggest_name("fine") == ""
