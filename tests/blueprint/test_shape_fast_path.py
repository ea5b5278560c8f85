"""The quick yes/no schema check must agree with the full jsonschema check on every blueprint we have."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from engine.blueprint.shape import blueprint_schema, shape_is_valid
from engine.blueprint.source import blueprint_files, read_source

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(
    p
    for folder in ("tests/blueprints/invalid", "tests/blueprints/valid", "blueprints", "tests/store/blueprints")
    for p in (ROOT / folder).iterdir()
    if p.suffix in (".yaml", ".yml", ".json") or (p.is_dir() and blueprint_files(p))
)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_fast_verdict_matches_jsonschema(path: Path) -> None:
    src = read_source(path, [])
    full = Draft202012Validator(blueprint_schema()).is_valid(src.data)
    assert shape_is_valid(src.data) is full


def test_cases_cover_both_verdicts() -> None:
    verdicts = {shape_is_valid(read_source(p, []).data) for p in CASES}
    assert verdicts == {True, False}
