"""Formulas shown live: what a record's stored formulas will be for the values in a form, before
it is saved (line totals, a quote's subtotal and total as the user types).

The formulas are the store's own compiled ones (`store.logic`), run by the Python backend over the
values typed: each line's own formulas first, then the record's, whose collections (`sum(lines,
l.line_total)`) read the lines of the form instead of those stored. Lookups (`product.list_price`)
are read from the database. Nothing is written; the values stored on save are computed again by
the write itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.blueprint.model import ObjectDef
from engine.blueprint.scope import collections_of
from engine.forms.conditions import parse_values
from engine.store.computed import Loader, compute_formulas
from engine.store.records import Store

#: The id a record being entered has while previewed (no stored record has it).
UNSAVED = -1


class PreviewLoader(Loader):
    """A loader whose record `UNSAVED` (or the record being edited) has the form's lines."""

    def __init__(self, store: Store, conn: Any, record_id: int, lines: Mapping[str, list[dict[str, Any]]]) -> None:
        super().__init__(store, conn)
        self.record_id = record_id
        self.lines = lines

    def items(self, obj: ObjectDef, name: str, record_id: int) -> list[Mapping[str, Any]]:
        if record_id == self.record_id and name in self.lines:
            return list(self.lines[name])
        return super().items(obj, name, record_id)


@dataclass
class Preview:
    """Stored formula values by field name, for the record and for each line of each child table."""

    record: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def preview(
    store: Store,
    object_name: str,
    values: Mapping[str, Any],
    lines: Mapping[str, Sequence[Mapping[str, Any]]],
    record_id: int | None = None,
) -> Preview:
    """The stored formulas of `object_name` for `values` (by key, as typed) and the lines of its
    child tables (`lines`: child table field name -> each line's values by key)."""
    obj = store.object(object_name)
    logic = store.logic
    out = Preview()
    parsed_lines: dict[str, list[dict[str, Any]]] = {}
    collections = collections_of(store.app, obj)
    own = record_id if record_id is not None else UNSAVED
    with store.db.read() as conn:
        loader = PreviewLoader(store, conn, own, parsed_lines)
        for f in obj.child_fields:
            if f.target is None or f.name not in lines:
                continue
            child = store.object(f.target)
            rows = []
            for line in lines[f.name]:
                row = parse_values(child, line, store.types)
                if child.parent_column:
                    row[child.parent_column] = own
                compute_formulas(store, loader, child, row, None, aggregates=False)
                rows.append(row)
            out.lines[f.name] = [
                {g.name: row.get(str(g.column)) for g in child.fields if g.type == "formula" and g.column}
                for row in rows
            ]
            if f.name in collections:
                parsed_lines[f.name] = rows
        row = parse_values(obj, values, store.types)
        row["id"] = own
        if not logic[obj.name].empty:
            compute_formulas(store, loader, obj, row, None, aggregates=False)
            compute_formulas(store, loader, obj, row, None, aggregates=True)
        out.record = {g.name: row.get(str(g.column)) for g in obj.fields if g.type == "formula" and g.column}
    return out
