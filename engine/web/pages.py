"""HTML pages: sign in, sign out and the home page (server-rendered Jinja2, autoescaped).

The login form is protected by a double-submit token: GET /login sets a random `lw_csrf` cookie
(HttpOnly, SameSite=Lax) and puts the same value in a hidden field; POST /login refuses (403) a
form whose field does not equal the cookie. After login the session's own CSRF token takes over.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engine.auth.directory import AuthDb
from engine.auth.errors import HashingBusy, LoginFailed, LoginLocked
from engine.auth.login import authenticate_password
from engine.auth.sessions import close_session, open_session, session_user
from engine.auth.users import User
from engine.errors import PayloadTooLarge
from engine.store.records import Store
from engine.web.bodies import read_limited
from engine.web.identity import client_ip, identify
from engine.web.sessions import (
    CSRF_FIELD,
    FORM_TYPE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    blocking,
    clear_cookie,
    same_token,
    session_max_age,
    set_cookie,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
MAX_LOGIN_BODY = 16 * 1024
NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


def safe_next(target: str | None) -> str:
    """`target` when it is a path on this site ("/..." but not "//..." nor "/\\..."), else "/"."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in target):
        return "/"
    return target


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a small urlencoded form (first value of each); other bodies give no fields."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        return {}
    try:
        raw = await read_limited(request, MAX_LOGIN_BODY)
    except PayloadTooLarge:
        return {}
    parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items() if v}


def pages_router(store: Store) -> APIRouter:
    """/login, /logout and the home page of `store`'s app."""
    router = APIRouter(include_in_schema=False)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    app = store.app

    def auth_of(request: Request) -> AuthDb:
        auth: AuthDb = request.app.state.auth
        return auth

    def role_label(user: User, locale: str) -> str:
        if user.role and app.has_role(user.role):
            return app.role(user.role).label.get(locale)
        return user.role or "-"

    def login_page(
        request: Request,
        *,
        status: int = 200,
        error: str | None = None,
        email: str = "",
        next_path: str = "/",
        headers: dict[str, str] | None = None,
    ) -> Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        if len(token) < 32 or len(token) > 128:
            token = secrets.token_urlsafe(32)
        html = env.get_template("login.html").render(
            app=app,
            locale=app.default_locale,
            csrf=token,
            error=error,
            email=email,
            next=safe_next(next_path),
        )
        response = HTMLResponse(html, status_code=status, headers={**NO_STORE, **(headers or {})})
        set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=None)
        return response

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        return login_page(request, next_path=request.query_params.get("next") or "/")

    @router.post("/login")
    async def login(request: Request) -> Response:
        auth = auth_of(request)
        fields = await form_fields(request)
        email = fields.get("email", "")[:320]
        next_path = safe_next(fields.get("next"))
        if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), fields.get(CSRF_FIELD)):
            message = "Your sign-in form expired or was not sent by this site. Please try again."
            return login_page(request, status=403, error=message, email=email, next_path=next_path)
        ip = client_ip(request)
        try:
            # argon2 takes a core for a fifth of a second: never on the event loop (and bounded: auth.hashers)
            user = await run_in_threadpool(authenticate_password, auth, email, fields.get("password", ""), ip)
        except (LoginLocked, HashingBusy) as exc:
            status = 429 if isinstance(exc, LoginLocked) else 503
            headers = {"Retry-After": str(exc.retry_after)}
            return login_page(
                request, status=status, error=exc.message, email=email, next_path=next_path, headers=headers
            )
        except LoginFailed as exc:
            return login_page(request, status=401, error=exc.message, email=email, next_path=next_path)
        # A new session id every time: whatever lw_session the browser had is ended, never promoted.
        opened = await blocking(auth, open_session, auth, user, ip, replaces=request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(next_path, status_code=303, headers=NO_STORE)
        set_cookie(response, request, SESSION_COOKIE, opened.secret, max_age=session_max_age())
        clear_cookie(response, request, LOGIN_CSRF_COOKIE)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        auth = auth_of(request)
        secret = request.cookies.get(SESSION_COOKIE)
        response = RedirectResponse("/login", status_code=303, headers=NO_STORE)
        found: tuple[User, str] | None = None
        if secret:
            found = await blocking(auth, session_user, auth, secret)
        if found is not None:
            fields = await form_fields(request)
            given = request.headers.get("x-csrf-token") or fields.get(CSRF_FIELD)
            if not same_token(found[1], given):
                html = env.get_template("error.html").render(
                    app=app,
                    locale=app.default_locale,
                    title="Sign-out refused",
                    message="The sign-out form was not sent by this site (missing or wrong CSRF token).",
                )
                return HTMLResponse(html, status_code=403, headers=NO_STORE)
            await blocking(auth, close_session, auth, secret, client_ip(request))
        clear_cookie(response, request, SESSION_COOKIE)
        return response

    @router.get("/")
    async def home(request: Request) -> Response:
        identity = await identify(request)
        locale = app.default_locale
        context: dict[str, Any] = {"app": app, "locale": locale, "user": None, "objects": []}
        if identity is not None:
            user = identity.user
            locale = user.locale or locale
            readable = [o for o in app.objects if not o.parent and identity.access.may(o.name, "read")]
            context.update(
                locale=locale, user=user, role=role_label(user, locale), csrf=identity.csrf, objects=readable
            )
        html = env.get_template("home.html").render(**context)
        return HTMLResponse(html, headers=NO_STORE if identity is not None else None)

    return router
