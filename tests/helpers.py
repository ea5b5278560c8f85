"""Building stores and API clients for tests."""

from __future__ import annotations

from pathlib import Path

from engine.blueprint.load import load_blueprint
from engine.store.database import Database
from engine.store.records import Store
from engine.types.registry import TypeRegistry

HERE = Path(__file__).parent
EVERYTHING = HERE / "everything.yaml"


def make_store(url: str, blueprint: Path = EVERYTHING, files_dir: Path | None = None) -> Store:
    """A store with fresh tables for `blueprint` on the database at `url`."""
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    store = Store(app, types, Database(url), files_dir=files_dir)
    store.metadata.create_all(store.db.engine)
    return store
