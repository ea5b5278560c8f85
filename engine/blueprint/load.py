"""Load a blueprint: read files, check shape, check meaning, build the frozen model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.blueprint.build import AppBuilder, FieldTypes
from engine.blueprint.model import App
from engine.blueprint.shape import check_shape
from engine.blueprint.source import FATAL_SOURCE_CODES, Source, read_source
from engine.errors import BlueprintInvalid, Problem


def load_blueprint(path: str | Path, types: FieldTypes, *, display_root: Path | None = None) -> App:
    """The checked `App` of the blueprint at `path`; raises `BlueprintInvalid` with every problem."""
    problems: list[Problem] = []
    src = read_source(Path(path), problems, display_root)
    # Checking what could be read of a broken file set would only report the breakage again.
    if any(p.code in FATAL_SOURCE_CODES for p in problems) or not src.data:
        raise BlueprintInvalid(problems)
    problems.extend(check_shape(src))
    app = AppBuilder(src, types, problems).build()
    if problems:
        raise BlueprintInvalid(problems)
    return replace(app, document=src.data)


def app_from_document(document: Mapping[str, Any], types: FieldTypes, *, name: str = "<stored>") -> App:
    """Rebuild an `App` from a stored blueprint document (as saved by a migration)."""
    problems: list[Problem] = []
    src = Source(data=dict(document), files=[name])
    problems.extend(check_shape(src))
    app = AppBuilder(src, types, problems).build()
    if problems:
        raise BlueprintInvalid(problems)
    return replace(app, document=src.data)
