"""Browser sessions over HTTP: the `lw_session` cookie, its flags, and the CSRF check.

A session-authenticated request with an unsafe method (anything but GET, HEAD, OPTIONS) must
prove it comes from our own pages: header `X-CSRF-Token` (API calls, htmx) or, for an
`application/x-www-form-urlencoded` body, the field `csrf_token`, equal to the session's token.
Otherwise it is refused with 403 `csrf.invalid`. API tokens need no CSRF token (browsers never
send them on their own). See docs/permissions.md, "Signing in: sessions and CSRF".
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import Request
from starlette.responses import Response

from engine.auth.access import access_for
from engine.auth.directory import AuthDb
from engine.auth.sessions import DEFAULT_SESSION_LIMITS, session_user
from engine.errors import Forbidden
from engine.store.records import Store
from engine.web.offload import write_inline

if TYPE_CHECKING:
    from engine.web.identity import Identity

SESSION_COOKIE = "lw_session"
LOGIN_CSRF_COOKIE = "lw_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
FORM_TYPE = "application/x-www-form-urlencoded"
#: A urlencoded body larger than this is not searched for `csrf_token` (send the header instead).
MAX_FORM_FOR_CSRF = 1024 * 1024


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))


def csrf_refused() -> Forbidden:
    return Forbidden("missing or wrong CSRF token", code="csrf.invalid")


def cookie_secure(request: Request) -> bool:
    """Cookies are `Secure` unless the request is plain http to a loopback host (local development).

    Behind a TLS-terminating proxy the browser speaks https, so Secure is right there too.
    """
    return not (request.url.scheme == "http" and (request.url.hostname or "") in LOOPBACK_HOSTS)


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None) -> None:
    """HttpOnly, SameSite=Lax, Path=/ and Secure (see `cookie_secure`)."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=cookie_secure(request), httponly=True, samesite="lax"
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", secure=cookie_secure(request), httponly=True, samesite="lax")


def session_max_age() -> int:
    return int(DEFAULT_SESSION_LIMITS.lifetime.total_seconds())


async def blocking(auth: AuthDb, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Short indexed database work (it may write: a session touch, a token's last use): inline on
    SQLite unless the write lock is taken, on a worker thread for PostgreSQL."""
    return await write_inline(auth.db, func, *args, **kwargs)


async def form_token(request: Request) -> str | None:
    """`csrf_token` of a urlencoded body (the body stays readable by the route: Starlette caches it)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        return None
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > MAX_FORM_FOR_CSRF:
        return None
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    values = fields.get(CSRF_FIELD)
    return values[0] if values else None


async def session_identity(request: Request, store: Store, auth: AuthDb) -> Identity | None:
    """The identity of the request's `lw_session` cookie, or None (no, unknown or expired session).

    Raises `Forbidden` (403, `csrf.invalid`) for an unsafe method without the session's CSRF token.
    """
    from engine.web.identity import Identity

    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    found: tuple[Any, str] | None = await blocking(auth, session_user, auth, secret)
    if found is None:
        return None
    user, csrf = found
    if request.method not in SAFE:
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            given = await form_token(request)
        if not same_token(csrf, given):
            raise csrf_refused()
    access = await blocking(auth, access_for, store, auth, user)
    return Identity(user, access, "session", csrf)
