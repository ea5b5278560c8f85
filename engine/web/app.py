"""The FastAPI application for one app: JSON API, OpenAPI, sign-in pages and the home page."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from engine.auth.directory import AuthDb
from engine.store.records import Store
from engine.web.api import api_router
from engine.web.envelope import install_error_handlers
from engine.web.identity import TokenCache
from engine.web.openapi import openapi_document
from engine.web.pages import pages_router


def create_app(store: Store, *, auth: AuthDb | None = None, token_ttl: float = 5.0) -> FastAPI:
    """A web app serving `store`; nothing global, so tests can build as many as they like.

    `auth` holds the password hashing and clock for users and sessions (defaults on `store.db`);
    API tokens are re-checked against the database every `token_ttl` seconds (0: every request)."""
    web = FastAPI(
        title=f"{store.app.label.en} — Loomwork",
        version=store.app.version,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    web.state.store = store
    web.state.auth = auth or AuthDb(store.db)
    web.state.tokens = TokenCache(ttl=token_ttl)
    install_error_handlers(web)
    web.include_router(api_router(store, web.state.auth))
    web.include_router(pages_router(store))  # /, /login, /logout
    document = openapi_document(store.app, store.types, version=store.app.version)

    @web.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return document

    @web.get("/healthz", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"ok": True}

    return web


def app_from_environment() -> ASGIApp:
    """uvicorn factory for multi-worker serving: LOOMWORK_BLUEPRINT and DATABASE_URL say what to serve."""
    from engine.web.runtime import ServedBlueprint, open_store

    blueprint = os.environ["LOOMWORK_BLUEPRINT"]
    store = open_store(blueprint, os.environ.get("DATABASE_URL"), files_dir=os.environ.get("LOOMWORK_FILES"))
    return ServedBlueprint(blueprint, store)
