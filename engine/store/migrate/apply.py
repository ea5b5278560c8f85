"""Apply a migration plan in one transaction: all of it, or nothing.

Both databases run DDL inside a transaction. On SQLite foreign keys are switched off for the
migration's connection (a table rebuild must not fire ON DELETE actions) and checked before commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from engine.blueprint.diff import AddIndex
from engine.errors import MigrationRefused
from engine.store.database import Database
from engine.store.migrate.formulas import compute_formulas
from engine.store.migrate.plan import MigrationPlan
from engine.store.migrate.schema import ConversionFailed, SchemaWriter, run_ops
from engine.store.migrate.stored import (
    existing_tables,
    latest_blueprint,
    missing_system_columns,
    record_blueprint,
    system_metadata,
)
from engine.store.migrate.unique import DuplicateCounter, Duplicates
from engine.store.tables import build_metadata


def refusal(plan: MigrationPlan, *, allow_destructive: bool) -> MigrationRefused | None:
    """Why `plan` may not run as asked, or None."""
    if plan.failure_count:
        details = [str(f) for f in plan.failures]
        if plan.failure_count > len(plan.failures):
            details.append(f"... and {plan.failure_count - len(plan.failures)} more")
        return MigrationRefused(
            f"{plan.failure_count} stored values cannot be converted; fix them first", details=details
        )
    if plan.duplicates:
        return _duplicates_refusal(plan)
    if plan.destructive and not allow_destructive:
        details = []
        for step in plan.steps:
            if step.op.destructive:
                details.append(step.op.describe())
                details += [f"  would lose {loss}" for loss in step.losses]
        return MigrationRefused("the plan is destructive; run again with --allow-destructive", details=details)
    return None


def _duplicates_refusal(plan: MigrationPlan, found: Sequence[Duplicates] | None = None) -> MigrationRefused:
    """The plan's duplicates, or `found` (counted again after the data changed since the plan)."""
    since = "" if found is None else " (the data changed since the plan)"
    found = plan.duplicates if found is None else found
    if len(found) == 1:
        message = f"cannot add {found[0].headline}{since}; fix them first"
    else:
        message = f"cannot add {len(found)} unique indexes over duplicated values{since}; fix them first"
    details: list[str] = []
    for dup in found:
        if len(found) > 1:
            details.append(dup.headline)
        details += [f"  {line}" for line in dup.example_lines()]
    return MigrationRefused(message, details=details)


def apply_plan(
    db: Database,
    plan: MigrationPlan,
    *,
    allow_destructive: bool = False,
    on_recorded: Callable[[Connection], None] | None = None,
) -> None:
    """Run the plan and record the blueprint; raises `MigrationRefused` (nothing changed) when it may not.

    `on_recorded` runs in the migration's transaction right after a new blueprint row is stored
    (not when nothing changed); the CLI writes its audit row there."""
    refused = refusal(plan, allow_destructive=allow_destructive)
    if refused is not None:
        raise refused
    try:
        with _migration_connection(db) as conn:
            _check_base(conn, plan)
            writer = _live_writer(conn, plan)
            writer.create_tables(name for name in system_metadata().tables if name not in writer.existing)
            writer.add_pending_foreign_keys()
            writer.add_columns(missing_system_columns(conn, existing_tables(conn)))
            run_ops(writer, plan.ops, lambda op: None)
            compute_formulas(conn, db, plan.new, plan.types, plan.ops)
            if plan.steps or plan.document_changed or plan.base_id is None:
                record_blueprint(conn, plan.new, plan.ops)
                if on_recorded is not None:
                    on_recorded(conn)
            if db.is_sqlite:
                _check_foreign_keys(conn)
    except ConversionFailed as exc:
        raise MigrationRefused(
            "a stored value cannot be converted (the data changed since the plan)", details=[str(exc)]
        ) from None
    except IntegrityError:
        found = _duplicates_now(db, plan)
        if not found:
            raise
        raise _duplicates_refusal(plan, found) from None


def _duplicates_now(db: Database, plan: MigrationPlan) -> list[Duplicates]:
    """Duplicates written after the plan counted none: the unique index failed, nothing changed."""
    with db.read() as conn:
        counter = DuplicateCounter(conn, existing_tables(conn), plan.ops)
        found = [counter.count(op) for op in plan.ops if isinstance(op, AddIndex)]
    return [d for d in found if d is not None]


def _live_writer(conn: Connection, plan: MigrationPlan) -> SchemaWriter:
    context = MigrationContext.configure(connection=conn)
    target = build_metadata(plan.new, plan.types)
    return SchemaWriter(Operations(context), plan.types, target, existing_tables(conn))


def _check_base(conn: Connection, plan: MigrationPlan) -> None:
    if latest_blueprint(conn, plan.types).row_id != plan.base_id:
        raise MigrationRefused("another blueprint was applied since this plan was made; plan again")


def _check_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        details = [f"{row[0]} row {row[1]} refers to a missing {row[2]}" for row in broken[:20]]
        raise MigrationRefused("the migration would break references between records", details=details)


@contextmanager
def _migration_connection(db: Database) -> Iterator[Connection]:
    """One write transaction; on SQLite with foreign keys off until it ends (checked before commit)."""
    if not db.is_sqlite:
        with db.write() as conn:
            yield conn
        return
    with db.engine.connect() as conn:
        driver = conn.connection.driver_connection
        if driver is None:
            raise RuntimeError("the SQLite connection is closed")
        driver.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction does this take effect
        try:
            with conn.execution_options(lw_immediate=True).begin():
                yield conn
        finally:
            driver.execute("PRAGMA foreign_keys=ON")
