"""Select and multi-select field types: options with bilingual labels and colours."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from engine.blueprint.model import FieldDef
from engine.expr.check import did_you_mean
from engine.types.base import FieldType, unindexable

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

OPTION_ID_LENGTH = 64


class Select(FieldType):
    """One option out of a list (stored as the option id)."""

    name = "select"
    widget = "select"
    settings = frozenset({"options"})
    filter_ops: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "isnull")

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        import sqlalchemy as sa

        return sa.String(OPTION_ID_LENGTH)

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "string", "enum": [o.id for o in f.options]}

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if not isinstance(raw, str):
            raise ValueError(f"expected an option id, got {type(raw).__name__}")
        return raw

    def parse_text(self, f: FieldDef, text: str) -> Any:
        """An option id in a query string: one that is not an option could never match."""
        if text not in f.option_ids:
            ids = [o.id for o in f.options]
            raise ValueError(f"'{text[:64]}' is not one of [{', '.join(ids)}]{did_you_mean(text, ids)}")
        return text

    def validate(self, f: FieldDef, value: Any) -> str | None:
        if value not in f.option_ids:
            return f"'{value[:64]}' is not one of [{', '.join(o.id for o in f.options)}]"
        return None

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        if not f.options:
            return [("options", f"a {self.name} field needs options", "field.options_missing")]
        return []


class MultiSelect(Select):
    """Any number of options out of a list (stored as a JSON list of option ids)."""

    name = "multi_select"
    widget = "multi_select"
    expr_type = "list"
    sortable = False
    filter_ops: ClassVar[tuple[str, ...]] = ("contains", "isnull")

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:

        from engine.types import sqltypes

        return sqltypes.json_document()

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        return {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "enum": [o.id for o in f.options]},
        }

    def parse(self, f: FieldDef, raw: Any) -> Any:
        if isinstance(raw, str):
            raw = [p.strip() for p in raw.split(",") if p.strip()]
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise ValueError("expected a list of option ids")
        return list(dict.fromkeys(raw))

    def parse_text(self, f: FieldDef, text: str) -> Any:
        """One option id (the `contains` filter looks for one)."""
        return Select.parse_text(self, f, text)

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        return super().check_definition(f) + unindexable(f)

    def validate(self, f: FieldDef, value: Any) -> str | None:
        if isinstance(value, str):
            return Select.validate(self, f, value)
        bad = [v for v in value if v not in f.option_ids]
        if bad:
            return f"'{bad[0][:64]}' is not one of [{', '.join(o.id for o in f.options)}]"
        return None
