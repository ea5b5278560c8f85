"""Small dict- and table-backed implementations of the expression protocols, for tests and tools.

The store implements the same protocols over the blueprint and real tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Table

from engine.expr.types import FieldInfo, RecordView, SqlCollection, TypeScope


@dataclass
class DictScope:
    """Fields by name; `related` are lookups (`account.industry`), `collections` child items."""

    fields: Mapping[str, FieldInfo]
    related: Mapping[str, DictScope] = field(default_factory=dict)
    collections: Mapping[str, DictScope] = field(default_factory=dict)

    def field(self, path: tuple[str, ...]) -> FieldInfo | None:
        if len(path) == 1:
            return self.fields.get(path[0])
        target = self.related.get(path[0])
        return target.field(path[1:]) if target is not None else None

    def names(self, prefix: tuple[str, ...]) -> Sequence[str]:
        if not prefix:
            return sorted({*self.fields, *self.related})
        target = self.related.get(prefix[0])
        return target.names(prefix[1:]) if target is not None else []

    def collection(self, name: str) -> TypeScope | None:
        return self.collections.get(name)


@dataclass
class DictRecord:
    """A record as a dict; a lookup's value is another `DictRecord` (or None)."""

    values: Mapping[str, Any]
    children: Mapping[str, Sequence[DictRecord]] = field(default_factory=dict)
    before: Mapping[str, Any] = field(default_factory=dict)

    def value(self, path: tuple[str, ...]) -> Any:
        v = self.values.get(path[0])
        if len(path) == 1:
            return v
        return v.value(path[1:]) if isinstance(v, DictRecord) else None

    def items(self, collection: str) -> Iterable[RecordView]:
        return self.children.get(collection, ())

    def previous(self, path: tuple[str, ...]) -> Any:
        return self.before.get(path[0])


@dataclass
class TableScope:
    """SQL for one table: columns by field name; `related` lookups as (fk column, target scope);
    `collections` as (child scope, the child's column pointing back at this table)."""

    table: Any
    dialect_name: str
    related: Mapping[str, tuple[str, TableScope]] = field(default_factory=dict)
    collections: Mapping[str, tuple[TableScope, str]] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.dialect_name

    def column(self, path: tuple[str, ...]) -> ColumnElement[Any]:
        if len(path) == 1:
            col: ColumnElement[Any] = self.table.c[path[0]]
            return col
        fk, target = self.related[path[0]]
        alias = target.table.alias()
        inner = TableScope(alias, self.dialect_name, target.related, target.collections)
        query = sa.select(inner.column(path[1:])).where(alias.c.id == self.table.c[fk])
        return query.scalar_subquery()

    def collection(self, name: str) -> SqlCollection:
        child, back = self.collections[name]
        alias = child.table.alias()
        items = TableScope(alias, self.dialect_name, child.related, child.collections)
        return SqlCollection(alias, alias.c[back] == self.table.c.id, items)


def table_scope(table: Table, dialect: str, **kw: Any) -> TableScope:
    return TableScope(table, dialect, **kw)
