"""Comments, @mentions, notifications and the record timeline in the generated app.

- The record page's timeline is the auth room's `Timeline` (changes, comments and activities,
  newest first, as the reader may see them), worded in the reader's language.
- A comment is posted from the record page (`POST /app/{object}/{id}/comments`); the box suggests
  people to mention (`GET /app/{object}/{id}/mentionable?q=`: only people who may read the record)
  and inserts their markup. Mentioned users are notified.
- `/app/notifications` lists the user's notifications, unread first; the shell's bell shows the
  unread count. Marking read (one or all) is a POST with the session's CSRF token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from markupsafe import Markup, escape
from starlette.responses import RedirectResponse, Response

from engine.auth.comments import Comments
from engine.auth.mentions import MARKUP
from engine.auth.notifications import Notifications
from engine.auth.timeline import Timeline, TimelineEntry
from engine.blueprint.model import ObjectDef
from engine.errors import InputInvalid, LoomworkError
from engine.web import offload
from engine.web.app_forms import posted_form
from engine.web.display import Display, shown_change
from engine.web.i18n import Words
from engine.web.identity import Identity
from engine.web.pages import form_fields

if TYPE_CHECKING:
    from engine.web.app_pages import Pages

#: Timeline entries a record page shows.
TIMELINE_ENTRIES = 30


def with_mentions(body: str) -> Markup:
    """A comment's text as HTML: escaped, with each `@[Name](user:id)` shown as a highlighted @Name."""
    out: list[str] = []
    last = 0
    for m in MARKUP.finditer(body):
        out.append(str(escape(body[last : m.start()])))
        out.append(f'<span class="mention" data-user="{int(m.group(2))}">@{escape(m.group(1))}</span>')
        last = m.end()
    out.append(str(escape(body[last:])))
    return Markup("".join(out))


def timeline_view(display: Display, obj: ObjectDef, entries: list[TimelineEntry], words: Words) -> list[dict[str, Any]]:
    """Timeline entries as the page words them."""
    by_column = {f.column: f for f in obj.fields if f.column}
    out = []
    for e in entries:
        item: dict[str, Any] = {
            "kind": e.kind,
            "at": words.datetime(e.at),
            "actor": e.actor.name if e.actor is not None else words("System"),
        }
        if e.kind == "change":
            item["action"] = e.detail.get("action")
            item["changes"] = [
                {
                    "field": words.label(by_column[c["field"]].label) if c["field"] in by_column else c["field"],
                    "old": shown_change(display, by_column.get(c["field"]), c.get("old")),
                    "new": shown_change(display, by_column.get(c["field"]), c.get("new")),
                }
                for c in e.detail.get("changes", [])
            ]
        elif e.kind == "comment":
            item["body"] = with_mentions(str(e.detail.get("comment", {}).get("body", "")))
        else:
            other = display.store.object(str(e.detail["object"]))
            item["object"] = words.label(other.label)
            item["href"] = f"/app/{other.name}/{e.detail['record_id']}"
            item["title"] = e.detail.get("title") or f"#{e.detail['record_id']}"
        out.append(item)
    return out


def read_timeline(pages: Pages, who: Identity, words: Words, obj: ObjectDef, record_id: int) -> list[dict[str, Any]]:
    page = Timeline(pages.store).entries(obj.name, record_id, who.access, limit=TIMELINE_ENTRIES)
    display = pages.display(who, words)
    return timeline_view(display, obj, page.entries, words)


def social_routes(router: APIRouter, pages: Pages) -> None:
    store, auth = pages.store, pages.auth
    comments = Comments(store, auth)
    notifications = Notifications(store, auth)

    @router.get("/notifications")
    async def inbox(request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        page = await pages.read(lambda: notifications.list_notifications(who.user.id, who.access, limit=50))
        items = [
            {
                "id": n.id,
                "unread": n.read_at is None,
                "actor": n.actor.name if n.actor is not None else words("System"),
                "object": words.label(store.object(n.object).label) if store.app.has_object(n.object) else n.object,
                "href": f"/app/{n.object}/{n.record_id}",
                "title": n.record_title,
                "excerpt": n.excerpt,
                "at": words.datetime(n.created_at),
            }
            for n in page.notifications
        ]
        return pages.render(request, who, words, "app/notifications.html", items=items, title=words("Notifications"))

    @router.post("/notifications/read")
    async def read_all(request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        await offload.write_inline(store.db, notifications.mark_all_read, who.user.id)
        return RedirectResponse("/app/notifications", status_code=303)

    @router.post("/notifications/{notification_id}/read")
    async def read_one(notification_id: int, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        fields = await form_fields(request)
        try:
            await offload.write_inline(store.db, notifications.mark_read, who.user.id, notification_id, who.access)
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        target = fields.get("next", "")
        return RedirectResponse(target if target.startswith("/app/") else "/app/notifications", status_code=303)

    @router.get("/{object_name}/{record_id}/mentionable")
    async def mentionable(object_name: str, record_id: int, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        text = (request.query_params.get("q") or "")[:100]
        try:
            found = await pages.read(lambda: comments.mentionable(object_name, record_id, who.access, query=text))
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        return pages.render(request, who, words, "app/_mentionable.html", people=found, title="")

    @router.post("/{object_name}/{record_id}/comments")
    async def comment(object_name: str, record_id: int, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        body = ""
        try:
            body = (await posted_form(request)).get("body", [""])[-1]  # a long CJK comment is > 16 KB posted
            await offload.write_inline(
                store.db, lambda: comments.post(object_name, record_id, {"body": body}, who.access)
            )
        except InputInvalid as exc:
            from engine.web.app_record import record_response

            problem = "; ".join(str(p.as_dict(words.lang)["msg"]) for p in exc.problems[:3])
            return await record_response(
                pages, request, who, object_name, record_id, status=422, comment_error=problem, draft=body
            )
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        return RedirectResponse(f"/app/{object_name}/{record_id}#timeline-title", status_code=303)
