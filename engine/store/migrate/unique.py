"""Duplicate values that block a new unique index, counted before anything is changed.

A unique index added over existing data fails if two records share its values. The plan counts
them with one GROUP BY on the table as stored (under its old name and old column names when the
same plan renames them); a column the plan adds holds its default (or NULL) in every record.
Records with a NULL in any indexed column never conflict (both databases allow repeated NULLs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from engine.blueprint.diff import AddField, AddIndex, AddOwner, Op, RenameField, RenameObject

#: How many duplicated values a plan shows (the counts are always complete).
SHOWN_DUPLICATES = 5
#: How many record ids a plan shows for each duplicated value, so they can be found and fixed.
SHOWN_IDS = 5


@dataclass(frozen=True)
class Duplicates:
    """Values that more than one record holds in the columns of a new unique index."""

    index: str
    object: str
    columns: tuple[str, ...]
    values: int
    rows: int
    examples: tuple[tuple[tuple[Any, ...], int], ...]
    #: The first record ids holding each example (in `examples` order), at most `SHOWN_IDS` each.
    example_ids: tuple[tuple[int, ...], ...] = ()

    @property
    def headline(self) -> str:
        return (
            f"unique index {self.index} on {self.object}({', '.join(self.columns)}): "
            f"{self.values} duplicated values in {self.rows} records"
        )

    def example_lines(self) -> list[str]:
        ids = self.example_ids or ((),) * len(self.examples)
        lines = [
            f"{_shown(values)} in {count} records{_ids(held, count)}"
            for (values, count), held in zip(self.examples, ids, strict=True)
        ]
        if self.values > len(self.examples):
            lines.append(f"... and {self.values - len(self.examples)} more")
        return lines


class DuplicateCounter:
    """Knows where each index column of the plan is stored now, and counts repeated values there."""

    def __init__(self, conn: Connection, tables: set[str], ops: Sequence[Op]) -> None:
        self.conn = conn
        self.tables = tables
        self.stored_table = {op.new: op.old for op in ops if isinstance(op, RenameObject)}
        self.stored_column: dict[tuple[str, str], str] = {}
        #: (object, column) -> the value every existing record gets (None: NULL)
        self.added: dict[tuple[str, str], Any] = {}
        for op in ops:
            if isinstance(op, RenameField) and op.old.column and op.new.column:
                self.stored_column[(op.object, op.new.column)] = op.old.column
            elif isinstance(op, AddField) and op.field.column:
                self.added[(op.object, op.field.column)] = op.field.default
            elif isinstance(op, AddOwner):
                self.added[(op.object, "owner_id")] = None

    def count(self, op: AddIndex) -> Duplicates | None:
        """The duplicates that would make `op` fail, or None (not unique, no table yet, no repeats)."""
        table = self.stored_table.get(op.object, op.object)
        if not op.unique or table not in self.tables:
            return None
        stored: list[str] = []
        constant: dict[str, Any] = {}
        for column in op.columns:
            if (op.object, column) in self.added:
                constant[column] = self.added[(op.object, column)]
            else:
                stored.append(self.stored_column.get((op.object, column), column))
        if any(value is None for value in constant.values()):
            return None
        if not stored:  # every column is new: all records get the same values
            rows = int(self.conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())
            values = tuple(constant[c] for c in op.columns)
            ident: sa.ColumnClause[Any] = sa.column("id")
            first = sa.select(ident).select_from(sa.table(table, ident)).order_by(ident).limit(SHOWN_IDS)
            held = tuple(int(i) for i in self.conn.execute(first).scalars())
            return Duplicates(op.name, op.object, op.columns, 1, rows, ((values, rows),), (held,)) if rows > 1 else None
        cols: list[sa.ColumnClause[Any]] = [sa.column(c) for c in stored]
        n = sa.func.count().label("n")
        groups = (
            sa.select(*cols, n)
            .select_from(sa.table(table, *cols))
            .where(*(c.is_not(None) for c in cols))
            .group_by(*cols)
            .having(sa.func.count() > 1)
        )
        sub = groups.subquery()
        values, rows = self.conn.execute(sa.select(sa.func.count(), sa.func.sum(sub.c.n))).one()
        if not values:
            return None
        shown = self.conn.execute(groups.order_by(n.desc(), *cols).limit(SHOWN_DUPLICATES)).all()
        examples = tuple((self._values(op, stored, row, constant), int(row[-1])) for row in shown)
        holders = self._holders(table, stored, [tuple(row[: len(stored)]) for row in shown])
        return Duplicates(op.name, op.object, op.columns, int(values), int(rows), examples, holders)

    def _holders(self, table: str, stored: list[str], keys: list[tuple[Any, ...]]) -> tuple[tuple[int, ...], ...]:
        """The first ids holding each key, in one scan (numbered per key by a window function)."""
        cols: list[sa.ColumnClause[Any]] = [sa.column(c) for c in stored]
        ident: sa.ColumnClause[Any] = sa.column("id")
        target = cols[0] if len(cols) == 1 else sa.tuple_(*cols)
        rank = sa.func.row_number().over(partition_by=cols, order_by=ident).label("rank")
        inner = (
            sa.select(ident, *cols, rank)
            .select_from(sa.table(table, ident, *cols))
            .where(target.in_([k[0] if len(cols) == 1 else k for k in keys]))
            .subquery()
        )
        found: dict[tuple[Any, ...], list[int]] = {}
        rows = self.conn.execute(sa.select(inner).where(inner.c.rank <= SHOWN_IDS).order_by(inner.c.id))
        for row in rows:
            found.setdefault(tuple(row[1 : 1 + len(cols)]), []).append(int(row[0]))
        return tuple(tuple(found.get(k, ())) for k in keys)

    def _values(self, op: AddIndex, stored: list[str], row: Sequence[Any], constant: dict[str, Any]) -> tuple[Any, ...]:
        """The index's values in its column order, from a row of the stored columns and the constants."""
        by_stored = dict(zip(stored, row[: len(stored)], strict=True))
        return tuple(
            constant[c] if c in constant else by_stored[self.stored_column.get((op.object, c), c)] for c in op.columns
        )


def _ids(held: tuple[int, ...], count: int) -> str:
    if not held:
        return ""
    more = ", ..." if count > len(held) else ""
    return f" (id{'s' * (len(held) > 1)} {', '.join(map(str, held))}{more})"


def _shown(values: tuple[Any, ...]) -> str:
    text = ", ".join(repr(v) for v in values)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"({text})" if len(values) > 1 else text
