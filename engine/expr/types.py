"""Expression types, and the protocols the language needs from the rooms above it.

`engine.expr` knows nothing of blueprints or tables: a `TypeScope` answers what a name means,
a `RecordView` gives values for one record, a `SqlScope` gives SQL for a field path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.sql import FromClause


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    LIST = "list"
    NULL = "null"


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What the language knows about one field (or related path)."""

    kind: Kind
    nullable: bool = True
    #: The field type shown in messages ("currency"); defaults to the kind.
    label: str = ""
    #: Decimal places of a stored number (0 for whole numbers). On SQLite a number with
    #: places is stored as an integer scaled by 10**scale; see `SqlScope.column`.
    scale: int = 0
    #: Longest text the field may hold, when bounded.
    max_length: int | None = None
    #: Kind of the elements of a list field.
    item_kind: Kind | None = None
    #: False when the current user may not read the field: referencing it is an error.
    readable: bool = True
    #: The option ids of a select (or multi-select) field: comparing it with other text is an error.
    options: tuple[str, ...] | None = None
    #: The value changes as time passes (a virtual formula reading now() or today()).
    reads_clock: bool = False

    @property
    def shown(self) -> str:
        return self.label or self.kind.value


class TypeScope(Protocol):
    """The names an expression may use (usually: one object of the blueprint)."""

    def field(self, path: tuple[str, ...]) -> FieldInfo | None:
        """The field at `path` (`("amount",)`, `("account", "industry")`), or None if unknown."""
        ...

    def names(self, prefix: tuple[str, ...]) -> Sequence[str]:
        """Names valid after `prefix` (`()` for the record's own fields), for did-you-mean."""
        ...

    def collection(self, name: str) -> TypeScope | None:
        """The scope of the items of a child or related collection (`lines`), or None."""
        ...


class RecordView(Protocol):
    """Values of one record, for the Python backend."""

    def value(self, path: tuple[str, ...]) -> Any:
        """The value at a field path; None when empty or when a lookup on the way is empty."""
        ...

    def items(self, collection: str) -> Iterable[RecordView]:
        """The child or related records of a collection."""
        ...

    def previous(self, path: tuple[str, ...]) -> Any:
        """The value before the update being checked (None on create)."""
        ...


@dataclass(frozen=True)
class SqlCollection:
    """A correlated collection: rows of `source` where `where` holds, seen through `items`."""

    source: FromClause
    where: ColumnElement[bool]
    items: SqlScope


class SqlScope(Protocol):
    """SQL for field paths of the row being filtered (usually one object's table)."""

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        ...

    def column(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        """The stored value at a field path: a column, or a correlated scalar subquery for a
        related path. On SQLite a decimal is its scaled integer (see `FieldInfo.scale`); a
        computed field (a virtual formula) must hold its value the same way (`to_sql(places=)`)."""
        ...

    def collection(self, name: str) -> SqlCollection:
        """The correlated rows of a child or related collection."""
        ...
