"""`loomwork check`, `plan` and `migrate`: a blueprint checked, its schema change shown, then applied."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.cli.databases import command_url, open_command_database

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from engine.blueprint.model import App
    from engine.store.database import Database
    from engine.store.migrate import MigrationPlan
    from engine.types.registry import TypeRegistry


def cmd_check(args: argparse.Namespace) -> int:
    """Check a blueprint like a compiler: every problem at once, located."""
    _, app = checked_blueprint(args)
    fields = sum(len(o.fields) for o in app.objects)
    print(f"ok: {app.name} {app.version}: {len(app.objects)} objects, {fields} fields")
    return 0


def checked_blueprint(args: argparse.Namespace) -> tuple[TypeRegistry, App]:
    """The field types and the checked blueprint at `args.path` (raises `BlueprintInvalid`)."""
    from engine.blueprint.load import load_blueprint
    from engine.types.registry import TypeRegistry

    types = TypeRegistry.with_builtins()
    return types, load_blueprint(args.path, types)


def cmd_plan(args: argparse.Namespace) -> int:
    """Print what `migrate` would do: operations, SQL, values lost and values that fail to convert."""
    from engine.store.connect import check_url, sqlite_path
    from engine.store.database import Database
    from engine.store.migrate import plan_migration

    types, app = checked_blueprint(args)
    url = command_url(args)
    check_url(url)
    path = sqlite_path(url)
    if path is not None and path.parent.is_dir() and not path.exists():
        # Planning never creates the file: a new database's plan is an empty database's.
        print(f"(there is no database file {path} yet: `migrate` would create it with this plan)")
        db = Database("sqlite://")
    else:
        db = open_command_database(args)
    try:
        print(plan_migration(db, app, types).render())
    finally:
        db.dispose()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database's schema to the blueprint in one transaction; destructive ops need a flag."""
    from engine.store.migrate import apply_plan, plan_migration

    types, app = checked_blueprint(args)
    db = open_command_database(args, create=True)
    try:
        plan = plan_migration(db, app, types)
        apply_plan(db, plan, allow_destructive=args.allow_destructive, on_recorded=audit_migration(db, plan))
    finally:
        db.dispose()
    if plan.system_tables:
        print(f"applied: create system tables {', '.join(plan.system_tables)}")
    if plan.system_columns:
        print(f"applied: add system columns {', '.join(f'{t}.{c}' for t, c in plan.system_columns)}")
    for op in plan.ops:
        print(f"applied: {op.describe()}")
    print(f"ok: {app.name} {app.version} is applied ({len(plan.ops)} operations)")
    return 0


def audit_migration(db: Database, plan: MigrationPlan) -> Callable[[Connection], None]:
    """Writes the `blueprint_applied` audit row inside the migration's transaction."""
    from engine.auth import audit
    from engine.auth.directory import AuthDb

    def record(conn: Connection) -> None:
        applied_from = None if plan.old is None else plan.old.version
        detail = {
            "app": plan.new.name,
            "version": plan.new.version,
            "from_version": applied_from,
            "operations": len(plan.ops),
            "destructive": sum(1 for op in plan.ops if op.destructive),
        }
        AuthDb(db).audit(conn, audit.BLUEPRINT_APPLIED, subject=plan.new.name, detail=detail)

    return record
