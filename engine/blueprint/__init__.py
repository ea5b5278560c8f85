"""The blueprint room (see DESIGN.md): read, check and model a blueprint.

`load_blueprint(path, types)` is the entry point; it raises `engine.errors.BlueprintInvalid`
carrying every located problem. The pieces are public for tools and tests.
"""

from engine.blueprint.build import AppBuilder
from engine.blueprint.load import app_from_document, load_blueprint
from engine.blueprint.shape import blueprint_schema, check_shape
from engine.blueprint.source import read_source

__all__ = ["AppBuilder", "app_from_document", "blueprint_schema", "check_shape", "load_blueprint", "read_source"]
