"""The formula field type: a value computed from an expression of the record (docs/expressions.md).

Stored formulas (the default) are columns recomputed on every save, including when child lines
change; virtual ones (`stored: false`) are computed inside each query. The result type is
inferred when the blueprint is checked and kept in the field's settings as `result`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from engine.blueprint.model import FieldDef
from engine.expr.numbers import fit_places
from engine.types.base import FieldType
from engine.types.scalars import Boolean_, Date_, DateTime_, DecimalType, LongText, Text

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

_BY_RESULT: dict[str, FieldType] = {
    "number": DecimalType(),
    "text": LongText(),
    "boolean": Boolean_(),
    "date": Date_(),
    "datetime": DateTime_(),
}


class Formula(FieldType):
    """A value computed from an expression; read-only, stored or computed in queries."""

    name = "formula"
    widget = "readonly"
    settings = frozenset({"expression", "stored", "scale"})
    filter_ops: ClassVar[tuple[str, ...]] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull")

    def result(self, f: FieldDef) -> str:
        return str(f.settings.get("result", "text"))

    def _inner(self, f: FieldDef) -> FieldType:
        return _BY_RESULT.get(self.result(f), _BY_RESULT["text"])

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return self._inner(f).sql_type(f)

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        schema = dict(self._inner(f).json_schema(f))
        schema.pop("maxLength", None)
        schema["readOnly"] = True
        schema["description"] = f"computed: {f.settings.get('expression', '')}"
        return schema

    def scale(self, f: FieldDef) -> int:
        return int(f.settings.get("scale", 2))

    def metrics_for(self, f: FieldDef) -> frozenset[str]:
        # A text result is measured by code point like text (long text, its storage, is not).
        if self.result(f) == "text":
            return Text.metrics
        return self._inner(f).metrics

    def parse(self, f: FieldDef, raw: Any) -> Any:
        return self._inner(f).parse(f, raw)

    def parse_text(self, f: FieldDef, text: str) -> Any:
        return self._inner(f).parse_text(f, text)

    def to_json(self, f: FieldDef, value: Any) -> Any:
        return self._inner(f).to_json(f, value)

    def places(self, f: FieldDef) -> int | None:
        """Decimal places of a number formula's value (None when the result is not a number)."""
        return self.scale(f) if self.result(f) == "number" else None

    def fit(self, f: FieldDef, value: Any) -> Any:
        """A computed value as the column stores it: numbers rounded half away from zero to
        `scale`, null when they need more than 18 digits (SQL gives the same: `SqlContext.fit`)."""
        if isinstance(value, Decimal | int) and not isinstance(value, bool) and self.result(f) == "number":
            return fit_places(value, self.scale(f))
        if self.result(f) == "date" and isinstance(value, datetime):
            return value.date()
        if self.result(f) == "text" and value is not None and not isinstance(value, str):
            return value.isoformat() if isinstance(value, date) else str(value)
        return value

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        problems = []
        if not f.settings.get("expression"):
            problems.append(("expression", "a formula field needs 'expression:'", "field.expression_missing"))
        for key, value in (("required", f.required), ("unique", f.unique), ("default", f.default is not None)):
            if value:
                problems.append((key, f"'{key}' does not apply to a formula", "field.option_not_applicable"))
        return problems
