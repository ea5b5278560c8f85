"""Stored formulas that read a changed record elsewhere are recomputed in the same transaction.

A write notes in a `Journal` the rows it created, changed and deleted. `Cascade.propagate` then
finds every stored formula that reads them (through lookups, collections of related records or
child lines, virtual formulas, other stored formulas: `engine.store.dependencies`), the rows that
reach the changed ones, and recomputes those set-based: the rows are locked in one statement, the
formula's SQL is evaluated over all of them in one SELECT, and the rows whose value changed are
written by one UPDATE (executemany) with one history row per changed value (action `recompute`,
the acting user). Their changes are followed in turn, lowest formula rank first, so a chain of
formulas is recomputed once each. `version` and `updated_at` stay: they count the record's own
edits, so a client's If-Match is not refused because a record it reads changed. Rules of the
recomputed records are not checked: they are checked when the record itself is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, select, update

from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.expr import to_sql
from engine.store import history
from engine.store.computed import TableScope, reads_clock
from engine.store.dependencies import Dependents, Read, build_dependents, link_columns

if TYPE_CHECKING:
    from engine.store.computed import ObjectLogic
    from engine.store.records import Store

#: Rows recomputed per SELECT (and ids per IN list).
CHUNK = 500


@dataclass
class Change:
    """Rows of one object that changed: which fields (None: all), and the records their link
    columns pointed at before and after (collections over them change too).

    `settled`: written by the user's write, which computed their own formulas and their parent's
    formulas over its lines. `created`: the rows are new. `gone`: the rows were deleted."""

    obj: str
    ids: set[int] = field(default_factory=set)
    fields: set[str] | None = field(default_factory=set)
    links: dict[str, set[int]] = field(default_factory=dict)
    settled: bool = True
    created: bool = False
    gone: bool = False


class Journal:
    """What one write transaction changed, row by row, merged by object."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._changes: dict[tuple[str, bool, bool, bool], Change] = {}
        self._links: dict[str, tuple[str, ...]] = {}

    def created(self, obj: ObjectDef, rows: Iterable[Mapping[str, Any]], *, settled: bool = True) -> None:
        """New rows (restored ones with `settled=False`: their formulas are recomputed)."""
        for row in rows:
            self._note(obj, row, None, settled=settled, created=True)

    def updated(self, obj: ObjectDef, before: Mapping[str, Any], changes: Mapping[str, Any], *, settled: bool) -> None:
        if changes:
            self._note(obj, {**before, **changes}, set(changes), settled=settled, before=before)

    def deleted(self, obj: ObjectDef, rows: Iterable[Mapping[str, Any]], *, settled: bool) -> None:
        for row in rows:
            self._note(obj, row, None, settled=settled, gone=True)

    def relinked(self, obj: ObjectDef, ids: Iterable[int], column: str, target: int) -> None:
        """A lookup of `ids` was cleared or set again to `target` (the trash's `set_null`)."""
        for i in ids:
            self._note(obj, {"id": i, column: target}, {column}, settled=False)

    def take(self) -> list[Change]:
        changes = list(self._changes.values())
        self._changes = {}
        return changes

    def _note(
        self,
        obj: ObjectDef,
        row: Mapping[str, Any],
        fields: set[str] | None,
        *,
        settled: bool,
        created: bool = False,
        gone: bool = False,
        before: Mapping[str, Any] | None = None,
    ) -> None:
        key = (obj.name, settled, created, gone)
        change = self._changes.setdefault(key, Change(obj.name, settled=settled, created=created, gone=gone))
        change.ids.add(int(row["id"]))
        if change.fields is not None:
            change.fields = None if fields is None else change.fields | fields
        if obj.name not in self._links:
            self._links[obj.name] = link_columns(self.app, obj)
        for column in self._links[obj.name]:
            for source in (row, before or {}):
                if source.get(column) is not None:
                    change.links.setdefault(column, set()).add(int(source[column]))


class Cascade:
    """The stored formulas of one app that read other records, and how to recompute them."""

    def __init__(self, store: Store, logic: Mapping[str, ObjectLogic]) -> None:
        self.store = store
        self.dependents: Dependents = build_dependents(store.app, logic)
        self._formulas = {(o, f.name): (f, c) for o, lg in logic.items() for f, c in lg.stored}
        self._sql: dict[tuple[str, str], ColumnElement[Any]] = {}

    def may_change(self, obj: ObjectDef) -> bool:
        """Whether a write of another record can change a stored formula of `obj`."""
        return self.dependents.remote(obj.name)

    def propagate(self, conn: Connection, journal: Journal, actor: int | None, now: datetime) -> None:
        """Recompute every stored formula that reads what `journal` noted, and what that changes."""
        changes = journal.take()
        if not self.dependents.readers or not changes:
            return
        pending: dict[tuple[str, str], list[set[int] | Select[Any]]] = {}
        while True:
            for change in changes:
                self._schedule(change, pending)
            if not pending:
                return
            rank = min(self.dependents.rank[key] for key in pending)
            due: dict[str, dict[str, list[set[int] | Select[Any]]]] = {}
            for key in [k for k in pending if self.dependents.rank[k] == rank]:
                due.setdefault(key[0], {})[key[1]] = pending.pop(key)
            changes = []
            for obj_name, formulas in due.items():
                obj = self.store.app.object(obj_name)
                ids = self.lock(conn, obj, [r for reached in formulas.values() for r in reached])
                found = self.recompute(conn, obj, sorted(formulas), ids, actor=actor, now=now)
                if found is not None:
                    changes.append(found)

    def _schedule(self, change: Change, pending: dict[tuple[str, str], list[set[int] | Select[Any]]]) -> None:
        if change.created and not change.settled:  # restored: every formula of the rows again
            for f, _ in self.store.logic[change.obj].stored:
                pending.setdefault((change.obj, f.name), []).append(set(change.ids))
        for read in self.dependents.readers.get(change.obj, ()):
            if _triggers(self.store.app, read, change):
                reached = _reach(self.store, read, change)
                if reached:
                    pending.setdefault(read.formula, []).extend(reached)

    def lock(self, conn: Connection, obj: ObjectDef, reached: Sequence[set[int] | Select[Any]]) -> list[int]:
        """The ids reached, locked on PostgreSQL before their values are read (a concurrent write
        of one of them is waited for, then seen), in id order (writers rarely wait in a circle)."""
        table = self.store.tables[obj.name]
        ids: set[int] = set()
        for part in reached:
            found = part if isinstance(part, set) else conn.execute(part).scalars()
            ids.update(int(i) for i in found if i is not None)
        if conn.dialect.name != "postgresql":
            return sorted(ids)  # the SQLite writer holds the database lock
        locked: list[int] = []
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            stmt = select(table.c.id).where(table.c.id.in_(ordered[start : start + CHUNK])).order_by(table.c.id)
            # FOR NO KEY UPDATE: records being created that point here hold a key-share lock on it
            locked += [int(i) for i in conn.execute(stmt.with_for_update(of=table, key_share=True)).scalars()]
        return locked

    def recompute(
        self,
        conn: Connection,
        obj: ObjectDef,
        formulas: Sequence[str],
        ids: Sequence[int],
        *,
        actor: int | None,
        now: datetime,
        record_history: bool = True,
    ) -> Change | None:
        """Evaluate `formulas` of `obj` in SQL over the rows `ids` and store the values that
        changed (with history rows unless `record_history` is false); what changed, or None."""
        table = self.store.tables[obj.name]
        defs = [self._formulas[(obj.name, name)][0] for name in formulas]
        links = link_columns(self.store.app, obj)
        new = [self._formula_sql(obj, f).label(f"new_{i}") for i, f in enumerate(defs)]
        columns = [str(f.column) for f in defs]
        read = [table.c[c] for c in dict.fromkeys([*columns, *links])]
        change = Change(obj.name, settled=False, fields=set())
        for start in range(0, len(ids), CHUNK):
            stmt = select(table.c.id, *read, *new).where(table.c.id.in_(list(ids[start : start + CHUNK])))
            written: dict[frozenset[str], list[dict[str, Any]]] = {}
            notes: list[dict[str, Any]] = []
            for row in conn.execute(stmt).mappings():
                moved = {c: row[f"new_{i}"] for i, c in enumerate(columns) if row[f"new_{i}"] != row[c]}
                if not moved:
                    continue
                record_id = int(row["id"])
                written.setdefault(frozenset(moved), []).append({"row_id": record_id, **moved})
                change.ids.add(record_id)
                change.fields = {*(change.fields or ()), *moved}
                for column in links:
                    if row[column] is not None:
                        change.links.setdefault(column, set()).add(int(row[column]))
                if record_history:
                    notes += history.record_changed(
                        self.store.codec, obj.name, record_id, dict(row), moved, actor, now, action="recompute"
                    )
            history.write(conn, self.store.history_table, notes)
            for cols, values in written.items():
                stmt_update = (
                    update(table)
                    .where(table.c.id == bindparam("row_id"))
                    .values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in sorted(cols)})
                )
                conn.execute(stmt_update, [{"row_id": v["row_id"], **{f"v_{c}": v[c] for c in cols}} for v in values])
        return change if change.ids else None

    def _formula_sql(self, obj: ObjectDef, f: FieldDef) -> ColumnElement[Any]:
        """The formula over the object's own table, as its column would hold it."""
        key = (obj.name, f.name)
        if key in self._sql:
            return self._sql[key]
        compiled = self._formulas[key][1]
        scope = TableScope(self.store, obj, self.store.tables[obj.name])
        sql = to_sql(compiled.typed, scope, places=self.store.types["formula"].places(f))
        if not reads_clock(compiled.typed):
            self._sql[key] = sql
        return sql


def _triggers(app: App, read: Read, change: Change) -> bool:
    """Whether `change` can change what formula `read.formula` reads along `read.route`."""
    last = read.last
    if change.gone:  # a deleted record leaves the collections it was in (lookups to it are cleared apart)
        return last is not None and last.kind == "items"
    if change.settled:
        if last is None:
            return False  # the write computed the record's own formulas
        if len(read.route) == 1 and last.kind == "items" and app.object(last.target).parent == last.source:
            return False  # ... and its parent's formulas over its lines
        if change.created and last.kind == "lookup":
            return False  # nothing pointed at a record before the write that created it
    if change.created and last is not None and last.kind == "items":
        return True
    return change.fields is None or bool(change.fields & read.fields)


def _reach(store: Store, read: Read, change: Change) -> list[set[int] | Select[Any]]:
    """Ids of the formula's records that reach the changed rows, walked back along the route: sets
    of ids, or queries giving them (each with at most `CHUNK` ids bound)."""
    tables = store.tables
    last = read.last
    start = change.links.get(last.column, set()) if last is not None and last.kind == "items" else change.ids
    found: list[set[int] | Select[Any]] = [set(chunk) for chunk in _chunks(start)]
    hops = read.route if last is not None and last.kind == "lookup" else read.route[:-1]
    for hop in reversed(hops):
        if hop.kind == "lookup":
            source = tables[hop.source]
            found = [select(source.c.id).where(source.c[hop.column].in_(_bound(part))) for part in found]
        else:
            items = tables[hop.target]
            found = [select(items.c[hop.column]).where(items.c.id.in_(_bound(part))) for part in found]
    return found


def _chunks(ids: set[int]) -> list[list[int]]:
    ordered = sorted(ids)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


def _bound(part: set[int] | Select[Any]) -> list[int] | Select[Any]:
    return sorted(part) if isinstance(part, set) else part
