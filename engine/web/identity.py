"""Who is making a request: an API token (`Authorization: Bearer lw_...`) or a browser session.

`identify` runs once per request and keeps its answer on `request.state`; API routes depend on
`require_identity`, which refuses anonymous requests with 401. Sessions (cookie + CSRF) are
resolved by `engine.web.sessions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from engine.auth.access import PolicyAccess, access_for
from engine.auth.directory import AuthDb
from engine.auth.tokens import Tokens
from engine.auth.users import User
from engine.errors import NotAuthenticated
from engine.store.records import Store
from engine.web.sessions import session_identity

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Identity:
    """An authenticated, active user and what they may do; `via` is "token" or "session"."""

    user: User
    access: PolicyAccess
    via: str
    #: The session's CSRF token (None for API tokens, which need none: browsers never send them).
    csrf: str | None = None


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def identify(request: Request) -> Identity | None:
    """The request's identity, or None when it carries no valid credentials."""
    if hasattr(request.state, "identity"):
        found: Identity | None = request.state.identity
        return found
    store: Store = request.app.state.store
    auth: AuthDb = request.app.state.auth
    identity: Identity | None = None
    secret = bearer(request)
    if secret is not None:
        user = await _blocking(store, Tokens(auth).authenticate, secret, ip=client_ip(request))
        if user is None:
            raise NotAuthenticated("the API token is unknown, revoked or expired", code="auth.bad_token")
        access = await _blocking(store, access_for, store, auth, user)
        identity = Identity(user, access, "token")
    else:
        identity = await session_identity(request, store, auth)
    request.state.identity = identity
    return identity


async def require_identity(request: Request) -> Identity:
    """FastAPI dependency for routes that need a user (every API route)."""
    identity = await identify(request)
    if identity is None:
        raise NotAuthenticated("sign in, or send an API token: Authorization: Bearer lw_...")
    return identity


async def _blocking(store: Store, func: Any, *args: Any, **kwargs: Any) -> Any:
    # Single indexed reads: inline on the embedded SQLite file, on a worker thread for PostgreSQL.
    if store.db.is_sqlite:
        return func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)
