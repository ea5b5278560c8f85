"""The create-throughput baseline: a bare FastAPI + SQLAlchemy Core insert endpoint.

It inserts into the same table Loomwork created (the table definition comes from the same
blueprint, the database file is the one Loomwork migrated), with the same SQLite settings
(WAL, synchronous=NORMAL, foreign keys on) and the same system columns, but with none of
Loomwork's work: no validation, permissions, history, hooks or envelope building. That makes it
an upper bound for "a hand-written endpoint", and the ratio of Loomwork to it is the engine's cost.

Run (run.py does this): BASELINE_BLUEPRINT=... BASELINE_DB=sqlite:///... \
    uvicorn --factory benchmarks.baseline_app:create_app --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from sqlalchemy import Date, Engine, Table, create_engine, event, insert

from engine.blueprint.load import load_blueprint
from engine.store.tables import build_metadata
from engine.types.registry import TypeRegistry
from engine.types.sqltypes import ExactDecimal

SYSTEM = frozenset({"id", "created_at", "updated_at", "created_by", "version"})


def sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine


def coercers(table: Table) -> dict[str, Any]:
    """column -> function turning a JSON value into what the column type binds."""
    out: dict[str, Any] = {}
    for col in table.columns:
        if col.name in SYSTEM:
            continue
        if isinstance(col.type, ExactDecimal):
            out[col.name] = lambda v: Decimal(str(v))
        elif isinstance(col.type, Date):
            out[col.name] = date.fromisoformat
        else:
            out[col.name] = lambda v: v
    return out


def create_app() -> FastAPI:
    blueprint = os.environ["BASELINE_BLUEPRINT"]
    url = os.environ["BASELINE_DB"]
    app_model = load_blueprint(blueprint, TypeRegistry.with_builtins())
    metadata = build_metadata(app_model, TypeRegistry.with_builtins())
    engine = sqlite_engine(url)
    tables = {o.name: metadata.tables[o.name] for o in app_model.objects}
    convert = {name: coercers(t) for name, t in tables.items()}
    api = FastAPI()

    @api.post("/api/v1/{object_name}")
    async def create(object_name: str, request: Request) -> Response:
        table = tables[object_name]
        body = orjson.loads(await request.body())
        conv = convert[object_name]
        row = {k: (None if v is None else conv[k](v)) for k, v in body.items() if k in conv}
        now = datetime.now(UTC)
        row.update(created_at=now, updated_at=now, version=1)
        with engine.begin() as conn:
            new_id = conn.execute(insert(table).values(row)).inserted_primary_key[0]
        payload = {"ok": True, "data": {"id": new_id, **body, "version": 1}}
        return Response(orjson.dumps(payload), status_code=201, media_type="application/json")

    @api.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return api
