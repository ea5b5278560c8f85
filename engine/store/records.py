"""The record store: create, read, update with optimistic versions, history, for every object.

Every write is one transaction: the row, its child lines, autonumbers and history rows commit
together or not at all. Hooks let higher rooms (forms, workflows) take part without imports:
`before_save` inside the transaction, `after_commit` once it has committed (the contract is in
engine.store.events).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from engine.blueprint.model import App, ObjectDef
from engine.errors import Conflict, FieldProblem, InputInvalid, NotFound
from engine.expr import REQUEST_LIMITS, builtin_functions
from engine.store import autonumber, batch, bulk, events, guard, history, integrity, lines, query, trash
from engine.store.access import ASSIGN, CREATE, DELETE, READ, UPDATE, Access, require
from engine.store.cascade import Cascade, Journal
from engine.store.computed import (
    FilterCache,
    Loader,
    TableScope,
    broken_rules,
    compile_logic,
    compute_formulas,
    reads_clock,
)
from engine.store.conditions import ActingUser, apply_conditions, compile_conditions
from engine.store.database import Database
from engine.store.events import AfterCommit
from engine.store.jsonvalues import RecordCodec
from engine.store.tables import USER_TABLE, build_metadata
from engine.store.values import Coerced, coerce_record, input_fields, missing_parent

#: Called inside the write transaction before a row is stored: (store, conn, object, values, old).
BeforeSave = Callable[["Store", Connection, ObjectDef, dict[str, Any], Mapping[str, Any] | None], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """All record access for one app on one database."""

    def __init__(self, app: App, types: Any, db: Database, *, files_dir: Path | None = None) -> None:
        self.app = app
        self.types = types
        self.db = db
        self.files_dir = files_dir or Path("files")
        self.metadata = build_metadata(app, types)
        self.tables: dict[str, Table] = {o.name: self.metadata.tables[o.name] for o in app.objects}
        self.users = self.metadata.tables[USER_TABLE]
        self.history_table = self.metadata.tables["lw_history"]
        self.trash_table = self.metadata.tables["lw_trash"]
        self.sequences = self.metadata.tables["lw_sequence"]
        self.codec = RecordCodec(app, types)
        self._inputs = {o.name: input_fields(o, types) for o in app.objects}
        self.functions = builtin_functions()
        self.expr_limits = REQUEST_LIMITS  # for expressions sent with requests (filter=)
        self.logic = compile_logic(app, types, self.functions)
        self.conditions = {o.name: compile_conditions(app, o, types, self.functions) for o in app.objects}
        self.cascade = Cascade(self, self.logic)
        self.filters = FilterCache()
        self._virtual_sql: dict[str, dict[str, Any]] = {}
        self.before_save: list[BeforeSave] = []
        self.after_commit: list[AfterCommit] = []

    # -- lookups --------------------------------------------------------------------------------
    def object(self, name: str) -> ObjectDef:
        try:
            return self.app.object(name)
        except KeyError:
            raise NotFound(f"unknown object '{name[:64]}'", code="object.unknown") from None

    # -- reads ----------------------------------------------------------------------------------
    def get(
        self, object_name: str, record_id: int, *, conn: Connection | None = None, access: Access | None = None
    ) -> dict[str, Any]:
        """One record with its child lines; raises NotFound (also when outside the user's scope)."""
        obj = self.object(object_name)
        require(access, obj.name, READ)
        where = guard.rows(self, obj, READ, access)
        if conn is None:
            with self.db.read() as c:
                return guard.shown(self, obj, self._fetch(c, obj, record_id, where=where), access, c)
        return guard.shown(self, obj, self._fetch(conn, obj, record_id, where=where), access, conn)

    def _fetch(
        self,
        conn: Connection,
        obj: ObjectDef,
        record_id: int,
        *,
        lock: bool = False,
        where: ColumnElement[bool] | None = None,
    ) -> dict[str, Any]:
        table = self.tables[obj.name]
        stmt = select(table, *self.virtual_columns(obj, table).values()).where(table.c.id == record_id)
        if where is not None:
            stmt = stmt.where(where)
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=table)
        row = conn.execute(stmt).mappings().first()
        if row is None:
            raise NotFound(f"{obj.name} {record_id} not found", code="record.not_found")
        record = dict(row)
        for f in obj.child_fields:
            record[f.name] = self._children(conn, obj, str(f.target), record_id)
        return record

    def _children(self, conn: Connection, parent: ObjectDef, child: str, parent_id: int) -> list[dict[str, Any]]:
        table = self.tables[child]
        col = table.c[f"{parent.name}_id"]
        rows = conn.execute(select(table).where(col == parent_id).order_by(table.c.position, table.c.id))
        return [dict(r) for r in rows.mappings()]

    def virtual_columns(self, obj: ObjectDef, table: Any) -> dict[str, Any]:
        """Labelled SQL for the object's virtual formulas, computed in the query that reads the rows."""
        virtual = self.logic[obj.name].virtual
        if not virtual:
            return {}
        cacheable = table is self.tables[obj.name]
        if cacheable and obj.name in self._virtual_sql:
            return self._virtual_sql[obj.name]
        scope = TableScope(self, obj, table)
        columns = {name: scope.column((name,)).label(name) for name in virtual}
        # Built once per object for its own table, unless a formula reads the clock (today(), now()).
        if cacheable and not any(reads_clock(c.typed) for c in virtual.values()):
            self._virtual_sql[obj.name] = columns
        return columns

    def history(self, object_name: str, record_id: int, *, access: Access | None = None) -> list[dict[str, Any]]:
        """Every recorded change of a record, oldest first (also after it was deleted: then only
        for the system). Changes of fields hidden from the user are left out."""
        obj = self.object(object_name)
        require(access, obj.name, READ)
        with self.db.read() as conn:
            guard.reach(self, conn, obj, record_id, READ, access)
            rows = history.read(conn, self.history_table, object_name, record_id)
        if access is None:
            return rows
        # History names a field by its column (a lookup's change is `account_id`): hide both forms.
        named = access.hidden(obj.name)
        hidden = named | {str(f.column) for f in obj.fields if f.name in named and f.column}
        return [
            {**r, "old": guard.masked_json(r["old"], hidden), "new": guard.masked_json(r["new"], hidden)}
            for r in rows
            if r["field"] not in hidden
        ]

    # -- creates ---------------------------------------------------------------------------------
    def create(
        self, object_name: str, data: Mapping[str, Any], *, actor: int | None = None, access: Access | None = None
    ) -> dict[str, Any]:
        """Validate and store one record (with child lines); returns it as stored (as the user sees it)."""
        obj = self.object(object_name)
        require(access, obj.name, CREATE)
        guard.check_locked(obj, data, access, ("body",))
        actor = access.actor_id if access is not None else actor
        coerced = self._coerce(obj, data, creating=True)
        try:
            with events.transaction(self) as conn:
                written: list[dict[str, Any]] = []
                record_id = self._insert(conn, obj, [coerced], [("body",)], actor, utcnow(), written, access)[0]
                # A new line changes its parent: it must be one the user may change, not only read.
                reach = CREATE if obj.parent else READ
                guard.in_scope(self, conn, obj, [record_id], reach, access, "owner_id" in coerced.values)
                logic = self.logic[obj.name]
                if obj.child_fields or logic.virtual or logic.has_aggregates or self.cascade.may_change(obj):
                    record = self._fetch(conn, obj, record_id)
                else:  # nothing was computed after the insert: the row as written is the record
                    table = self.tables[obj.name]
                    record = {c.key: written[0].get(c.key) for c in table.c}
        except IntegrityError as exc:
            raise integrity.refusal(self, exc, obj, [coerced.values], [("body",)]) from None
        return guard.shown(self, obj, record, access)

    def create_many(
        self,
        object_name: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        actor: int | None = None,
        access: Access | None = None,
    ) -> list[int]:
        """Store many records at once, all or nothing; problems are located by row index
        (see engine.store.batch). Returns the new ids in the order given."""
        obj = self.object(object_name)
        require(access, obj.name, CREATE)
        actor = access.actor_id if access is not None else actor
        return batch.create_many(self, obj, rows, actor, access)

    def _coerce(self, obj: ObjectDef, data: Mapping[str, Any], *, creating: bool) -> Coerced:
        coerced = coerce_record(obj, data, self.types, creating=creating, by_key=self._inputs[obj.name])
        problems = coerced.problems + self._coerce_children(obj, coerced, ("body",))
        if creating:
            problems += missing_parent(obj, coerced.values, ("body",))
        if problems:
            raise InputInvalid(problems)
        return coerced

    def _coerce_children(self, obj: ObjectDef, coerced: Coerced, loc: tuple[str | int, ...]) -> list[FieldProblem]:
        problems: list[FieldProblem] = []
        for fname, raw_rows in coerced.children.items():
            child = self.app.object(str(obj.field(fname).target))
            parsed = []
            for i, raw in enumerate(raw_rows):
                line_id = raw.get("id")
                body = {k: v for k, v in raw.items() if k != "id"}
                c = coerce_record(
                    child,
                    body,
                    self.types,
                    creating=line_id is None,
                    loc=(*loc, fname, i),
                    by_key=self._inputs[child.name],
                )
                c.values.pop(str(child.parent_column), None)
                if line_id is not None:
                    c.values["id"] = line_id
                problems.extend(c.problems)
                parsed.append(c)
            coerced.children[fname] = [p.values for p in parsed]
        return problems

    def _insert(
        self,
        conn: Connection,
        obj: ObjectDef,
        items: Sequence[Coerced],
        locs: Sequence[tuple[str | int, ...]],
        actor: int | None,
        now: datetime,
        written: list[dict[str, Any]] | None = None,
        access: Access | None = None,
    ) -> list[int]:
        table = self.tables[obj.name]
        rows = []
        for c in items:
            row = {**c.values, "created_at": now, "updated_at": now, "created_by": actor, "version": 1}
            if obj.owned and "owner_id" not in row:
                row["owner_id"] = actor
            rows.append(row)
        integrity.check_rows(self, conn, obj, rows, locs, access)
        if obj.parent:
            lines.append_positions(self, conn, obj, rows)
        self._number(conn, obj, rows, now)
        self._compute(conn, obj, rows, [None] * len(rows), locs, access=access, actor=actor)
        for hook in self.before_save:
            for row in rows:
                hook(self, conn, obj, row, None)
        ids = self._insert_rows(conn, table, rows)
        for row, record_id in zip(rows, ids, strict=True):
            row["id"] = record_id
        history.write(conn, self.history_table, history.record_created(obj.name, ids, actor, now))
        journal = Journal(self.app)
        journal.created(obj, rows)
        for c, record_id, loc in zip(items, ids, locs, strict=True):
            for fname, sent in c.children.items():
                lines.replace_lines(
                    self,
                    conn,
                    obj,
                    fname,
                    record_id,
                    sent,
                    actor,
                    now,
                    creating=True,
                    access=access,
                    parent_loc=loc,
                    journal=journal,
                )
        settle_locs = dict(zip(ids, locs, strict=True))
        self._settle(conn, obj, ids, {}, actor, now, record_history=False, locs=settle_locs, journal=journal)
        self.cascade.propagate(conn, journal, actor, now)
        if written is not None:
            written.extend(rows)
        return ids

    def _compute(
        self,
        conn: Connection,
        obj: ObjectDef,
        rows: Sequence[dict[str, Any]],
        previous: Sequence[Mapping[str, Any] | None],
        locs: Sequence[tuple[str | int, ...]],
        *,
        access: Access | None = None,
        actor: int | None = None,
    ) -> None:
        """Defaults and conditions of conditional fields (engine.store.conditions), local stored
        formulas into `rows`, then local rules; every problem reported at once."""
        problems: list[FieldProblem] = []
        conditions = self.conditions[obj.name]
        if not conditions.empty:
            user = ActingUser(access, actor)
            locked = access.locked(obj.name) if access is not None else frozenset()
            for row, prev, loc in zip(rows, previous, locs, strict=True):
                problems += apply_conditions(conditions, self.types, obj, row, prev, user, loc, locked)
        if self.logic[obj.name].empty:
            if problems:
                raise InputInvalid(problems)
            return
        loader = Loader(self, conn, key_share=all(p is None for p in previous))
        for row, prev, loc in zip(rows, previous, locs, strict=True):
            compute_formulas(self, loader, obj, row, prev, aggregates=False)
            problems += broken_rules(self, loader, obj, row, prev, loc, aggregates=False)
        if problems:
            raise InputInvalid(problems)

    def _settle(
        self,
        conn: Connection,
        obj: ObjectDef,
        ids: Sequence[int],
        previous: Mapping[int, Mapping[str, Any]],
        actor: int | None,
        now: datetime,
        *,
        record_history: bool,
        locs: Mapping[int, tuple[str | int, ...]] | None = None,
        journal: Journal,
    ) -> None:
        """After lines are written: formulas and rules over collections, then the same for the parent
        (for a line moved to another parent, for both). `locs` says where each record's problems are."""
        logic = self.logic[obj.name]
        if not logic.has_aggregates and not obj.parent:
            return
        table = self.tables[obj.name]
        if logic.has_aggregates:  # a concurrent write of its lines is waited for, then summed
            self.cascade.lock(conn, obj, [set(ids)])
        parents: set[int] = set()
        loader = Loader(self, conn)
        problems: list[FieldProblem] = []
        for record_id in ids:
            row = loader.row(obj.name, record_id)
            if row is None:
                continue
            values, prev = dict(row), previous.get(record_id)
            if obj.parent:
                link = f"{obj.parent}_id"
                parents.update(int(r[link]) for r in (row, prev) if r is not None and r.get(link) is not None)
            if not logic.has_aggregates:
                continue
            changed = compute_formulas(self, loader, obj, values, prev, aggregates=True)
            if changed:
                conn.execute(update(table).where(table.c.id == record_id).values(**changed))
                journal.updated(obj, row, changed, settled=True)
                if record_history:
                    rows = history.record_changed(self.codec, obj.name, record_id, row, changed, actor, now)
                    history.write(conn, self.history_table, rows)
            loc = locs.get(record_id, ("body",)) if locs else ("body",)
            problems += broken_rules(self, loader, obj, values, prev, loc, aggregates=True)
        if problems:
            raise InputInvalid(problems)
        if obj.parent and parents:
            parent = self.app.object(obj.parent)
            self._settle(conn, parent, sorted(parents), {}, actor, now, record_history=True, journal=journal)

    @staticmethod
    def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
        if len(rows) == 1:
            return [int(conn.execute(insert(table).returning(table.c.id), rows[0]).scalar_one())]
        # executemany needs one shape: every row carries every key.
        keys = sorted({k for r in rows for k in r})
        full = [{k: r.get(k) for k in keys} for r in rows]
        if conn.dialect.name != "sqlite":
            stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            return [int(i) for i in conn.execute(stmt, full).scalars()]
        # SQLite: the writer holds the database lock (BEGIN IMMEDIATE) and the table is AUTOINCREMENT,
        # so a plain executemany takes the ids right after the sequence's current value.
        before = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table.name}).scalar()
        bulk.insert_many(conn, table, full)
        first = int(before or 0) + 1
        last = int(
            conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table.name}).scalar_one()
        )
        if last - first + 1 != len(rows):
            raise RuntimeError(f"{table.name}: expected {len(rows)} consecutive ids, got {first}..{last}")
        return list(range(first, last + 1))

    def _number(self, conn: Connection, obj: ObjectDef, rows: list[dict[str, Any]], now: datetime) -> None:
        for f in obj.fields:
            if f.type != "autonumber":
                continue
            pattern = self.types["autonumber"].pattern(f)
            for row, number in zip(
                rows,
                autonumber.numbers(conn, self.sequences, f"{obj.name}.{f.name}", pattern, now, len(rows)),
                strict=True,
            ):
                row[f.name] = number

    # -- updates ---------------------------------------------------------------------------------
    def update(
        self,
        object_name: str,
        record_id: int,
        data: Mapping[str, Any],
        *,
        version: int | None = None,
        actor: int | None = None,
        access: Access | None = None,
    ) -> dict[str, Any]:
        """Change some fields. A stale `version` raises Conflict carrying the current record.

        With `access`: a record the user cannot read is NotFound, one they can read but not
        change is Forbidden, locked fields are a 422, and the result must stay in their scope."""
        obj = self.object(object_name)
        require(access, obj.name, UPDATE)
        guard.check_locked(obj, data, access, ("body",))
        actor = access.actor_id if access is not None else actor
        coerced = self._coerce(obj, data, creating=False)
        expected = version if version is not None else coerced.version
        try:
            with events.transaction(self) as conn:
                guard.reach(self, conn, obj, record_id, UPDATE, access)
                current = self._fetch(conn, obj, record_id, lock=True)
                if expected is not None and current["version"] != expected:
                    raise Conflict(
                        f"{obj.name} {record_id} was changed (version {current['version']}, you sent {expected})",
                        code="record.stale",
                        current=guard.shown(self, obj, current, access, conn),
                    )
                # A new owner is the role's decision, never a share's (a share lends, it does not give).
                reassigning = "owner_id" in coerced.values and coerced.values["owner_id"] != current.get("owner_id")
                if reassigning:
                    guard.reach(self, conn, obj, record_id, ASSIGN, access)
                record = self._apply_update(conn, obj, current, coerced, actor, access)
                guard.in_scope(self, conn, obj, [record_id], UPDATE, access, "owner_id" in coerced.values)
                if reassigning:
                    guard.in_scope(self, conn, obj, [record_id], ASSIGN, access, True)
        except IntegrityError as exc:
            raise integrity.refusal(self, exc, obj, [coerced.values], [("body",)], {"id": record_id}) from None
        return guard.shown(self, obj, record, access)

    def _apply_update(
        self,
        conn: Connection,
        obj: ObjectDef,
        current: dict[str, Any],
        coerced: Coerced,
        actor: int | None,
        access: Access | None = None,
    ) -> dict[str, Any]:
        record_id = int(current["id"])
        changes = {k: v for k, v in coerced.values.items() if current.get(k) != v}
        integrity.check_references(self, conn, obj, [changes], [("body",)], access)
        integrity.check_unique(self, conn, obj, [changes], [("body",)], current)
        if obj.parent_column in changes and "position" not in coerced.values:  # a line moved to another parent
            lines.append_positions(self, conn, obj, [changes])
        if not self.logic[obj.name].empty or not self.conditions[obj.name].empty:
            lists = {f.name for f in obj.child_fields}
            merged = {**{k: v for k, v in current.items() if k not in lists}, **changes}
            self._compute(conn, obj, [merged], [current], [("body",)], access=access, actor=actor)
            changes.update({k: v for k, v in merged.items() if k not in current or current[k] != v})
        for hook in self.before_save:
            hook(self, conn, obj, changes, current)
        now = utcnow()
        journal = Journal(self.app)
        lines_changed = False
        for fname, sent in coerced.children.items():
            lines_changed |= lines.replace_lines(
                self, conn, obj, fname, record_id, sent, actor, now, creating=False, access=access, journal=journal
            )
        if not changes and not lines_changed:
            return current
        if not changes:  # only lines changed: still a change of this record for the hooks
            events.note(
                conn, [{"action": "update", "object": obj.name, "record_id": record_id, "actor_id": actor, "at": now}]
            )
        table = self.tables[obj.name]
        stmt = (
            update(table)
            .where(table.c.id == record_id, table.c.version == current["version"])
            .values(**changes, updated_at=now, version=table.c.version + 1)
        )
        if conn.execute(stmt).rowcount != 1:
            raise Conflict(
                f"{obj.name} {record_id} was changed meanwhile",
                code="record.stale",
                current=guard.shown(self, obj, self._fetch(conn, obj, record_id), access, conn),
            )
        history.write(
            conn,
            self.history_table,
            history.record_changed(self.codec, obj.name, record_id, current, changes, actor, now),
        )
        journal.updated(obj, current, changes, settled=True)
        self._settle(conn, obj, [record_id], {record_id: current}, actor, now, record_history=True, journal=journal)
        self.cascade.propagate(conn, journal, actor, now)
        return self._fetch(conn, obj, record_id)

    def set_attachment(
        self,
        object_name: str,
        record_id: int,
        field_name: str,
        meta: dict[str, Any],
        *,
        actor: int | None = None,
        access: Access | None = None,
    ) -> dict[str, Any]:
        """Point an attachment field at stored file metadata (files are saved by engine.store.files)."""
        obj = self.object(object_name)
        require(access, obj.name, UPDATE)
        guard.check_locked(obj, {field_name: meta}, access, ("body",))
        actor = access.actor_id if access is not None else actor
        with events.transaction(self) as conn:
            guard.reach(self, conn, obj, record_id, UPDATE, access)
            current = self._fetch(conn, obj, record_id, lock=True)
            record = self._apply_update(conn, obj, current, Coerced(values={field_name: meta}), actor, access)
        return guard.shown(self, obj, record, access)

    # -- delete, restore, lists (implemented in their own modules) ----------------------------------
    def delete(
        self, object_name: str, record_id: int, *, actor: int | None = None, access: Access | None = None
    ) -> int:
        """Move a record to the trash (see engine.store.trash); returns the trash entry id."""
        obj = self.object(object_name)
        require(access, obj.name, DELETE)
        actor = access.actor_id if access is not None else actor
        return trash.delete_record(self, obj.name, record_id, actor=actor, access=access)

    def restore(
        self, object_name: str, record_id: int, *, actor: int | None = None, access: Access | None = None
    ) -> dict[str, Any]:
        """Put a trashed record back; a user needs delete rights on it (restoring undoes a delete)."""
        obj = self.object(object_name)
        require(access, obj.name, DELETE)
        actor = access.actor_id if access is not None else actor
        record = trash.restore_record(self, obj.name, record_id, actor=actor, access=access)
        return guard.shown(self, obj, record, access)

    def find(
        self, object_name: str, q: query.ListQuery, *, scope: Any = None, access: Access | None = None
    ) -> query.Page:
        return query.list_records(self, object_name, q, scope=scope, access=access)

    def aggregate(
        self, object_name: str, q: query.AggregateQuery, *, scope: Any = None, access: Access | None = None
    ) -> query.Groups:
        return query.aggregate(self, object_name, q, scope=scope, access=access)


def row_dict(row: RowMapping) -> dict[str, Any]:
    return dict(row)
