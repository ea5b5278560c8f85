"""Who is making a request: an API token (`Authorization: Bearer lw_...`) or a browser session.

`identify` runs once per request and keeps its answer on `request.state`; API routes depend on
`require_identity`, which refuses anonymous requests with 401. Sessions (cookie + CSRF) are
resolved by `engine.web.sessions`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from fastapi import Request

from engine.auth.access import PolicyAccess, subject_for
from engine.auth.directory import AuthDb
from engine.auth.policy import Subject
from engine.auth.tokens import Tokens, token_hash
from engine.auth.users import User
from engine.errors import NotAuthenticated
from engine.store.records import Store
from engine.web.sessions import blocking, session_identity


@dataclass(frozen=True)
class Identity:
    """An authenticated, active user and what they may do; `via` is "token" or "session"."""

    user: User
    access: PolicyAccess
    via: str
    #: The session's CSRF token (None for API tokens, which need none: browsers never send them).
    csrf: str | None = None


@dataclass
class TokenCache:
    """API tokens checked in the last `ttl` seconds, with their user and the policy's subject, so a
    busy integration costs one token lookup every few seconds instead of three queries a request.

    The price: a revoked or expired token, a deactivated user or a changed role or team takes
    effect up to `ttl` seconds later (docs/permissions.md). `ttl=0` turns the cache off."""

    ttl: float = 5.0
    size: int = 4096
    _items: OrderedDict[str, tuple[float, User, Subject]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, digest: str) -> tuple[User, Subject] | None:
        with self._lock:
            found = self._items.get(digest)
            if found is None or found[0] < time.monotonic():
                return None
            return found[1], found[2]

    def put(self, digest: str, user: User, subject: Subject) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._items[digest] = (time.monotonic() + self.ttl, user, subject)
            self._items.move_to_end(digest)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


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
        cache: TokenCache = request.app.state.tokens
        identity = await blocking(auth, _token_identity, store, auth, cache, secret, client_ip(request))
    else:
        identity = await session_identity(request, store, auth)
    request.state.identity = identity
    return identity


def _token_identity(store: Store, auth: AuthDb, cache: TokenCache, secret: str, ip: str | None) -> Identity:
    """The user of an API token and their access, in one go (one hand-off to a thread on PostgreSQL)."""
    digest = token_hash(secret)
    found = cache.get(digest)
    if found is None:
        user = Tokens(auth).authenticate(secret, ip=ip)
        if user is None:
            raise NotAuthenticated("the API token is unknown, revoked or expired", code="auth.bad_token")
        found = (user, subject_for(auth, user))
        cache.put(digest, *found)
    return Identity(found[0], PolicyAccess(store, found[1]), "token")


async def require_identity(request: Request) -> Identity:
    """FastAPI dependency for routes that need a user (every API route)."""
    identity = await identify(request)
    if identity is None:
        raise NotAuthenticated("sign in, or send an API token: Authorization: Bearer lw_...")
    return identity
