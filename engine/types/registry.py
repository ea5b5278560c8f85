"""The field-type registry. Built-in types register the same way an extension would."""

from __future__ import annotations

from collections.abc import Iterator

from engine.types import choices, formula, relations, scalars
from engine.types.base import FieldType

BUILTIN_TYPES: tuple[type[FieldType], ...] = (
    scalars.Text,
    scalars.LongText,
    scalars.Integer,
    scalars.DecimalType,
    scalars.Currency,
    scalars.Percent,
    scalars.Boolean_,
    scalars.Date_,
    scalars.DateTime_,
    choices.Select,
    choices.MultiSelect,
    scalars.Email,
    scalars.Phone,
    scalars.Url,
    relations.Lookup,
    relations.User,
    relations.Autonumber,
    relations.ChildTable,
    relations.Attachment,
    formula.Formula,
)


class TypeRegistry:
    """Field types by name; one instance lives on each engine, never at module level."""

    def __init__(self) -> None:
        self._types: dict[str, FieldType] = {}

    @classmethod
    def with_builtins(cls) -> TypeRegistry:
        reg = cls()
        for t in BUILTIN_TYPES:
            reg.register(t())
        return reg

    def register(self, field_type: FieldType) -> None:
        if field_type.name in self._types:
            raise ValueError(f"field type '{field_type.name}' is already registered")
        self._types[field_type.name] = field_type

    def __getitem__(self, name: str) -> FieldType:
        return self._types[name]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)
