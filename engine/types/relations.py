"""Field types that refer to other rows or files: lookup, user, child table, autonumber, attachment."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from engine.blueprint.model import FieldDef
from engine.types.base import FieldType, unindexable
from engine.types.scalars import Integer

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

AUTONUMBER_TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|0+)\}")
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
DEFAULT_MAX_SIZE = 10 * 1024**2


class Lookup(Integer):
    """A reference to one record of another object (many-to-one); stored as `<name>_id`."""

    name = "lookup"
    widget = "lookup"
    settings = frozenset({"object", "on_delete"})
    filter_ops: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "isnull")
    #: An id is a reference, not a quantity: nothing to add up or compare.
    metrics: ClassVar[frozenset[str]] = frozenset()

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.BigInteger()

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "description": f"id of a {f.target} record"}

    def validate(self, f: FieldDef, value: Any) -> str | None:
        return None if value >= 1 else "an id is a positive whole number"

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        if not f.target:
            return [("object", "a lookup field needs 'object:' (the object it refers to)", "field.target_missing")]
        return []


class User(Lookup):
    """A reference to a user of the app; stored as `<name>_id`."""

    name = "user"
    widget = "user"
    settings = frozenset({"on_delete"})

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "description": "id of a user"}

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        return []


class ChildTable(FieldType):
    """Line items owned by the record (e.g. quote lines); deleted with it."""

    name = "child_table"
    widget = "child_table"
    expr_type = "list"
    sortable = False
    settings = frozenset({"object"})
    filter_ops: ClassVar[tuple[str, ...]] = ()

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "array", "items": {"$ref": f"#/components/schemas/{f.target}"}}

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            raise ValueError("expected a list of line records")
        return raw

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        out = []
        if not f.target:
            out.append(("object", "a child_table field needs 'object:' (the line object)", "field.target_missing"))
        for key, value in (("required", f.required), ("unique", f.unique), ("index", f.indexed)):
            if value:
                out.append((key, f"'{key}' does not apply to a child_table field", "field.option_not_applicable"))
        return out


class Autonumber(FieldType):
    """A number given on create from a pattern such as Q-{YYYY}-{0000}; unique, read-only."""

    name = "autonumber"
    widget = "readonly"
    settings = frozenset({"format"})
    filter_ops: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "startswith", "isnull", "gt", "gte", "lt", "lte")
    metrics: ClassVar[frozenset[str]] = frozenset({"min", "max"})

    def pattern(self, f: FieldDef) -> str:
        return str(f.settings.get("format") or "{000000}")

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.String(64)

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "string", "readOnly": True, "description": f"given on create from {self.pattern(f)}"}

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if not isinstance(raw, str):
            raise ValueError("expected text")
        return raw

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        pattern = self.pattern(f)
        if not re.search(r"\{0+\}", pattern):
            return [("format", f"'{pattern}' needs a counter such as {{0000}}", "field.bad_format")]
        stripped = AUTONUMBER_TOKEN.sub("", pattern)
        if "{" in stripped or "}" in stripped:
            return [
                (
                    "format",
                    f"'{pattern}' has an unknown token; use {{YYYY}} {{YY}} {{MM}} {{DD}} {{0000}}",
                    "field.bad_format",
                )
            ]
        if len(pattern) > 48:
            return [("format", "the pattern is longer than 48 characters", "field.bad_format")]
        return []


class Attachment(FieldType):
    """A file stored under the files directory; size-limited and content-type checked."""

    name = "attachment"
    widget = "file"
    expr_type = "text"
    sortable = False
    settings = frozenset({"accept", "max_size"})
    filter_ops: ClassVar[tuple[str, ...]] = ("isnull",)

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:

        from engine.types import sqltypes

        return sqltypes.json_document()

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {
            "type": "object",
            "readOnly": True,
            "description": "upload with PUT .../{id}/files/{field}",
            "properties": {
                "name": {"type": "string"},
                "size": {"type": "integer"},
                "content_type": {"type": "string"},
                "sha256": {"type": "string"},
                "url": {"type": "string"},
            },
        }

    def max_size(self, f: FieldDef) -> int:
        return parse_size(f.settings.get("max_size", DEFAULT_MAX_SIZE))

    def accepts(self, f: FieldDef, content_type: str) -> bool:
        accept = f.settings.get("accept") or ["*/*"]
        major = content_type.split("/")[0]
        return any(a in ("*/*", content_type) or a == f"{major}/*" for a in accept)

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        out = unindexable(f)
        try:
            self.max_size(f)
        except ValueError as exc:
            out.append(("max_size", str(exc), "field.bad_size"))
        return out


def parse_size(raw: Any) -> int:
    """Bytes from 123, '512KB' or '10MB'."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    m = _SIZE.match(str(raw))
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"'{raw}' is not a size such as 10MB")
    return int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "B").upper()]
