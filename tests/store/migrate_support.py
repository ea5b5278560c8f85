"""The v1 CRM test blueprint and edits of it, shared by the migration tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from engine.blueprint.load import app_from_document
from engine.blueprint.model import App
from engine.types.registry import TypeRegistry

TYPES = TypeRegistry.with_builtins()
V1: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "blueprints" / "crm_v1.yaml").read_text())
Edit = Callable[[dict[str, Any]], None]


def app_of(*edits: Edit) -> App:
    doc = copy.deepcopy(V1)
    for edit in edits:
        edit(doc)
    return app_from_document(doc, TYPES)


def fields(doc: dict[str, Any], obj: str = "account") -> dict[str, Any]:
    result: dict[str, Any] = doc["objects"][obj]["fields"]
    return result
