"""The generated app's pages under /app: lists, boards, record pages, search and the language switch.

Every page comes from the blueprint (views, board, layouts) and the reader's policy; no object has
code of its own. URLs are stable: `/app/{object}` (list), `/app/{object}/board?by=stage`,
`/app/{object}/{id}` (record), `/app/search?q=`. A page reads through the store with the reader's
access, like the API: what the API would refuse, a page never shows. htmx requests
(`HX-Request`) get the page's swappable part only (`templates/app/_*.html`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engine.auth.directory import AuthDb
from engine.auth.notifications import Notifications
from engine.auth.users import Users
from engine.errors import Forbidden, InputInvalid, LoomworkError, NotAuthenticated, NotFound
from engine.store.records import Store
from engine.web import offload
from engine.web.app_board import board_routes
from engine.web.app_export import export_routes
from engine.web.app_forms import form_routes
from engine.web.app_record import record_routes
from engine.web.app_social import social_routes
from engine.web.display import Display
from engine.web.i18n import Words
from engine.web.identity import Identity, identify
from engine.web.listing import ListState, choosable_columns, list_state, views_of
from engine.web.pages import form_fields
from engine.web.shell import PRIVATE, frame, menu, page_template, template_environment, words_for

T = TypeVar("T")
#: Records the global search shows per object.
SEARCH_PER_OBJECT = 5


class Pages:
    """What the /app routes share: the store, auth, templates and the per-request helpers."""

    def __init__(self, store: Store, auth: AuthDb) -> None:
        self.store = store
        self.auth = auth
        self.app = store.app
        self.env = template_environment()
        self.notifications = Notifications(store, auth)

    async def who(self, request: Request) -> Identity | Response:
        """The signed-in user, or a redirect to the sign-in page that comes back here."""
        identity = await identify(request)
        if identity is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        if request.method == "GET" and request.headers.get("hx-request") != "true":  # the shell's bell
            request.state.unread = await self.read(self.notifications.unread, identity.user.id)
        return identity

    def words(self, request: Request, identity: Identity) -> Words:
        return words_for(request, self.app, identity)

    def display(self, identity: Identity, words: Words) -> Display:
        return Display(self.store, self.auth, identity.access, words)

    async def read(self, func: Callable[..., T], *args: Any) -> T:
        return await offload.read_inline(self.store.db, func, *args)

    def render(
        self, request: Request, identity: Identity, words: Words, template: Any, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        if isinstance(template, str):
            template = self.env.get_template(template)
        html = template.render(**frame(request, self.app, identity, words, **ctx))
        return HTMLResponse(html, status_code=status, headers=PRIVATE)

    def problem_page(self, request: Request, identity: Identity, words: Words, exc: LoomworkError) -> HTMLResponse:
        status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden | NotAuthenticated) else 422
        title = {404: words("Not found"), 403: words("Not allowed")}.get(status, words("Cannot show this page"))
        return self.render(
            request,
            identity,
            words,
            "app/problem.html",
            status=status,
            title=title,
            message=message_of(exc, words.lang),
        )

    def htmx(self, request: Request) -> bool:
        return request.headers.get("hx-request") == "true"


def message_of(exc: LoomworkError, lang: str) -> str:
    if isinstance(exc, InputInvalid) and exc.problems:
        return "; ".join(str(p.as_dict(lang)["msg"]) for p in exc.problems[:3])
    return exc.message


def app_router(store: Store, auth: AuthDb) -> APIRouter:
    router = APIRouter(prefix="/app", include_in_schema=False)
    pages = Pages(store, auth)
    app = store.app

    @router.get("")
    async def start(request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        groups = menu(app, who)
        first = groups[0].objects[0].name if groups else None
        return RedirectResponse(f"/app/{first}" if first else "/", status_code=303)

    @router.post("/locale")
    async def switch_language(request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        fields = await form_fields(request)
        lang = fields.get("lang", "")
        if lang in ("en", "zh"):
            await offload.write_inline(store.db, Users(auth).set_locale, who.user.id, lang)
        back = fields.get("next") or "/app"
        if not back.startswith("/app"):
            back = "/app"
        return RedirectResponse(back, status_code=303)

    @router.get("/search")
    async def search(request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        text = (request.query_params.get("q") or "").strip()[:200]
        found = await pages.read(search_records, pages, who, text) if text else []
        template = "app/_search_results.html" if pages.htmx(request) else "app/search.html"
        return pages.render(request, who, words, template, q=text, found=found, title=words("Search"))

    social_routes(router, pages)  # /app/notifications before /app/{object}

    @router.get("/{object_name}")
    async def list_page(object_name: str, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        try:
            obj = store.object(object_name)
            if obj.parent is not None or not who.access.may(obj.name, "read"):
                raise NotFound(f"no object '{object_name}'", code="object.unknown")
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        hidden = who.access.hidden(obj.name)
        state = list_state(obj, request.query_params, request.query_params.multi_items(), hidden)
        error = None
        try:
            rows, total, capped, next_cursor = await pages.read(read_list, pages, who, words, state)
        except InputInvalid as exc:
            rows, total, capped, next_cursor, error = [], 0, False, None, message_of(exc, words.lang)
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        context = {
            "obj": obj,
            "state": state,
            "views": views_of(obj),
            "rows": rows,
            "total": total,
            "capped": capped,
            "next_cursor": next_cursor,
            "error": error,
            "columns_all": choosable_columns(obj, hidden),
            "labels": {c: pages.display(who, words).label(obj, c) for c in choosable_columns(obj, hidden)},
            "may_create": who.access.may(obj.name, "create"),
            "title": words.label(obj.plural),
        }
        page = "_list_body" if pages.htmx(request) and request.headers.get("hx-target") == "list-body" else "list"
        return pages.render(
            request, who, words, page_template(pages.env, page, obj.name), status=422 if error else 200, **context
        )

    board_routes(router, pages)
    export_routes(router, pages)
    form_routes(router, pages)
    record_routes(router, pages)
    return router


def read_list(pages: Pages, who: Identity, words: Words, state: ListState) -> tuple[list[Any], int, bool, str | None]:
    """The page's rows, formatted, with the total (and whether there are more than it counted)
    and the next page's cursor (constant queries)."""
    page = pages.store.find(state.obj.name, state.query(), access=who.access)
    display = pages.display(who, words)
    display.prepare(state.obj, page.records, state.columns)
    rows = [
        {
            "id": r["id"],
            "title": str(r.get(state.obj.title_field) or f"#{r['id']}")
            if state.obj.title_field != "id"
            else f"#{r['id']}",
            "cells": [display.cell(state.obj, r, c) for c in state.columns],
        }
        for r in page.records
    ]
    return rows, page.total or 0, page.total_capped, page.next_cursor


def search_records(pages: Pages, who: Identity, text: str) -> list[dict[str, Any]]:
    """Records of every readable top-level object whose title contains `text` (the reader's scope
    applies: the store's `q=` search with their access), a few per object."""
    from engine.store.query import ListQuery

    found = []
    for obj in pages.app.objects:
        if obj.parent is not None or not who.access.may(obj.name, "read"):
            continue
        title = obj.title_field
        fields = ["id"] if title == "id" else ["id", title]
        q = ListQuery(search=text, limit=SEARCH_PER_OBJECT, fields=fields, sort=["-updated_at"])
        records = pages.store.find(obj.name, q, access=who.access).records
        if records:
            found.append({"obj": obj, "records": [(r["id"], str(r.get(title) or f"#{r['id']}")) for r in records]})
    return found
