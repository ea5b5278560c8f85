"""Swagger UI at /docs over /openapi.json, and the static files it needs (vendored, no CDN).

The page runs no inline script and loads nothing from elsewhere: its Content-Security-Policy allows
only this site's scripts, styles and requests (static/docs.js starts Swagger UI). Signed in with a
session, the page carries the session's CSRF token, so "Try it out" may also change records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from engine.web.identity import identify
from engine.web.pages import TEMPLATES

STATIC = Path(__file__).resolve().parents[2] / "static"
#: Only this site's files and requests; images may also be inline (Swagger UI's icons are data: URIs).
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class StaticAssets(StaticFiles):
    """Files under static/, revalidated on every use (ETag) and never sniffed as another type."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_static(web: FastAPI) -> None:
    """Serve static/ at /static."""
    web.mount("/static", StaticAssets(directory=STATIC), name="static")


def docs_router(title: str) -> APIRouter:
    """GET /docs: Swagger UI for the app called `title`."""
    router = APIRouter(include_in_schema=False)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))

    @router.get("/docs")
    async def docs(request: Request) -> Response:
        identity = await identify(request)
        csrf = identity.csrf if identity is not None else None
        context: dict[str, Any] = {"title": title, "openapi_url": "/openapi.json", "csrf": csrf}
        headers = {"Content-Security-Policy": DOCS_POLICY, "X-Content-Type-Options": "nosniff"}
        if csrf:  # a page holding a session's token is never cached
            headers["Cache-Control"] = "no-store"
        return HTMLResponse(env.get_template("docs.html").render(**context), headers=headers)

    return router
