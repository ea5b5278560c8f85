"""A migration plan: the operations, the SQL each emits here, and what each would lose or fail on.

Planning only reads the database: SQL is rendered by alembic in offline mode, lost values are
counted with real queries, type changes are dry-run over every stored value, and values that
would break a new unique index are counted (such a plan is refused before anything changes).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, Connection, MetaData, Table
from sqlalchemy import inspect as sa_inspect

from engine.blueprint.diff import (
    AddIndex,
    AlterField,
    ChangeFieldType,
    ChangeOnDelete,
    DropField,
    DropObject,
    DropOwner,
    Op,
    RenameObject,
    diff,
)
from engine.blueprint.model import App
from engine.store.database import Database
from engine.store.migrate import formulas
from engine.store.migrate.convert import (
    ConversionFailure,
    DryRun,
    count_rows,
    count_values,
    dry_run,
    narrowing_conversion,
    type_conversion,
)
from engine.store.migrate.formulas import ComputeFormula, formula_ops
from engine.store.migrate.schema import SchemaWriter, run_ops
from engine.store.migrate.stored import (
    StoreRules,
    document_text,
    existing_tables,
    latest_blueprint,
    missing_system_columns,
    system_metadata,
)
from engine.store.migrate.unique import DuplicateCounter, Duplicates
from engine.store.tables import build_metadata
from engine.types.registry import TypeRegistry


@dataclass(frozen=True)
class PlannedStep:
    """One operation with its SQL on this database and what it would lose or fail on."""

    op: Op
    sql: tuple[str, ...]
    losses: tuple[str, ...] = ()
    failures: tuple[ConversionFailure, ...] = ()
    failure_count: int = 0
    duplicates: Duplicates | None = None
    #: Existing records a formula is computed for.
    computes: int = 0

    @property
    def blocked(self) -> bool:
        """The step cannot run on the data as it is (values fail to convert, or repeat in a unique index)."""
        return bool(self.failure_count or self.duplicates)


@dataclass(frozen=True)
class MigrationPlan:
    """Everything `apply_plan` will do, computed without changing the database."""

    dialect: str
    old: App | None
    new: App
    base_id: int | None
    system_tables: tuple[str, ...]
    system_sql: tuple[str, ...]
    steps: tuple[PlannedStep, ...]
    document_changed: bool
    types: TypeRegistry = field(compare=False, repr=False, default_factory=TypeRegistry.with_builtins)
    system_columns: tuple[tuple[str, str], ...] = ()

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(s.op for s in self.steps)

    @property
    def empty(self) -> bool:
        """Nothing to change in the schema (the stored document may still be updated)."""
        return not self.steps and not self.system_tables and not self.system_columns

    @property
    def destructive(self) -> bool:
        return any(s.op.destructive for s in self.steps)

    @property
    def failures(self) -> tuple[ConversionFailure, ...]:
        return tuple(f for s in self.steps for f in s.failures)

    @property
    def failure_count(self) -> int:
        return sum(s.failure_count for s in self.steps)

    @property
    def duplicates(self) -> tuple[Duplicates, ...]:
        return tuple(s.duplicates for s in self.steps if s.duplicates)

    @property
    def sql(self) -> tuple[str, ...]:
        return self.system_sql + tuple(line for s in self.steps for line in s.sql)

    def render(self) -> str:
        """Readable text: one line per operation, its losses and failures, then its SQL."""
        applied = f"{self.old.name} {self.old.version}" if self.old else "nothing yet"
        lines = [f"Plan for {self.new.name} {self.new.version} on {self.dialect} (applied: {applied})"]
        if self.system_tables:
            lines.append(f"  + create system tables {', '.join(self.system_tables)}")
        if self.system_columns:
            lines.append(f"  + add system columns {', '.join(f'{t}.{c}' for t, c in self.system_columns)}")
        for step in self.steps:
            lines.append(f"  {_mark(step)} {step.op.describe()}")
            lines += [f"      would lose {loss}" for loss in step.losses]
            if isinstance(step.op, ComputeFormula):
                lines.append(f"      computes {_records(step.computes)}, {formulas.BATCH} at a time")
            if step.failure_count:
                lines.append(f"      {step.failure_count} stored values cannot be converted:")
                lines += [f"        {failure}" for failure in step.failures]
                if step.failure_count > len(step.failures):
                    lines.append(f"        ... and {step.failure_count - len(step.failures)} more")
            if step.duplicates:
                dup = step.duplicates
                lines.append(f"      {dup.values} duplicated values in {dup.rows} records block it:")
                lines += [f"        {line}" for line in dup.example_lines()]
            lines += ["      " + row.rstrip() for stmt in step.sql for row in _terminated(stmt).splitlines()]
        lines.append(self._summary())
        return "\n".join(lines)

    def _summary(self) -> str:
        if self.empty:
            return "Nothing to change." + (" (The stored blueprint document will be updated.)" * self.document_changed)
        n_destructive = sum(s.op.destructive for s in self.steps)
        out = f"{len(self.steps)} operations, {n_destructive} destructive"
        if n_destructive:
            out += " (need --allow-destructive)"
        if self.failure_count:
            out += f"; {self.failure_count} values cannot be converted: fix them first"
        if self.duplicates:
            out += f"; {len(self.duplicates)} unique indexes blocked by duplicated values: fix them first"
        return out + "."


def plan_migration(db: Database, new_app: App, types: TypeRegistry) -> MigrationPlan:
    """The plan that brings the database's schema from its applied blueprint to `new_app`."""
    with db.read() as conn:
        applied = latest_blueprint(conn, types)
        rules = StoreRules(types)
        ops: list[Op] = diff(applied.app, new_app, indexes=rules.indexes, max_length=rules.max_length)
        ops += formula_ops(applied.app, new_app, ops, types)
        tables = existing_tables(conn)
        missing = tuple(name for name in system_metadata().tables if name not in tables)
        renderer = _SqlRenderer(conn, db.dialect, types, build_metadata(new_app, types), tables, ops)
        columns = missing_system_columns(conn, tables)
        system_sql = renderer.capture(lambda w: _system_changes(w, missing, columns))
        assessor = _Assessor(conn, types)
        counter = DuplicateCounter(conn, tables, ops)
        steps = [
            PlannedStep(
                op,
                sql,
                *assessor.assess(op),
                counter.count(op) if isinstance(op, AddIndex) else None,
                count_rows(conn, op.old_object) if isinstance(op, ComputeFormula) else 0,
            )
            for op, sql in renderer.render_ops()
        ]
    return MigrationPlan(
        dialect=db.dialect,
        old=applied.app,
        new=new_app,
        base_id=applied.row_id,
        system_tables=missing,
        system_sql=system_sql,
        steps=tuple(steps),
        document_changed=applied.document != document_text(new_app),
        types=types,
        system_columns=columns,
    )


def _system_changes(writer: SchemaWriter, tables: tuple[str, ...], columns: tuple[tuple[str, str], ...]) -> None:
    """Create missing system tables, then add columns that system tables gained since they were made."""
    writer.create_tables(tables)
    writer.add_pending_foreign_keys()
    writer.add_columns(columns)


class _SqlRenderer:
    """Runs the schema writer in alembic's offline mode and collects the SQL of each op."""

    def __init__(
        self,
        conn: Connection,
        dialect: str,
        types: TypeRegistry,
        target: MetaData,
        tables: set[str],
        ops: list[Op],
    ) -> None:
        self.conn = conn
        self.ops = ops
        self.buffer = io.StringIO()
        opts: dict[str, Any] = {"as_sql": True, "output_buffer": self.buffer, "literal_binds": True}
        context = MigrationContext.configure(dialect_name=dialect, opts=opts)
        self.writer = SchemaWriter(
            Operations(context), types, target, tables, self._copy_source, self._foreign_key_name
        )
        self.renamed = {op.new: op.old for op in ops if isinstance(op, RenameObject)}

    def capture(self, emit: Callable[[SchemaWriter], None]) -> tuple[str, ...]:
        emit(self.writer)
        return self._take()

    def render_ops(self) -> list[tuple[Op, tuple[str, ...]]]:
        out: list[tuple[Op, tuple[str, ...]]] = []
        run_ops(self.writer, self.ops, lambda op: out.append((op, self._take())))
        return out

    def _take(self) -> tuple[str, ...]:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate(0)
        parts = (part.strip() for part in text.split("\n\n"))
        return tuple(part.removesuffix(";") for part in parts if part)

    def _copy_source(self, name: str, overrides: Sequence[Column[Any]] = ()) -> Table | None:
        """The table as stored now (under its old name if this plan renames it), with columns replaced."""
        stored = self.renamed.get(name, name)
        table = Table(stored, MetaData(), *overrides, autoload_with=self.conn)
        return table if stored == name else table.to_metadata(MetaData(), name=name)

    def _foreign_key_name(self, name: str, column: str) -> str | None:
        """The name of the stored foreign key on `column` of the table stored as (or renamed to) `name`."""
        stored = self.renamed.get(name, name)
        for fk in sa_inspect(self.conn).get_foreign_keys(stored):
            if fk["constrained_columns"] == [column] and fk.get("name"):
                return str(fk["name"])
        return None


class _Assessor:
    """Counts what destructive ops would lose and dry-runs conversions, on the current data."""

    def __init__(self, conn: Connection, types: TypeRegistry) -> None:
        self.conn = conn
        self.types = types

    def assess(self, op: Op) -> tuple[tuple[str, ...], tuple[ConversionFailure, ...], int]:
        if isinstance(op, DropObject):
            rows = count_rows(self.conn, op.obj.name)
            return ((f"{rows} {op.obj.name} records",) if rows else ()), (), 0
        if isinstance(op, DropOwner):
            rows, values = count_values(self.conn, op.object, "owner_id")
            return ((f"the owner of {values} records (of {rows} {op.object} records)",) if values else ()), (), 0
        if isinstance(op, DropField) and op.field.column:
            rows, values = count_values(self.conn, op.object, op.field.column)
            return ((f"{values} values (of {rows} {op.object} records)",) if values else ()), (), 0
        if isinstance(op, ChangeFieldType):
            run = self._dry_run(op.old_object, op, type_conversion(self.types, op))
            return (), run.failures, run.failure_count
        if isinstance(op, AlterField):
            convert = narrowing_conversion(op)
            if convert is None:
                return (), (), 0
            run = self._dry_run(op.old_object, op, convert)
            return ((f"{run.changed} values, which would be {_how(op)}",) if run.changed else ()), (), 0
        return (), (), 0

    def _dry_run(self, table: str, op: ChangeFieldType | AlterField, convert: Callable[[Any], Any]) -> DryRun:
        sql_type = self.types[op.old.type].sql_type(op.old)
        return dry_run(self.conn, (table, op.old), sql_type, convert)


def _mark(step: PlannedStep) -> str:
    """x: cannot run on this data; !: destructive; ~: changes behaviour or values in place; +: additive."""
    if step.blocked:
        return "x"
    if step.op.destructive:
        return "!"
    return "~" if isinstance(step.op, ChangeOnDelete | ComputeFormula) else "+"


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def _terminated(statement: str) -> str:
    return statement if statement.startswith("--") else statement + ";"


def _how(op: AlterField) -> str:
    parts = []
    if op.narrows_length:
        parts.append(f"cut to {op.new_length} characters")
    if op.old_scale != op.new_scale:
        parts.append(f"rounded to {op.new_scale} places")
    if op.removed_options:
        parts.append(f"cleared of removed options {', '.join(op.removed_options)}")
    return " or ".join(parts)
