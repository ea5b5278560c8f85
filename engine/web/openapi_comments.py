"""OpenAPI operations and schemas of comments, notifications and timelines (engine.web.api_comments)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.auth import comments, notifications, timeline
from engine.blueprint.model import App, ObjectDef
from engine.web.openapi_schemas import ID, envelope

#: (success, *error statuses) -> responses; engine.web.openapi's `_responses`, passed in.
Responses = Callable[..., dict[str, Any]]
_MOMENT = {"type": "string", "format": "date-time"}
_MOMENT_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_CURSOR = {"type": ["string", "null"], "description": "pass as `cursor` for the next page"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _limit(default: int, most: int, what: str) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 1, "maximum": most, "default": default}
    return {"name": "limit", "in": "query", "schema": schema, "description": f"{what} per page"}


def _cursor(description: str) -> dict[str, Any]:
    return {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": description}


def discussion_schemas(app: App) -> dict[str, Any]:
    """Person, Comment, Suggestion, CommentRequest, Notification and TimelineEntry."""
    names = [o.name for o in app.objects]
    person_or_null = {"oneOf": [_ref("Person"), {"type": "null"}]}
    return {
        "Person": {
            "type": "object",
            "required": ["id", "name"],
            "additionalProperties": False,
            "properties": {"id": ID, "name": {"type": "string"}},
        },
        "Comment": {
            "type": "object",
            "required": ["id", "object", "record_id", "author", "body", "mentions", "created_at", "edited_at"],
            "additionalProperties": False,
            "properties": {
                "id": ID,
                "object": {"type": "string", "enum": names},
                "record_id": ID,
                "author": person_or_null,
                "body": {
                    "type": "string",
                    "description": "as written, mention markup `@[Name](user:42)` included; render it escaped, "
                    "each mention by the current name in `mentions`",
                },
                "mentions": {
                    "type": "array",
                    "items": _ref("Person"),
                    "description": "the users the body mentions, in order, once each",
                },
                "created_at": _MOMENT,
                "edited_at": _MOMENT_OR_NULL,
            },
        },
        "Suggestion": {
            "type": "object",
            "required": ["id", "name", "email", "mention"],
            "additionalProperties": False,
            "properties": {
                "id": ID,
                "name": {"type": "string"},
                "email": {"type": "string"},
                "mention": {"type": "string", "description": "the markup to insert: `@[Name](user:42)`"},
            },
        },
        "CommentRequest": {
            "type": "object",
            "required": ["body"],
            "additionalProperties": False,
            "properties": {
                "body": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": comments.MAX_BODY,
                    "description": "the text; mention with `@[Name](user:42)` or `@someone@example.com` (at most "
                    f"{comments.MAX_MENTIONS} mentions, each of an active user who may read the record)",
                }
            },
        },
        "Notification": {
            "type": "object",
            "required": [
                "id",
                "kind",
                "object",
                "record_id",
                "comment_id",
                "actor",
                "created_at",
                "read_at",
                "record_title",
                "excerpt",
            ],
            "additionalProperties": False,
            "properties": {
                "id": ID,
                "kind": {"type": "string", "enum": [comments.MENTION]},
                "object": {"type": "string", "description": "the object of the record it is about"},
                "record_id": ID,
                "comment_id": {"type": ["integer", "null"]},
                "actor": person_or_null,
                "created_at": _MOMENT,
                "read_at": _MOMENT_OR_NULL,
                "record_title": {
                    "type": ["string", "null"],
                    "description": "while the user may read the record (and see its title field)",
                },
                "excerpt": {
                    "type": ["string", "null"],
                    "description": "the comment's start as plain text, while the user may read the record",
                },
            },
        },
        "TimelineEntry": {
            "type": "object",
            "required": ["kind", "at", "actor", "summary"],
            "additionalProperties": False,
            "description": "a change (`action`, `changes`), a comment (`comment`) or an activity "
            "(`object`, `record_id`, `title`)",
            "properties": {
                "kind": {"type": "string", "enum": ["change", "comment", "activity"]},
                "at": _MOMENT,
                "actor": person_or_null,
                "summary": {"type": "string", "description": "one line of plain text, in English"},
                "action": {"type": "string", "description": "change: create, update, delete, restore or recompute"},
                "changes": {
                    "type": "array",
                    "description": "change: the fields written (not those hidden from the reader)",
                    "items": {
                        "type": "object",
                        "required": ["field", "old", "new"],
                        "additionalProperties": False,
                        "properties": {"field": {"type": "string"}, "old": {}, "new": {}},
                    },
                },
                "comment": _ref("Comment"),
                "object": {"type": "string", "enum": names, "description": "activity: its object"},
                "record_id": {**ID, "description": "activity: its id"},
                "title": {"type": ["string", "null"], "description": "activity: its title"},
            },
        },
    }


def comment_paths(obj: ObjectDef, rid: dict[str, Any], responses: Responses) -> dict[str, Any]:
    """Comments and the timeline of the object's records."""
    name, tag = obj.name, [obj.name]
    comment = envelope(_ref("Comment"))
    body = {"required": True, "content": {"application/json": {"schema": _ref("CommentRequest")}}}
    cid = {"name": "comment_id", "in": "path", "required": True, "schema": ID, "description": "the comment's id"}
    return {
        f"/api/v1/{name}/{{record_id}}/comments": {
            "parameters": [rid],
            "get": {
                "tags": tag,
                "operationId": f"list_comments_{name}",
                "summary": "The record's comments, oldest first",
                "parameters": [
                    _limit(comments.PAGE, comments.MAX_PAGE, "comments"),
                    _cursor("`next_cursor` of the page before"),
                ],
                "responses": responses(
                    ("200", "one page", envelope({"type": "array", "items": _ref("Comment")}, next_cursor=_CURSOR)),
                    "403",
                    "404",
                    "422",
                ),
            },
            "post": {
                "tags": tag,
                "operationId": f"comment_{name}",
                "summary": "Comment on the record; the users it mentions are notified",
                "description": "Whoever may read the record may comment on it. A mention of someone who is not "
                "an active user, or who may not read the record, refuses the comment (422 at `body.body`).",
                "requestBody": body,
                "responses": responses(("201", "the comment", comment), "403", "404", "409", "413", "422"),
            },
        },
        f"/api/v1/{name}/{{record_id}}/comments/{{comment_id}}": {
            "parameters": [rid, cid],
            "patch": {
                "tags": tag,
                "operationId": f"edit_comment_{name}",
                "summary": "Change the text of one's own comment; people newly mentioned are notified",
                "requestBody": body,
                "responses": responses(("200", "the comment", comment), "403", "404", "409", "413", "422"),
            },
            "delete": {
                "tags": tag,
                "operationId": f"delete_comment_{name}",
                "summary": "Delete one's own comment (and the notifications it caused)",
                "responses": responses(("200", "deleted", envelope()), "403", "404", "409", "422"),
            },
        },
        f"/api/v1/{name}/{{record_id}}/mentionable": {
            "parameters": [rid],
            "get": {
                "tags": tag,
                "operationId": f"mentionable_{name}",
                "summary": "Who may be mentioned on the record: active users who may read it",
                "description": "By name; `q` matches the name or the e-mail, in any case (for a suggester).",
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": comments.MAX_QUERY},
                        "description": "part of the name or e-mail",
                    },
                    _limit(comments.SUGGEST, comments.MAX_SUGGEST, "users"),
                ],
                "responses": responses(
                    ("200", "the users", envelope({"type": "array", "items": _ref("Suggestion")})), "403", "404", "422"
                ),
            },
        },
        f"/api/v1/{name}/{{record_id}}/timeline": {
            "parameters": [rid],
            "get": {
                "tags": tag,
                "operationId": f"timeline_{name}",
                "summary": "Changes, comments and activities of the record, newest first",
                "parameters": [
                    _limit(timeline.PAGE, timeline.MAX_PAGE, "entries"),
                    _cursor("`next_cursor` of the page before"),
                ],
                "responses": responses(
                    (
                        "200",
                        "one page",
                        envelope({"type": "array", "items": _ref("TimelineEntry")}, next_cursor=_CURSOR),
                    ),
                    "403",
                    "404",
                    "422",
                ),
            },
        },
    }


def notification_paths(responses: Responses) -> dict[str, Any]:
    """The signed-in user's notifications."""
    tag = ["app"]
    nid = {"name": "notification_id", "in": "path", "required": True, "schema": ID, "description": "its id"}
    unread = {"type": "integer", "minimum": 0, "description": "how many of the user's notifications are unread"}
    return {
        "/api/v1/notifications": {
            "get": {
                "tags": tag,
                "operationId": "list_notifications",
                "summary": "The user's notifications: unread first, newest first",
                "parameters": [
                    _limit(notifications.PAGE, notifications.MAX_PAGE, "notifications"),
                    _cursor("`next_cursor` of the page before"),
                    {
                        "name": "unread",
                        "in": "query",
                        "schema": {"type": "boolean", "default": False},
                        "description": "only the unread ones",
                    },
                ],
                "responses": responses(
                    (
                        "200",
                        "one page",
                        envelope({"type": "array", "items": _ref("Notification")}, unread=unread, next_cursor=_CURSOR),
                    ),
                    "422",
                ),
            }
        },
        "/api/v1/notifications/read": {
            "post": {
                "tags": tag,
                "operationId": "mark_all_notifications_read",
                "summary": "Mark all of the user's notifications read",
                "responses": responses(
                    (
                        "200",
                        "marked",
                        envelope(
                            marked={"type": "integer", "minimum": 0, "description": "how many were unread"},
                            unread={"const": 0},
                        ),
                    ),
                    "409",
                ),
            }
        },
        "/api/v1/notifications/{notification_id}/read": {
            "parameters": [nid],
            "post": {
                "tags": tag,
                "operationId": "mark_notification_read",
                "summary": "Mark one of the user's notifications read",
                "description": "Another user's notification is 404, as a missing one.",
                "responses": responses(
                    ("200", "the notification", envelope(_ref("Notification"), unread=unread)), "404", "409", "422"
                ),
            },
        },
    }
