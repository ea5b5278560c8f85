"""The blueprint applied to a database: read from and written to `lw_blueprint`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, MetaData

from engine.blueprint.diff import IndexSpec, Op
from engine.blueprint.load import app_from_document
from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.blueprint.roles import ADMIN_ROLE
from engine.store.database import Database
from engine.store.tables import object_indexes, system_tables
from engine.types.registry import TypeRegistry

BLUEPRINT_TABLE = "lw_blueprint"


@dataclass(frozen=True)
class AppliedBlueprint:
    """The latest row of `lw_blueprint` (None fields when nothing was applied yet)."""

    row_id: int | None
    app: App | None
    document: str | None


def system_metadata() -> MetaData:
    metadata = MetaData()
    system_tables(metadata)
    return metadata


def existing_tables(conn: Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def missing_system_columns(conn: Connection, tables: set[str]) -> tuple[tuple[str, str], ...]:
    """(table, column) of system tables that exist but predate a column the engine now has."""
    inspector = sa.inspect(conn)
    out: list[tuple[str, str]] = []
    for name, table in system_metadata().tables.items():
        if name not in tables:
            continue
        present = {c["name"] for c in inspector.get_columns(name)}
        out += [(name, c.name) for c in table.columns if c.name not in present]
    return tuple(out)


def latest_blueprint(conn: Connection, types: TypeRegistry) -> AppliedBlueprint:
    """The blueprint most recently applied through this connection's database."""
    if BLUEPRINT_TABLE not in existing_tables(conn):
        return AppliedBlueprint(None, None, None)
    table = system_metadata().tables[BLUEPRINT_TABLE]
    row = conn.execute(sa.select(table.c.id, table.c.document).order_by(table.c.id.desc()).limit(1)).first()
    if row is None:
        return AppliedBlueprint(None, None, None)
    return AppliedBlueprint(int(row.id), app_from_document(json.loads(row.document), types), row.document)


def applied_role_ids(conn: Connection) -> frozenset[str] | None:
    """The role ids of the blueprint last applied to this database (`admin` is always one), or
    None for a database no blueprint was applied to. Reads the stored document, not the model."""
    if not sa.inspect(conn).has_table(BLUEPRINT_TABLE):
        return None
    table = system_metadata().tables[BLUEPRINT_TABLE]
    document = conn.execute(sa.select(table.c.document).order_by(table.c.id.desc()).limit(1)).scalar()
    if document is None:
        return None
    roles = json.loads(document).get("roles")
    return frozenset([ADMIN_ROLE, *(roles if isinstance(roles, dict) else ())])


def current_app(db: Database, types: TypeRegistry) -> App | None:
    """The `App` whose schema the database holds, or None for a database never migrated."""
    with db.read() as conn:
        return latest_blueprint(conn, types).app


def document_text(app: App) -> str:
    """The blueprint document as stored: JSON in declaration order, dates and decimals as text."""
    return json.dumps(app.document, ensure_ascii=False, default=str)


def record_blueprint(conn: Connection, app: App, ops: Sequence[Op]) -> None:
    """Store the applied blueprint, its version and the operations that brought the schema there."""
    table = system_metadata().tables[BLUEPRINT_TABLE]
    conn.execute(
        sa.insert(table).values(
            app=app.name,
            version=app.version,
            document=document_text(app),
            applied_at=datetime.now(UTC),
            operations="\n".join(op.describe() for op in ops),
        )
    )


class StoreRules:
    """The store's facts the pure diff needs: every index a table gets, effective text lengths."""

    def __init__(self, types: TypeRegistry) -> None:
        self.types = types

    def indexes(self, obj: ObjectDef) -> list[IndexSpec]:
        return object_indexes(obj)

    def max_length(self, f: FieldDef) -> int | None:
        if f.type not in self.types:
            return f.max_length
        length: Any = getattr(self.types[f.type], "max_length", None)
        return int(length(f)) if callable(length) else f.max_length
