"""The FastAPI application for one app: JSON API, OpenAPI and its Swagger UI, sign-in pages and the home page."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from engine.auth.directory import AuthDb
from engine.auth.hashers import HashingPool
from engine.store.records import Store
from engine.web.api import api_router
from engine.web.api_comments import comments_router
from engine.web.apidocs import docs_router, mount_static
from engine.web.app_pages import app_router
from engine.web.envelope import install_error_handlers
from engine.web.identity import TokenCache
from engine.web.openapi import openapi_document
from engine.web.pages import pages_router
from engine.web.proxies import PROXIES_VARIABLE, ForwardedHeaders, TrustedProxies
from engine.web.public_forms import public_form_router


def create_app(
    store: Store,
    *,
    auth: AuthDb | None = None,
    token_ttl: float = 5.0,
    forwarded_allow_ips: str | Iterable[str] | None = None,
) -> FastAPI:
    """A web app serving `store`; nothing global, so tests can build as many as they like.

    `auth` holds the password hashing, its pool and the clock for users and sessions (defaults on
    `store.db`); API tokens are re-checked against the database every `token_ttl` seconds (0: every
    request). `X-Forwarded-For` is believed only from the proxies in `forwarded_allow_ips`
    (addresses, networks or "*"; none by default): see `engine.web.proxies`."""
    proxies = TrustedProxies.parse(forwarded_allow_ips)
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
    if proxies:
        web.add_middleware(ForwardedHeaders, proxies=proxies)
    web.include_router(comments_router(store, web.state.auth))  # first: /api/v1/notifications is no object
    web.include_router(api_router(store, web.state.auth))
    web.include_router(pages_router(store))  # /, /login, /logout
    web.include_router(app_router(store, web.state.auth))  # /app: the generated app
    web.include_router(public_form_router(store, web.state.auth))  # /f/{slug}: public web forms
    web.include_router(docs_router(store.app.label.en))  # /docs
    mount_static(web)  # /static
    document = openapi_document(store.app, store.types, version=store.app.version)

    @web.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return document

    @web.get("/healthz", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"ok": True}

    return web


def app_from_environment() -> ASGIApp:
    """uvicorn factory for multi-worker serving: LOOMWORK_BLUEPRINT and DATABASE_URL say what to serve;
    LOOMWORK_FORWARDED_ALLOW_IPS and LOOMWORK_PASSWORD_HASHERS configure it as `loomwork serve` does."""
    from engine.web.runtime import ServedBlueprint, open_store

    blueprint = os.environ["LOOMWORK_BLUEPRINT"]
    store = open_store(blueprint, os.environ.get("DATABASE_URL"), files_dir=os.environ.get("LOOMWORK_FILES"))
    return ServedBlueprint(
        blueprint, store, build=served_app(HashingPool.from_environment(), os.environ.get(PROXIES_VARIABLE))
    )


def served_app(hashers: HashingPool, proxies: str | None) -> Callable[[Store], ASGIApp]:
    """How a server builds the app of a store, again after a migrate: one hashing pool per process."""

    def build(store: Store) -> ASGIApp:
        return create_app(store, auth=AuthDb(store.db, hashers=hashers), forwarded_allow_ips=proxies)

    return build
