"""docs/blueprint.md documents every field type, every blueprint key and every error code.

These tests fail when something is added to the engine without being documented.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine.blueprint.shape import blueprint_schema
from engine.types.registry import TypeRegistry

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "blueprint.md"
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
TABLE_NAME = re.compile(r"^\|\s*`([^`]+)`\s*\|")
CODE_PREFIXES = ("source", "schema", "name", "field", "object", "index", "layout", "rename", "app")
CODE_LITERAL = re.compile(rf"""["']((?:{"|".join(CODE_PREFIXES)})\.[a-z_]+)["']""")
EXPECTED_CODE = re.compile(r"\[([a-z_]+\.[a-z_]+)\]$")


def sections() -> dict[str, str]:
    """Heading text (without backticks, lower-cased) -> the text up to the next heading; code blocks skipped."""
    out: dict[str, list[str]] = {}
    current = ""
    fenced = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            current = m.group(2).replace("`", "").strip().lower()
            out.setdefault(current, [])
        elif not fenced:
            out.setdefault(current, []).append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def table_names(text: str) -> set[str]:
    return {m.group(1) for line in text.splitlines() if (m := TABLE_NAME.match(line.strip()))}


def keyed_parts(schema: dict[str, Any]) -> dict[str, set[str]]:
    """Each part of a blueprint that has keys ('top-level', 'app', 'field', ...) -> its keys."""
    parts = {"top-level": set(schema["properties"])}

    def walk(name: str, node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                parts.setdefault(name, set()).update(node["properties"])
            for sub in node.get("oneOf", []) + node.get("anyOf", []) + node.get("allOf", []):
                walk(name, sub)

    for name, node in schema["$defs"].items():
        walk(name, node)
    return parts


SCHEMA_PARTS = keyed_parts(blueprint_schema())


@pytest.mark.parametrize("part", sorted(SCHEMA_PARTS))
def test_every_schema_key_is_documented(part: str) -> None:
    docs = sections()
    title = f"{part} keys"
    assert title in docs, f"docs/blueprint.md needs a section '## {part.capitalize()} keys'"
    missing = SCHEMA_PARTS[part] - table_names(docs[title])
    assert not missing, f"keys of '{part}' missing from the '{title}' table: {sorted(missing)}"


def test_every_field_type_is_documented_with_its_keys() -> None:
    docs = sections()
    registry = TypeRegistry.with_builtins()
    undocumented = [name for name in registry if name not in docs]
    assert not undocumented, f"field types without a '### `name`' section: {undocumented}"
    for name in registry:
        body = docs[name]
        assert "Column" in body, f"'{name}' must say how it is stored"
        assert "JSON" in body, f"'{name}' must say how it appears in the API"
        keys = {k for k in registry[name].settings if f"`{k}`" not in body}
        assert not keys, f"the '{name}' section does not mention its keys {sorted(keys)}"


def emitted_codes() -> set[str]:
    """Codes the invalid-blueprint suite expects, plus every code literal in the loader and field types."""
    codes: set[str] = set()
    for expected in (REPO / "tests" / "blueprints" / "invalid").glob("*.expected"):
        for line in expected.read_text(encoding="utf-8").splitlines():
            if m := EXPECTED_CODE.search(line):
                codes.add(m.group(1))
    for folder in ("blueprint", "types"):
        for source in (REPO / "engine" / folder).glob("*.py"):
            codes.update(CODE_LITERAL.findall(source.read_text(encoding="utf-8")))
    return codes


def test_every_error_code_is_in_the_code_table() -> None:
    table = table_names(sections()["error codes"])
    codes = emitted_codes()
    assert len(codes) > 30
    missing = sorted(codes - table)
    assert not missing, f"error codes missing from the docs' code table: {missing}"


def test_the_code_table_lists_no_code_that_cannot_happen() -> None:
    stale = sorted(c for c in table_names(sections()["error codes"]) if "<" not in c and c not in emitted_codes())
    assert not stale, f"documented codes nothing emits: {stale}"


def test_the_section_parser_finds_tables_and_ignores_code_blocks() -> None:
    docs = sections()
    assert "field keys" in docs
    assert "type" in table_names(docs["field keys"])
    assert all(not line.startswith("```") for body in docs.values() for line in body.splitlines())
