"""Who is making a request: an API token (`Authorization: Bearer lw_...`) or a browser session.

`identify` runs once per request and keeps its answer on `request.state`; API routes depend on
`require_identity`, which refuses anonymous requests with 401. Sessions (cookie + CSRF) are
resolved by `engine.web.sessions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from engine.auth.access import PolicyAccess, access_for
from engine.auth.directory import AuthDb
from engine.auth.tokens import Tokens
from engine.auth.users import User
from engine.errors import NotAuthenticated
from engine.store.records import Store
from engine.web.sessions import blocking, session_identity

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
        identity = await blocking(auth, _token_identity, store, auth, secret, client_ip(request))
    else:
        identity = await session_identity(request, store, auth)
    request.state.identity = identity
    return identity


def _token_identity(store: Store, auth: AuthDb, secret: str, ip: str | None) -> Identity:
    """The user of an API token and their access, in one go (one hand-off to a thread on PostgreSQL)."""
    user = Tokens(auth).authenticate(secret, ip=ip)
    if user is None:
        raise NotAuthenticated("the API token is unknown, revoked or expired", code="auth.bad_token")
    return Identity(user, access_for(store, auth, user), "token")


async def require_identity(request: Request) -> Identity:
    """FastAPI dependency for routes that need a user (every API route)."""
    identity = await identify(request)
    if identity is None:
        raise NotAuthenticated("sign in, or send an API token: Authorization: Bearer lw_...")
    return identity
