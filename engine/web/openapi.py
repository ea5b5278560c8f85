"""OpenAPI 3.1 for the REST API, generated from the blueprint: one schema per object and field type."""

from __future__ import annotations

from typing import Any

from engine.blueprint.model import App, ObjectDef
from engine.types.registry import TypeRegistry

_ERROR = {
    "type": "object",
    "required": ["ok", "errors"],
    "properties": {
        "ok": {"const": False},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "code"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
        "truncated": {"const": True, "description": "more problems were found than the 100 listed"},
        "total": {"type": "integer", "description": "how many problems were found (with `truncated`)"},
    },
}
_SYSTEM = {
    "id": {"type": "integer", "readOnly": True},
    "version": {
        "type": "integer",
        "readOnly": True,
        "description": "optimistic-concurrency version; send it back "
        "in PATCH (body `version` or If-Match) to get 409 instead of overwriting a newer change",
    },
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "created_by": {"type": ["integer", "null"], "readOnly": True},
}
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


def _field_schemas(obj: ObjectDef, types: TypeRegistry) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in obj.fields:
        schema = dict(types[f.type].json_schema(f))
        schema["title"] = f.label.en
        if f.label.zh:
            schema["x-label-zh"] = f.label.zh
        if f.help:
            schema["description"] = f.help.en
        if not f.required and f.type != "child_table":
            base = schema.get("type")
            if isinstance(base, str):
                schema["type"] = [base, "null"]
        props[f.column or f.name] = schema
    if obj.owned:
        props["owner_id"] = {"type": ["integer", "null"], "description": "id of the owning user"}
    if obj.parent:
        props[f"{obj.parent}_id"] = {
            "type": "integer",
            "minimum": 1,
            "description": f"the {obj.parent} this line belongs to (required for a line created on its own)",
        }
        props["position"] = {
            "type": "integer",
            "minimum": 0,
            "description": "the line's place among its parent's lines; a new line goes last unless given",
        }
    return props


def object_schemas(obj: ObjectDef, types: TypeRegistry) -> dict[str, Any]:
    props = _field_schemas(obj, types)
    required = [f.column or f.name for f in obj.fields if f.required and f.column]
    if obj.parent_column:  # a line created on its own names its parent (inline lines do not)
        required.append(obj.parent_column)
    writable = {k: v for k, v in props.items() if not v.get("readOnly")}
    return {
        obj.name: {"type": "object", "title": obj.label.en, "properties": {**_SYSTEM, **props}},
        f"{obj.name}_create": {
            "type": "object",
            "additionalProperties": False,
            "required": required,
            "properties": writable,
        },
        f"{obj.name}_update": {
            "type": "object",
            "additionalProperties": False,
            "properties": {**writable, "version": _SYSTEM["version"]},
        },
    }


def _list_parameters(obj: ObjectDef, types: TypeRegistry) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": "sort",
            "in": "query",
            "schema": {"type": "string"},
            "description": "comma-separated fields (virtual formulas too), - for descending; empty values sort last",
        },
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 25}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the last page"},
        {"name": "fields", "in": "query", "schema": {"type": "string"}, "description": "comma-separated fields"},
        {"name": "with_total", "in": "query", "schema": {"type": "boolean"}, "description": "also count all matches"},
        {"name": "filter", "in": "query", "schema": {"type": "string"}, "description": "a boolean expression"},
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "type-ahead: the title contains"},
    ]
    return params + _field_filters(obj, types)


def _field_filters(obj: ObjectDef, types: TypeRegistry) -> list[dict[str, Any]]:
    """`field__op=value` for every stored field and virtual formula."""
    params: list[dict[str, Any]] = []
    for f in obj.fields:
        if f.type == "child_table":
            continue
        for op in types[f.type].filter_ops:
            params.append(
                {
                    "name": f"{f.column or f.name}{_OPS[op]}",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": f"{f.label.en}: {op}",
                }
            )
    return params


def _aggregate_parameters(obj: ObjectDef, types: TypeRegistry) -> list[dict[str, Any]]:
    text = {"type": "string"}
    params: list[dict[str, Any]] = [
        {
            "name": "group_by",
            "in": "query",
            "schema": text,
            "description": "up to 4 comma-separated keys: a field (`stage`), a linked record's field through up to "
            "3 lookups (`account.industry`), a date bucket of a date or datetime (`close_date:month`; day, "
            "week (ISO, Monday), month, quarter, year; datetimes on the days of the app's time zone, UTC by default)",
        },
        {
            "name": "metrics",
            "in": "query",
            "schema": {**text, "default": "count"},
            "description": "comma-separated: count, sum:f, avg:f, min:f, max:f (which apply depends on the field type)",
        },
        {
            "name": "sort",
            "in": "query",
            "schema": text,
            "description": "comma-separated group_by keys or metrics (`-sum:amount`), - for descending; "
            "empty values last; then the remaining group_by keys ascending",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10000},
            "description": "at most this many groups; `truncated` says when more matched",
        },
        {"name": "filter", "in": "query", "schema": text, "description": "a boolean expression"},
    ]
    return params + _field_filters(obj, types)


def _envelope(schema: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": {"ok": {"const": True}, "data": schema, **(extra or {})}}


def _responses(
    ok_status: str, schema: dict[str, Any], description: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    body = _envelope(schema, extra)
    return {
        ok_status: {"description": description, "content": {"application/json": {"schema": body}}},
        "404": {"description": "unknown object or record", **err},
        "409": {"description": "stale version, or a record still referred to", **err},
        "422": {"description": "invalid input, per field", **err},
    }


def openapi_document(app: App, types: TypeRegistry, *, version: str) -> dict[str, Any]:
    """The OpenAPI document of an app's REST API."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, Any] = {}
    rid = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    for obj in app.objects:
        schemas.update(object_schemas(obj, types))
        ref = {"$ref": f"#/components/schemas/{obj.name}"}
        body = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{obj.name}_create"}}},
        }
        tag = [obj.name]
        paths[f"/api/v1/{obj.name}"] = {
            "get": {
                "tags": tag,
                "operationId": f"list_{obj.name}",
                "summary": f"List {obj.plural.en}",
                "parameters": _list_parameters(obj, types),
                "responses": _responses("200", {"type": "array", "items": ref}, "one page"),
            },
            "post": {
                "tags": tag,
                "operationId": f"create_{obj.name}",
                "summary": f"Create a {obj.label.en}",
                "requestBody": body,
                "responses": _responses("201", ref, "created"),
            },
        }
        paths[f"/api/v1/{obj.name}/bulk"] = {
            "post": {
                "tags": tag,
                "operationId": f"bulk_create_{obj.name}",
                "summary": "Create up to 10,000 records, all or nothing",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "maxItems": 10000,
                                "items": {"$ref": f"#/components/schemas/{obj.name}_create"},
                            }
                        }
                    },
                },
                "responses": _responses("201", {"type": "null"}, "created; ids in `ids`"),
            }
        }
        paths[f"/api/v1/{obj.name}/aggregate"] = {
            "get": {
                "tags": tag,
                "operationId": f"aggregate_{obj.name}",
                "summary": "Counts, sums, averages, minima and maxima grouped in the database",
                "parameters": _aggregate_parameters(obj, types),
                "responses": _responses(
                    "200",
                    {"type": "array", "items": {"type": "object"}},
                    "groups: one object per group, keyed by the group_by keys and the metrics (`sum_amount`)",
                    {"truncated": {"type": "boolean", "description": "more groups matched than were returned"}},
                ),
            }
        }
        paths[f"/api/v1/{obj.name}/{{record_id}}"] = {
            "parameters": [rid],
            "get": {"tags": tag, "operationId": f"get_{obj.name}", "responses": _responses("200", ref, "the record")},
            "patch": {
                "tags": tag,
                "operationId": f"update_{obj.name}",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{obj.name}_update"}}},
                },
                "responses": _responses("200", ref, "updated"),
            },
            "delete": {
                "tags": tag,
                "operationId": f"delete_{obj.name}",
                "responses": _responses("200", {"type": "null"}, "moved to the trash"),
            },
        }
        paths[f"/api/v1/{obj.name}/{{record_id}}/restore"] = {
            "parameters": [rid],
            "post": {
                "tags": tag,
                "operationId": f"restore_{obj.name}",
                "responses": _responses("200", ref, "restored"),
            },
        }
        paths[f"/api/v1/{obj.name}/{{record_id}}/history"] = {
            "parameters": [rid],
            "get": {
                "tags": tag,
                "operationId": f"history_{obj.name}",
                "responses": _responses("200", {"type": "array", "items": {"type": "object"}}, "changes"),
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{app.label.en} API",
            "version": version,
            "description": f"REST API of the {app.label.en} app, generated by Loomwork from its blueprint.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
