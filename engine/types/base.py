"""The field-type protocol: one small class per type, registered on a `TypeRegistry`."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from engine.blueprint.model import FieldDef
from engine.expr.formats import parse_json_number, parse_number_text
from engine.expr.numbers import STORED_DIGITS

if TYPE_CHECKING:  # SQLAlchemy loads only when tables are built, so `loomwork check` starts fast
    from sqlalchemy.types import TypeEngine

#: Total significant digits an exact decimal may carry (fits a signed 64-bit integer when scaled).
DECIMAL_DIGITS = STORED_DIGITS


class FieldType:
    """How one kind of field is stored, validated, exchanged as JSON and edited.

    `parse` turns input (JSON value or query-string text) into the Python value, raising
    `ValueError` with a message a user can read; `validate` checks the field's constraints
    on an already-parsed value and returns a message or None.
    """

    name: ClassVar[str]
    #: Blueprint keys this type accepts beyond the common ones.
    settings: ClassVar[frozenset[str]] = frozenset()
    widget: ClassVar[str] = "input"
    #: The expression-language type of values of this field.
    expr_type: ClassVar[str] = "text"
    #: Whether equality/range filters and sorting apply to this field.
    sortable: ClassVar[bool] = True
    #: Operators usable in simple API filters (`?field__op=value`).
    filter_ops: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "isnull")
    #: The blueprint error code for a `min`/`max` this type cannot read (types that take bounds).
    bound_error: ClassVar[str] = "field.bad_number"
    #: Aggregate metrics besides `count` that values of this type support (sum, avg, min, max).
    metrics: ClassVar[frozenset[str]] = frozenset()

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        raise NotImplementedError

    def json_schema(self, f: FieldDef) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, f: FieldDef, raw: Any) -> Any:
        return raw

    def metrics_for(self, f: FieldDef) -> frozenset[str]:
        """The aggregate metrics this field supports (a formula's depend on its result)."""
        return self.metrics

    def parse_text(self, f: FieldDef, text: str) -> Any:
        """Parse a value given as text (query strings, CSV, form posts)."""
        return self.parse(f, text)

    def validate(self, f: FieldDef, value: Any) -> str | None:
        return None

    def to_json(self, f: FieldDef, value: Any) -> Any:
        return value

    def parse_bound(self, f: FieldDef, raw: Any) -> Any:
        """A `min`/`max` bound as written in the blueprint (or its stored JSON document).

        Numbers by default; raises `ValueError` with a message naming the value."""
        if isinstance(raw, float):
            try:
                return parse_json_number(raw)
            except ValueError:
                pass
        elif isinstance(raw, str):
            try:
                return parse_number_text(raw)
            except ValueError:
                pass
        elif isinstance(raw, int | Decimal) and not isinstance(raw, bool) and Decimal(raw).is_finite():
            return Decimal(raw)
        raise ValueError(f"{show_bound(raw)} is not a number")

    def show_bound(self, f: FieldDef, bound: Any) -> str:
        """A parsed bound as it appears in messages and in the JSON Schema."""
        return str(bound)

    def check_definition(self, f: FieldDef) -> list[tuple[str, str, str]]:
        """Type-specific blueprint checks: (key, message, code) triples."""
        return []

    def describe(self) -> str:
        return (self.__doc__ or self.name).strip().splitlines()[0]


def unindexable(f: FieldDef) -> list[tuple[str, str, str]]:
    """Problems for `unique`/`index` on a field type whose column cannot carry a database index."""
    return [
        (
            key,
            f"'{key}' does not apply to {'an' if f.type[0] in 'aeiou' else 'a'} {f.type} field",
            "field.option_not_applicable",
        )
        for key, on in (("unique", f.unique), ("index", f.indexed))
        if on
    ]


def show_bound(raw: Any) -> str:
    """A blueprint value as its author wrote it, for messages about bounds."""
    if isinstance(raw, str):
        return f"'{raw}'"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if hasattr(raw, "isoformat"):
        return f"'{raw.isoformat()}'"
    if isinstance(raw, dict):
        return "a mapping"
    if isinstance(raw, list):
        return "a list"
    return str(raw)
