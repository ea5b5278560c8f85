"""Opening a blueprint against a database for serving, with a clear refusal when not migrated."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import inspect, select

from engine.blueprint.load import load_blueprint
from engine.errors import LoomworkError
from engine.store.connect import open_database
from engine.store.database import database_url
from engine.store.records import Store
from engine.types.registry import TypeRegistry


def _canonical(document: object) -> str:
    return json.dumps(document, sort_keys=True, default=str)


def open_store(blueprint: str | Path, url: str | None, *, files_dir: str | Path | None = None) -> Store:
    """A store for the blueprint at `blueprint`; refuses (one line each) a database URL that cannot
    be opened and a database that is not migrated to exactly this blueprint."""
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    db = open_database(database_url(url))
    store = Store(app, types, db, files_dir=Path(files_dir) if files_dir else None)
    table = store.metadata.tables["lw_blueprint"]
    with db.read() as conn:
        migrated = inspect(conn).has_table("lw_blueprint")
        stored = (
            conn.execute(select(table.c.document).order_by(table.c.id.desc()).limit(1)).scalar() if migrated else None
        )
    if not migrated:
        db.dispose()
        raise LoomworkError(
            f"the database has no Loomwork tables; run `loomwork migrate {blueprint}` first",
            code="database.not_migrated",
        )
    if stored is None or _canonical(json.loads(stored)) != _canonical(app.document):
        db.dispose()
        raise LoomworkError(
            f"the database is not at this blueprint; review `loomwork plan {blueprint}` and run "
            f"`loomwork migrate {blueprint}`",
            code="database.out_of_date",
        )
    return store
