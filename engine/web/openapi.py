"""OpenAPI 3.1 for the REST API, generated from the blueprint: every route of engine.web.api, with
its parameters, bodies, headers and each status it can answer, in the API's envelopes.

Schemas of bodies are in engine.web.openapi_schemas. The document is checked against the OpenAPI
meta-schema and exercised with schemathesis in the tests (tests/web/test_openapi*.py).
"""

from __future__ import annotations

from typing import Any

from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.types.registry import TypeRegistry
from engine.web.bodies import MAX_BATCH_BODY, MAX_RECORD_BODY
from engine.web.openapi_comments import comment_paths, discussion_schemas, notification_paths
from engine.web.openapi_schemas import ID, MAX_COUNT, MAX_ID, envelope, object_schemas, system_schemas

__all__ = ["object_schemas", "openapi_document"]

_OPS = {
    "eq": "",
    "ne": "__ne",
    "gt": "__gt",
    "gte": "__gte",
    "lt": "__lt",
    "lte": "__lte",
    "in": "__in",
    "contains": "__contains",
    "startswith": "__startswith",
    "isnull": "__isnull",
}
_SYSTEM_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull")
_TEXT = {"type": "string"}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
#: Every error status an API route can answer, as a reusable response.
_ERRORS: dict[str, tuple[str, str]] = {
    "401": (
        "Unauthorized",
        "no valid credentials: no token or session (`auth.required`), or a token that is unknown, "
        "revoked or expired (`auth.bad_token`)",
    ),
    "403": (
        "Forbidden",
        "the user's role does not grant this action on the object (`permission.denied`), or a session "
        "request came without its CSRF token (`csrf.invalid`)",
    ),
    "404": (
        "NotFound",
        "no such record, also for a record outside the user's scope (`record.not_found`, `trash.not_found`, "
        "`share.not_found`, `file.not_found`)",
    ),
    "409": (
        "Conflict",
        "the `version` sent is stale (`record.stale`; `current` holds the stored record), other records "
        "still refer to this one (`record.referenced`), a record referred to went meanwhile "
        "(`record.reference`), or PostgreSQL gave way to a concurrent write (`record.busy`: nothing was "
        "stored, send it again)",
    ),
    "413": (
        "PayloadTooLarge",
        f"the body is too large (`payload.too_large`): {MAX_RECORD_BODY // 2**20} MiB for a record, "
        f"{MAX_BATCH_BODY // 2**20} MiB for bulk, the field's `max_size` for a file",
    ),
    "422": (
        "InvalidInput",
        "invalid input, every problem located (`loc`) with a code: malformed JSON, wrong types, unknown or "
        "read-only fields, broken rules (`rule.<name>`), bad query parameters (`query.*`)",
    ),
    "503": (
        "Unavailable",
        "the server could not do it now; nothing was changed, try again after `Retry-After` seconds: a read "
        "ran past its time limit (`database.timeout`), the database stayed locked by another writer "
        "(`database.busy`), or the database was migrated to another blueprint (`database.blueprint_changed`)",
    ),
}
_ETAG = {
    "description": 'the record\'s version, quoted (`"3"`); send it back as If-Match',
    "required": True,
    "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
}


def _error_responses() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, (name, description) in _ERRORS.items():
        out[name] = {"description": description, "content": _ERROR}
        if status == "401":
            out[name]["headers"] = {
                "WWW-Authenticate": {"required": True, "schema": _TEXT, "description": 'Bearer realm="loomwork"'}
            }
        if status == "503":
            out[name]["headers"] = {
                "Retry-After": {"required": False, "schema": {"type": "string"}, "description": "seconds"}
            }
    return out


def _responses(
    ok: tuple[str, str, dict[str, Any]], *errors: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The success response (status, description, JSON schema) and the error statuses named;
    401 and 503 always (see `_errors`)."""
    status, description, schema = ok
    out: dict[str, Any] = {status: {"description": description, "content": {"application/json": {"schema": schema}}}}
    if headers:
        out[status]["headers"] = headers
    return out | _errors(*errors)


def _errors(*statuses: str) -> dict[str, Any]:
    """References to the error responses; 401 (every route needs a user) and 503 (the database
    can be busy, slow or migrated under any request) always."""
    return {code: {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in sorted({"401", "503", *statuses})}


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": where, "schema": schema, "description": description}
    if where == "path":
        out["required"] = True
    return out


def _filter_value(schema: dict[str, Any], op: str) -> dict[str, Any]:
    """The query value of `field__op`: parsed as the field's type (never an array or object)."""
    if op == "isnull":
        return {"type": "boolean"}
    if op == "in":
        return {"type": "string", "description": "comma-separated values, up to 500"}
    base = schema.get("type")
    kind = next((t for t in base if t != "null"), "string") if isinstance(base, list) else base
    if op in ("contains", "startswith") or kind not in ("string", "integer", "boolean"):
        return dict(_TEXT)
    out: dict[str, Any] = {"type": kind}
    if kind == "integer":
        out.update(minimum=-(2**63), maximum=MAX_ID)
    for key in ("format", "enum"):
        if key in schema:
            out[key] = schema[key]
    if schema.get("format") == "decimal":
        out["pattern"] = schema["pattern"]
    return out


def filter_parameters(obj: ObjectDef, types: TypeRegistry) -> list[dict[str, Any]]:
    """`field__op=value` for every stored field and the system columns (lists and aggregates)."""
    params: list[dict[str, Any]] = []
    for f in obj.fields:  # stored fields and virtual formulas
        if f.type == "child_table":
            continue
        schema = types[f.type].json_schema(f)
        for op in types[f.type].filter_ops:
            params.append(_param(f"{f.column or f.name}{_OPS[op]}", _filter_value(schema, op), f"{f.label.en}: {op}"))
    int64: dict[str, Any] = {"type": "integer", "minimum": -(2**63), "maximum": MAX_ID}
    int32: dict[str, Any] = {"type": "integer", "minimum": -(2**31), "maximum": MAX_COUNT}  # versions and positions
    moment: dict[str, Any] = {"type": "string", "format": "date-time"}
    system = {"id": int64, "version": int32, "created_at": moment, "updated_at": moment, "created_by": int64}
    if obj.owned:
        system["owner_id"] = int64
    if obj.parent_column:
        system[obj.parent_column] = int64
        system["position"] = int32
    for key, schema in system.items():
        for op in _SYSTEM_OPS:
            value = _filter_value(schema, op) if op in ("in", "isnull") else schema
            params.append(_param(f"{key}{_OPS[op]}", value, f"{key}: {op}"))
    return params


def _filter_refs(obj: ObjectDef, types: TypeRegistry) -> list[dict[str, Any]]:
    """References to the filter parameters, kept once per object in components.parameters."""
    return [{"$ref": f"#/components/parameters/{obj.name}.{p['name']}"} for p in filter_parameters(obj, types)]


def _list_parameters(obj: ObjectDef, types: TypeRegistry) -> list[dict[str, Any]]:
    return [
        _param(
            "sort",
            _TEXT,
            "comma-separated fields (virtual formulas too), - for descending (`-amount,name`); empty values sort last",
        ),
        _param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 25}, "records per page"),
        _param("cursor", _TEXT, "`next_cursor` of the previous page (with the same sort)"),
        _param("fields", _TEXT, "comma-separated fields to return (plus `id`)"),
        _param("with_total", {"type": "boolean", "default": False}, "also count every match (`total`)"),
        _param("filter", _TEXT, "a boolean expression over the record, its lookups and collections"),
        _param("q", {"type": "string", "maxLength": 200}, "type-ahead: the title field contains this"),
        *_filter_refs(obj, types),
    ]


def _aggregate_parameters(obj: ObjectDef, types: TypeRegistry) -> list[dict[str, Any]]:
    return [
        _param(
            "group_by",
            _TEXT,
            "up to 4 comma-separated keys: a field (`stage`), a linked record's field through up to 3 lookups "
            "(`account.industry`), a date bucket of a date or datetime (`close_date:month`; day, week (ISO, "
            "Monday), month, quarter, year; datetimes on the days of the app's time zone, UTC by default)",
        ),
        _param(
            "metrics",
            {"type": "string", "default": "count"},
            "comma-separated: count, sum:f, avg:f, min:f, max:f (which apply depends on the field type)",
        ),
        _param(
            "sort",
            _TEXT,
            "comma-separated group_by keys or metrics (`-sum:amount`), - for descending; empty values last; "
            "then the remaining group_by keys ascending",
        ),
        _param(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10000},
            "at most this many groups; `truncated` says when more matched",
        ),
        _param("filter", _TEXT, "a boolean expression over the record, its lookups and collections"),
        *_filter_refs(obj, types),
    ]


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _attachments(obj: ObjectDef) -> list[FieldDef]:
    return [f for f in obj.fields if f.type == "attachment"]


def _media(fields: list[FieldDef]) -> dict[str, Any]:
    """The file media types the attachment fields accept (any, when one accepts all)."""
    accepted = [a for f in fields for a in (f.settings.get("accept") or ["*/*"])]
    if "*/*" in accepted:
        accepted = ["*/*"]
    binary = {"schema": {"type": "string", "format": "binary"}}
    return dict.fromkeys(accepted, binary)


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def _object_paths(obj: ObjectDef, types: TypeRegistry) -> dict[str, Any]:
    name, tag = obj.name, [obj.name]
    record = envelope(_ref(name))
    record_ok = {"ETag": _ETAG}
    rid = _param("record_id", ID, f"the {name}'s id", "path")
    paths: dict[str, Any] = {
        f"/api/v1/{name}": {
            "get": {
                "tags": tag,
                "operationId": f"list_{name}",
                "summary": f"List {obj.plural.en}",
                "description": "One page of the records in the user's scope; filters combine with AND.",
                "parameters": _list_parameters(obj, types),
                "responses": _responses(
                    (
                        "200",
                        "one page",
                        envelope(
                            {"type": "array", "items": _ref(name)},
                            next_cursor={
                                "type": ["string", "null"],
                                "description": "pass as `cursor` for the next page",
                            },
                            total=({"type": "integer", "minimum": 0, "description": "with `with_total=true`"}, False),
                        ),
                    ),
                    "403",
                    "422",
                ),
            },
            "post": {
                "tags": tag,
                "operationId": f"create_{name}",
                "summary": f"Create {_article(obj.label.en)} {obj.label.en}",
                "description": "Missing fields take their default; child lines are sent inline.",
                "requestBody": _json_body(_ref(f"{name}_create")),
                "responses": _responses(("201", "created", record), "403", "409", "413", "422", headers=record_ok),
            },
        },
        f"/api/v1/{name}/bulk": {
            "post": {
                "tags": tag,
                "operationId": f"bulk_create_{name}",
                "summary": f"Create up to 10,000 {obj.plural.en}, all or nothing",
                "description": 'Problems are located by index: `["body", 12, "amount"]`.',
                "requestBody": _json_body({"type": "array", "maxItems": 10000, "items": _ref(f"{name}_create")}),
                "responses": _responses(
                    (
                        "201",
                        "all created",
                        envelope(ids={"type": "array", "items": ID}, count={"type": "integer", "minimum": 0}),
                    ),
                    "403",
                    "409",
                    "413",
                    "422",
                ),
            }
        },
        f"/api/v1/{name}/aggregate": {
            "get": {
                "tags": tag,
                "operationId": f"aggregate_{name}",
                "summary": "Counts, sums, averages, minima and maxima grouped in the database",
                "parameters": _aggregate_parameters(obj, types),
                "responses": _responses(
                    (
                        "200",
                        "one object per group: the group_by fields and the metrics (`count`, `sum_amount`)",
                        envelope(
                            {"type": "array", "items": {"type": "object"}},
                            truncated={"type": "boolean", "description": "more groups matched than were returned"},
                        ),
                    ),
                    "403",
                    "422",
                ),
            }
        },
        f"/api/v1/{name}/{{record_id}}": {
            "parameters": [rid],
            "get": {
                "tags": tag,
                "operationId": f"get_{name}",
                "summary": f"One {obj.label.en}" + (" with its child lines" if obj.child_fields else ""),
                "responses": _responses(("200", "the record", record), "403", "404", "422", headers=record_ok),
            },
            "patch": {
                "tags": tag,
                "operationId": f"update_{name}",
                "summary": f"Change some fields of {_article(obj.label.en)} {obj.label.en}",
                "description": "Send the version read (body `version` or If-Match) to be refused with 409 rather "
                "than overwrite a newer change. Child lines sent replace the stored ones: lines with `id` are "
                "changed, lines without are added, lines left out are removed.",
                "parameters": [
                    _param(
                        "If-Match",
                        {"type": "string", "pattern": '^(W/)?"?[0-9]+"?$'},
                        "the version read (its ETag)",
                        "header",
                    )
                ],
                "requestBody": _json_body(_ref(f"{name}_update")),
                "responses": _responses(
                    ("200", "updated", record), "403", "404", "409", "413", "422", headers=record_ok
                ),
            },
            "delete": {
                "tags": tag,
                "operationId": f"delete_{name}",
                "summary": f"Move {_article(obj.label.en)} {obj.label.en} to the trash",
                "description": "With its child lines; lookups to it are refused (409), cleared or trashed too, as "
                "each lookup's `on_delete` says.",
                "responses": _responses(
                    ("200", "moved to the trash", envelope(trash_id=ID)), "403", "404", "409", "422"
                ),
            },
        },
        f"/api/v1/{name}/{{record_id}}/restore": {
            "parameters": [rid],
            "post": {
                "tags": tag,
                "operationId": f"restore_{name}",
                "summary": "Put the latest trashed copy back",
                "responses": _responses(("200", "restored", record), "403", "404", "409", "422", headers=record_ok),
            },
        },
        f"/api/v1/{name}/{{record_id}}/history": {
            "parameters": [rid],
            "get": {
                "tags": tag,
                "operationId": f"history_{name}",
                "summary": "Every change: who, when, field, old and new value",
                "responses": _responses(
                    ("200", "the changes, oldest first", envelope({"type": "array", "items": _ref("Change")})),
                    "403",
                    "404",
                    "422",
                ),
            },
        },
    }
    paths.update(comment_paths(obj, rid, _responses))
    if not obj.parent:  # lines are shared through their parent
        paths.update(_share_paths(obj, rid))
    if _attachments(obj):
        paths.update(_file_paths(obj, rid, record, record_ok))
    return paths


def _share_paths(obj: ObjectDef, rid: dict[str, Any]) -> dict[str, Any]:
    name, tag = obj.name, [obj.name]
    shares = {"type": "array", "items": _ref("Share")}
    return {
        f"/api/v1/{name}/{{record_id}}/shares": {
            "parameters": [rid],
            "get": {
                "tags": tag,
                "operationId": f"list_shares_{name}",
                "summary": "Who the record is shared with",
                "responses": _responses(("200", "the shares", envelope(shares)), "403", "404", "422"),
            },
            "post": {
                "tags": tag,
                "operationId": f"share_{name}",
                "summary": "Share the record with a user or a team",
                "description": "Only who may change the record through their own role's scope may share it.",
                "requestBody": _json_body(_ref("ShareRequest")),
                "responses": _responses(
                    ("201", "shared (or `can_edit` changed)", envelope(_ref("Share"))), "403", "404", "413", "422"
                ),
            },
        },
        f"/api/v1/{name}/{{record_id}}/shares/{{share_id}}": {
            "parameters": [rid, _param("share_id", ID, "the share's id", "path")],
            "delete": {
                "tags": tag,
                "operationId": f"unshare_{name}",
                "summary": "Stop sharing",
                "responses": _responses(("200", "no longer shared", envelope()), "403", "404", "422"),
            },
        },
    }


def _file_paths(obj: ObjectDef, rid: dict[str, Any], record: dict[str, Any], etag: dict[str, Any]) -> dict[str, Any]:
    name, tag = obj.name, [obj.name]
    fields = _attachments(obj)
    field = _param("field", {"type": "string", "enum": [f.name for f in fields]}, "the attachment field", "path")
    return {
        f"/api/v1/{name}/{{record_id}}/files/{{field}}": {
            "parameters": [rid, field],
            "put": {
                "tags": tag,
                "operationId": f"upload_{name}",
                "summary": "Upload a file into an attachment field",
                "description": "The file is the body, with its Content-Type; the field's `accept` list and "
                "`max_size` hold, and known formats must start with their signature.",
                "parameters": [_param("name", {"type": "string", "maxLength": 255}, "the file's name")],
                "requestBody": {"required": True, "content": _media(fields)},
                "responses": _responses(
                    ("200", "the record, with the file", record), "403", "404", "413", "422", headers=etag
                ),
            },
            "get": {
                "tags": tag,
                "operationId": f"download_{name}",
                "summary": "Download the file of an attachment field",
                "responses": {
                    "200": {
                        "description": "the file, as uploaded",
                        "headers": {"Content-Disposition": {"required": True, "schema": _TEXT}},
                        "content": _media(fields),
                    },
                    **_errors("403", "404", "422"),
                },
            },
        },
    }


def _api_paths(app: App) -> dict[str, Any]:
    """The routes that are not per object: the object index, the trash and notifications."""
    return {
        "/api/v1": {
            "get": {
                "tags": ["app"],
                "operationId": "list_objects",
                "summary": "The objects the user may read",
                "responses": _responses(
                    ("200", "the objects", envelope({"type": "array", "items": _ref("ObjectSummary")}))
                ),
            }
        },
        "/api/v1/trash": {
            "get": {
                "tags": ["app"],
                "operationId": "list_trash",
                "summary": "The newest 100 trashed records the user may restore",
                "description": "What the user deleted; every deletion for a role whose delete scope is all.",
                "parameters": [
                    _param("object", {"type": "string", "enum": [o.name for o in app.objects]}, "only this object")
                ],
                "responses": _responses(
                    ("200", "trash entries, newest first", envelope({"type": "array", "items": _ref("TrashEntry")})),
                    "422",
                ),
            }
        },
        **notification_paths(_responses),
    }


def openapi_document(app: App, types: TypeRegistry, *, version: str) -> dict[str, Any]:
    """The OpenAPI document of an app's REST API."""
    schemas: dict[str, Any] = system_schemas(app) | discussion_schemas(app)
    parameters: dict[str, Any] = {}
    paths = _api_paths(app)
    for obj in app.objects:
        schemas.update(object_schemas(obj, types))
        parameters.update({f"{obj.name}.{p['name']}": p for p in filter_parameters(obj, types)})
        paths.update(_object_paths(obj, types))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{app.label.en} API",
            "version": version,
            "description": f"REST API of the {app.label.en} app, generated by Loomwork from its blueprint. "
            "Every request needs a user: an API token (`Authorization: Bearer lw_...`, from "
            '`loomwork token create`) or the browser\'s session. Success is `{"ok": true, "data": ...}`; '
            'every error is `{"ok": false, "errors": [{"loc", "msg", "code"}]}`.',
        },
        "tags": [{"name": "app", "description": "the objects of the app, the trash and the user's notifications"}]
        + [{"name": o.name, "description": o.plural.en} for o in app.objects],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": parameters,
            "responses": _error_responses(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "lw_...",
                    "description": "an API token: `loomwork token create --user EMAIL` prints it once",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "lw_session",
                    "description": "the browser's session after signing in at /login; POST, PATCH, PUT and DELETE "
                    "also need its CSRF token in the X-CSRF-Token header",
                },
            },
        },
    }
