"""JSON Schemas of the REST API's bodies, for the OpenAPI document: records as read, the bodies that
create and change them (child lines inline), the envelopes around them, and the error envelope.

Records as read list no field as required but `id`: a role may hide fields and `fields=` selects
some. Write bodies refuse unknown keys (`additionalProperties: false`), as the API does.
"""

from __future__ import annotations

from typing import Any

from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.types.registry import TypeRegistry

#: The largest id (ids are 64-bit); larger ones are refused with 422.
MAX_ID = 2**63 - 1
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
#: Versions and line positions are 32-bit.
MAX_COUNT = 2**31 - 1

PROBLEM = {
    "type": "object",
    "required": ["loc", "msg", "code"],
    "additionalProperties": False,
    "properties": {
        "loc": {
            "type": "array",
            "items": {"type": ["string", "integer"]},
            "description": 'where: ["body", "amount"], ["body", 3, "lines", 0, "quantity"], ["query", "limit"]',
        },
        "msg": {"type": "string", "description": "what, in the reader's language where the blueprint gives one"},
        "code": {"type": "string", "description": "a stable code such as `field.required` (docs/api.md)"},
    },
}
ERROR = {
    "type": "object",
    "required": ["ok", "errors"],
    "additionalProperties": False,
    "properties": {
        "ok": {"const": False},
        "errors": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Problem"}},
        "current": {
            "type": "object",
            "description": "with 409 `record.stale`: the record as stored now (as the reader may see it)",
        },
        "truncated": {"const": True, "description": "more problems were found than the 100 listed"},
        "total": {"type": "integer", "description": "how many problems were found (with `truncated`)"},
    },
}
_SYSTEM = {
    "id": {**ID, "readOnly": True},
    "version": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_COUNT,
        "readOnly": True,
        "description": "optimistic-concurrency version; send it back "
        "in PATCH (body `version` or If-Match) to get 409 instead of overwriting a newer change",
    },
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "created_by": {"type": ["integer", "null"], "readOnly": True, "description": "id of the user who created it"},
}
_VERSION_IN = {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "description": _SYSTEM["version"]["description"]}
_ATTACHMENT_IN = {"type": "null", "description": "null removes the file; upload one with PUT .../files/{field}"}


def _decimal_example(f: FieldDef, types: TypeRegistry) -> str:
    """A plausible value at the field's scale: 1234.50, or 0.1500 for a percent (a fraction)."""
    scale_of = getattr(types[f.type], "scale", None)
    scale = int(scale_of(f)) if scale_of is not None else 2
    whole, digits = ("0", "15") if f.type == "percent" else ("1234", "5")
    return f"{whole}.{digits.ljust(scale, '0')}" if scale else whole


def field_schemas(obj: ObjectDef, types: TypeRegistry) -> dict[str, Any]:
    """The schema of each field of `obj` as read, by its key in JSON (`account_id` for `account`)."""
    props: dict[str, Any] = {}
    for f in obj.fields:
        schema = dict(types[f.type].json_schema(f))
        schema["title"] = f.label.en
        if f.label.zh:
            schema["x-label-zh"] = f.label.zh
        if f.help:
            schema["description"] = f.help.en
        if schema.get("format") == "decimal":  # else Swagger UI shows a 100-digit number drawn from the pattern
            schema["examples"] = [_decimal_example(f, types)]
        if not f.required and f.type != "child_table":
            base = schema.get("type")
            if isinstance(base, str):
                schema["type"] = [base, "null"]
        props[f.column or f.name] = schema
    if obj.owned:
        props["owner_id"] = {"type": ["integer", "null"], "description": "id of the owning user"}
    if obj.parent_column:
        props[obj.parent_column] = {
            **ID,
            "description": f"the {obj.parent} this line belongs to (required for a line created on its own)",
        }
        props["position"] = {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_COUNT,
            "description": "the line's place among its parent's lines; a new line goes last unless given "
            "(inline lines: their order in the list)",
        }
    return props


def _writable(obj: ObjectDef, types: TypeRegistry, *, inline: bool, updating: bool) -> dict[str, Any]:
    """Properties a client may send: not read-only, child tables as their inline lines."""
    out: dict[str, Any] = {}
    for key, schema in field_schemas(obj, types).items():
        f = obj.field(key) if obj.has_field(key) else None
        if f is not None and f.type == "child_table":
            line = "inline_update" if updating else "inline"
            out[key] = {**schema, "items": {"$ref": f"#/components/schemas/{f.target}_{line}"}}
        elif f is not None and f.type == "attachment":
            if updating:
                out[key] = _ATTACHMENT_IN
        elif key == "owner_id":
            out[key] = {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_ID,
                "description": schema["description"],
            }
        elif not schema.get("readOnly") and not (inline and key in (obj.parent_column, "position")):
            out[key] = schema
    return out


def _required(obj: ObjectDef) -> list[str]:
    """Fields a new record must be given: required and without a default (constant or computed)."""
    return [
        str(f.column) for f in obj.fields if f.required and f.column and f.default is None and f.default_expr is None
    ]


def object_schemas(obj: ObjectDef, types: TypeRegistry) -> dict[str, Any]:
    """The component schemas of one object: as read, create and update bodies, and for a line
    object also its inline forms (in its parent's create and update bodies)."""
    read = {**_SYSTEM, **field_schemas(obj, types)}
    required = _required(obj)
    writable = _writable(obj, types, inline=False, updating=False)
    out: dict[str, Any] = {
        obj.name: {
            "type": "object",
            "title": obj.label.en,
            "required": ["id"],
            "additionalProperties": False,
            "properties": read,
        },
        f"{obj.name}_create": {
            "type": "object",
            "additionalProperties": False,
            "required": [*required, *([obj.parent_column] if obj.parent_column else [])],
            "properties": writable,
        },
        f"{obj.name}_update": {
            "type": "object",
            "additionalProperties": False,
            "properties": {**_writable(obj, types, inline=False, updating=True), "version": _VERSION_IN},
        },
    }
    if obj.parent_column:
        inline = _writable(obj, types, inline=True, updating=False)
        changed = _writable(obj, types, inline=True, updating=True)
        update: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "description": "a line with `id` changes that line (only the fields sent); without, a new line",
            "properties": {"id": {**ID, "description": "an existing line of this record"}, **changed},
        }
        if required:
            update["anyOf"] = [{"required": ["id"]}, {"required": required}]
        out[f"{obj.name}_inline"] = {
            "type": "object",
            "additionalProperties": False,
            "required": required,
            "properties": inline,
        }
        out[f"{obj.name}_inline_update"] = update
    return out


def system_schemas(app: App) -> dict[str, Any]:
    """Schemas of the API's own resources: errors, the object index, history, trash and shares."""
    names = [o.name for o in app.objects]
    return {
        "Problem": PROBLEM,
        "Error": ERROR,
        "ObjectSummary": {
            "type": "object",
            "required": ["name", "label", "plural", "url"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "enum": names},
                "label": {"$ref": "#/components/schemas/Label"},
                "plural": {"$ref": "#/components/schemas/Label"},
                "url": {"type": "string"},
            },
        },
        "Label": {
            "type": "object",
            "required": ["en"],
            "additionalProperties": {"type": "string"},
            "description": "a text by language: `en` and, where the blueprint gives them, others (`zh`)",
        },
        "Change": {
            "type": "object",
            "required": ["id", "object", "record_id", "action", "field", "old", "new", "actor_id", "at"],
            "additionalProperties": False,
            "properties": {
                "id": ID,
                "object": {"type": "string", "enum": names},
                "record_id": ID,
                "action": {"type": "string", "description": "create, update, delete or restore"},
                "field": {"type": ["string", "null"], "description": "the field changed (update)"},
                "old": {"description": "the value before (update), the whole record (delete)"},
                "new": {"description": "the value after (update), the whole record (restore)"},
                "actor_id": {"type": ["integer", "null"], "description": "the user who made the change"},
                "at": {"type": "string", "format": "date-time"},
            },
        },
        "TrashEntry": {
            "type": "object",
            "required": ["id", "object", "record_id", "deleted_by", "deleted_at"],
            "additionalProperties": False,
            "properties": {
                "id": ID,
                "object": {"type": "string", "enum": names},
                "record_id": {**ID, "description": "restore it with POST /api/v1/{object}/{record_id}/restore"},
                "deleted_by": {"type": ["integer", "null"]},
                "deleted_at": {"type": "string", "format": "date-time"},
            },
        },
        "Share": {
            "type": "object",
            "required": ["id", "user_id", "team_id", "can_edit", "created_by"],
            "additionalProperties": False,
            "properties": {
                "id": ID,
                "user_id": {"type": ["integer", "null"]},
                "team_id": {"type": ["integer", "null"]},
                "can_edit": {"type": "boolean"},
                "created_by": {"type": ["integer", "null"]},
            },
        },
        "ShareRequest": {
            "type": "object",
            "additionalProperties": False,
            "description": "a user or a team (one of them); sharing again with the same one changes `can_edit`",
            "oneOf": [{"required": ["user_id"]}, {"required": ["team_id"]}],
            "properties": {
                "user_id": ID,
                "team_id": ID,
                "can_edit": {"type": "boolean", "default": False},
            },
        },
    }


def envelope(data: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """`{"ok": true, "data": ...}` (without `data` when None) with `extra` properties, all required
    except those given as `(schema, False)`."""
    props: dict[str, Any] = {"ok": {"const": True}}
    required = ["ok"]
    if data is not None:
        props["data"] = data
        required.append("data")
    for key, value in extra.items():
        schema, always = value if isinstance(value, tuple) else (value, True)
        props[key] = schema
        if always:
            required.append(key)
    return {"type": "object", "required": required, "additionalProperties": False, "properties": props}
