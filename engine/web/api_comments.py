"""The REST API of comments, notifications and timelines (docs/api.md, "Comments, notifications
and timelines"). Included before engine.web.api's routes: `/api/v1/notifications` is not an object."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from engine.auth import comments as comment_rules
from engine.auth import notifications as notification_rules
from engine.auth import timeline as timeline_rules
from engine.auth.comments import Comments
from engine.auth.directory import AuthDb
from engine.auth.notifications import Notifications
from engine.auth.timeline import Timeline
from engine.errors import FieldProblem, InputInvalid
from engine.store.records import Store
from engine.web import offload
from engine.web.api import RecordId, Who, _flag, _int_param
from engine.web.bodies import read_json
from engine.web.envelope import ok

T = TypeVar("T")


def _limit(request: Request, default: int, most: int) -> int:
    limit = _int_param(request, "limit", default)
    if not 1 <= limit <= most:
        raise InputInvalid([FieldProblem(("query", "limit"), f"must be 1 to {most}, got {limit}", "query.bad_value")])
    return limit


def _after(request: Request) -> int:
    """A comment page's `cursor`: the id of the last comment of the page before."""
    after = _int_param(request, "cursor", 0)
    if after < 0:
        raise InputInvalid([FieldProblem(("query", "cursor"), "not a cursor of this list", "query.bad_cursor")])
    return after


def comments_router(store: Store, auth: AuthDb) -> APIRouter:
    """Routes bound to one store (`auth`: the app's, whose clock stamps comments and notifications)."""
    router = APIRouter(prefix="/api/v1")
    comments = Comments(store, auth)
    notifications = Notifications(store, auth)
    timeline = Timeline(store)

    async def read(func: Callable[..., T], *args: Any) -> T:
        return await offload.read_inline(store.db, func, *args)

    async def write(func: Callable[..., T], *args: Any) -> T:
        return await offload.write_inline(store.db, func, *args)

    # -- notifications (the caller's own) ---------------------------------------------------------
    @router.get("/notifications")
    async def list_notifications(request: Request, who: Who) -> Response:
        listing = partial(
            notifications.list_notifications,
            limit=_limit(request, notification_rules.PAGE, notification_rules.MAX_PAGE),
            cursor=request.query_params.get("cursor"),
            unread_only=_flag(request, "unread"),
        )
        page = await read(listing, who.user.id, who.access)
        return ok([n.as_dict() for n in page.notifications], unread=page.unread, next_cursor=page.next_cursor)

    @router.post("/notifications/read")
    async def mark_all_read(who: Who) -> Response:
        marked = await write(notifications.mark_all_read, who.user.id)
        return ok(None, marked=marked, unread=0)

    @router.post("/notifications/{notification_id}/read")
    async def mark_read(notification_id: RecordId, who: Who) -> Response:
        found, unread = await write(notifications.mark_read, who.user.id, notification_id, who.access)
        return ok(found.as_dict(), unread=unread)

    # -- comments and the timeline of a record ----------------------------------------------------
    @router.get("/{object_name}/{record_id}/comments")
    async def list_comments(object_name: str, record_id: RecordId, request: Request, who: Who) -> Response:
        listing = partial(
            comments.list_comments,
            limit=_limit(request, comment_rules.PAGE, comment_rules.MAX_PAGE),
            after=_after(request),
        )
        page = await read(listing, object_name, record_id, who.access)
        return ok([c.as_dict() for c in page.comments], next_cursor=page.next_cursor)

    @router.post("/{object_name}/{record_id}/comments")
    async def post_comment(object_name: str, record_id: RecordId, request: Request, who: Who) -> Response:
        store.object(object_name)
        body = await read_json(request, comment_rules.MAX_BODY * 6 + 1024)
        made = await write(comments.post, object_name, record_id, body, who.access)
        return ok(made.as_dict(), status=201)

    @router.patch("/{object_name}/{record_id}/comments/{comment_id}")
    async def edit_comment(
        object_name: str, record_id: RecordId, comment_id: RecordId, request: Request, who: Who
    ) -> Response:
        store.object(object_name)
        body = await read_json(request, comment_rules.MAX_BODY * 6 + 1024)
        changed = await write(comments.edit, object_name, record_id, comment_id, body, who.access)
        return ok(changed.as_dict())

    @router.delete("/{object_name}/{record_id}/comments/{comment_id}")
    async def delete_comment(object_name: str, record_id: RecordId, comment_id: RecordId, who: Who) -> Response:
        await write(comments.delete, object_name, record_id, comment_id, who.access)
        return ok(None)

    @router.get("/{object_name}/{record_id}/mentionable")
    async def mentionable(object_name: str, record_id: RecordId, request: Request, who: Who) -> Response:
        suggest = partial(
            comments.mentionable,
            query=request.query_params.get("q", ""),
            limit=_limit(request, comment_rules.SUGGEST, comment_rules.MAX_SUGGEST),
        )
        found = await read(suggest, object_name, record_id, who.access)
        return ok([s.as_dict() for s in found])

    @router.get("/{object_name}/{record_id}/timeline")
    async def record_timeline(object_name: str, record_id: RecordId, request: Request, who: Who) -> Response:
        listing = partial(
            timeline.entries,
            limit=_limit(request, timeline_rules.PAGE, timeline_rules.MAX_PAGE),
            cursor=request.query_params.get("cursor"),
        )
        page = await read(listing, object_name, record_id, who.access)
        return ok([e.as_dict() for e in page.entries], next_cursor=page.next_cursor)

    return router
