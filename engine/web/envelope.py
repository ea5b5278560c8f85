"""The one JSON envelope for every response, and the only place errors become HTTP statuses."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from engine.auth.errors import LoginFailed, LoginLocked
from engine.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InputInvalid,
    LoomworkError,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)

log = logging.getLogger("loomwork.web")
STATUS = {
    InputInvalid: 422,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    LoginFailed: 401,
    LoginLocked: 429,
    Unavailable: 503,
}


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_plain, option=orjson.OPT_NON_STR_KEYS)


def _plain(value: Any) -> Any:
    """Exact decimals travel as strings (see docs/api.md); anything else unknown is an error."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def ok(data: Any = None, *, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> JSONBody:
    body: dict[str, Any] = {"ok": True}
    if data is not None:
        body["data"] = data
    body.update(extra)
    return JSONBody(body, status_code=status, headers=headers)


def failure(status: int, problems: list[FieldProblem], *, locale: str | None = None, **extra: Any) -> JSONBody:
    return JSONBody({"ok": False, "errors": [p.as_dict(locale) for p in problems], **extra}, status_code=status)


def reader_locale(request: Request) -> str | None:
    """The language of messages for this request: the signed-in user's, else `Accept-Language`'s
    first tag (`zh-CN` -> `zh`); None for the default (English)."""
    identity = getattr(request.state, "identity", None)
    user = getattr(identity, "user", None)
    if user is not None and user.locale:
        return str(user.locale)
    first = request.headers.get("accept-language", "").split(",")[0].strip()
    return first.split("-")[0].split(";")[0].lower() or None


def error_response(exc: LoomworkError, extra: dict[str, Any] | None = None, *, locale: str | None = None) -> JSONBody:
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    if isinstance(exc, InputInvalid):
        more = {"truncated": True, "total": exc.total} if exc.truncated else {}
        return failure(status, list(exc.problems), locale=locale, **more)
    response = failure(status, [FieldProblem((), exc.message, exc.code)], **(extra or {}))
    if isinstance(exc, NotAuthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="loomwork"'
    if isinstance(exc, LoginLocked | Unavailable) and exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Every 4xx/5xx leaves as `{"ok": false, "errors": [...]}`; tracebacks stay in the log."""

    @app.exception_handler(LoomworkError)
    async def _engine_error(request: Request, exc: LoomworkError) -> Response:
        return error_response(exc, locale=reader_locale(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            FieldProblem(tuple(e.get("loc", ())), str(e.get("msg", "invalid")), f"request.{e.get('type')}")
            for e in exc.errors()
        ]
        return failure(422, problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload.too_large"}
        return failure(exc.status_code, [FieldProblem((), str(exc.detail), codes.get(exc.status_code, "http"))])

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return failure(500, [FieldProblem((), "internal error; the server log has details", "internal")])
