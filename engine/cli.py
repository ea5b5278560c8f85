"""The `loomwork` command. Imports are local to each command so `check` starts fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import BlueprintInvalid, LoomworkError, MigrationRefused

Command = Callable[[argparse.Namespace], int]

if TYPE_CHECKING:
    from engine.store.records import Store


def cmd_check(args: argparse.Namespace) -> int:
    """Check a blueprint like a compiler: every problem at once, located."""
    from engine.blueprint.load import load_blueprint
    from engine.types.registry import TypeRegistry

    app = load_blueprint(args.path, TypeRegistry.with_builtins())
    fields = sum(len(o.fields) for o in app.objects)
    print(f"ok: {app.name} {app.version}: {len(app.objects)} objects, {fields} fields")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Print what `migrate` would do: operations, SQL, values lost and values that fail to convert."""
    from engine.blueprint.load import load_blueprint
    from engine.store.database import Database, database_url
    from engine.store.migrate import plan_migration
    from engine.types.registry import TypeRegistry

    types = TypeRegistry.with_builtins()
    app = load_blueprint(args.path, types)
    db = Database(database_url(args.db))
    try:
        print(plan_migration(db, app, types).render())
    finally:
        db.dispose()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database's schema to the blueprint in one transaction; destructive ops need a flag."""
    from engine.blueprint.load import load_blueprint
    from engine.store.database import Database, database_url
    from engine.store.migrate import apply_plan, plan_migration
    from engine.types.registry import TypeRegistry

    types = TypeRegistry.with_builtins()
    app = load_blueprint(args.path, types)
    db = Database(database_url(args.db))
    try:
        plan = plan_migration(db, app, types)
        apply_plan(db, plan, allow_destructive=args.allow_destructive)
    finally:
        db.dispose()
    if plan.system_tables:
        print(f"applied: create system tables {', '.join(plan.system_tables)}")
    for op in plan.ops:
        print(f"applied: {op.describe()}")
    print(f"ok: {app.name} {app.version} is applied ({len(plan.ops)} operations)")
    return 0


def _serve(store: Store, blueprint: Path, url: str, host: str, port: int, workers: int, files: str | None) -> None:
    import os

    import uvicorn

    from engine.web.app import create_app

    print(f"serving {blueprint} on http://{host}:{port}  (database {url}; Ctrl-C stops)", flush=True)
    if workers > 1:
        os.environ.update(LOOMWORK_BLUEPRINT=str(blueprint), DATABASE_URL=url)
        if files:
            os.environ["LOOMWORK_FILES"] = files
        uvicorn.run(
            "engine.web.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
    else:
        uvicorn.run(
            create_app(store),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the app of a migrated blueprint: REST API, OpenAPI and pages."""
    from engine.store.database import database_url
    from engine.web.runtime import open_store

    url = database_url(args.db)
    store = open_store(args.path, url, files_dir=args.files)
    _serve(store, args.path, url, args.host, args.port, args.workers, args.files)
    return 0


def demo_blueprint() -> Path:
    """The shipped CRM blueprint, next to the engine package in a checkout."""
    return Path(__file__).resolve().parents[1] / "blueprints" / "crm"


def cmd_demo(args: argparse.Namespace) -> int:
    """Create a fresh demo database from blueprints/crm with demo data, then serve it."""
    from engine.blueprint.load import load_blueprint
    from engine.store.database import Database
    from engine.store.fixtures import load_fixtures
    from engine.store.migrate import apply_plan, plan_migration
    from engine.store.records import Store
    from engine.types.registry import TypeRegistry

    blueprint = demo_blueprint()
    url = args.db or "sqlite:///loomwork-demo.db"
    if url.startswith("sqlite:///") and not args.db:
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    db = Database(url)
    apply_plan(db, plan_migration(db, app, types), allow_destructive=False)
    store = Store(app, types, db, files_dir=Path(args.files) if args.files else None)
    counts = load_fixtures(store, blueprint / "demo")
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"demo database {url}: {summary}", flush=True)
    if args.no_serve:
        return 0
    _serve(store, blueprint, url, args.host, args.port, 1, args.files)
    return 0


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--files", default=None, help="folder for attachment files (default ./files)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loomwork", description="Loomwork: blueprints become apps.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("check", cmd_check, "Check a blueprint (file or folder); exit 1 with located problems.")
    p.add_argument("path", type=Path)
    p = add("plan", cmd_plan, "Show the schema change a blueprint needs: operations, SQL, data lost or failing.")
    p.add_argument("path", type=Path)
    p.add_argument("--db", default=None, help="database URL (default: $DATABASE_URL, else sqlite:///loomwork.db)")
    p = add("migrate", cmd_migrate, "Apply a blueprint's schema change in one transaction (all or nothing).")
    p.add_argument("path", type=Path)
    p.add_argument("--db", default=None, help="database URL (default: $DATABASE_URL, else sqlite:///loomwork.db)")
    p.add_argument("--allow-destructive", action="store_true", help="allow drops, narrowing and lossy type changes")
    p = add("serve", cmd_serve, "Serve a migrated blueprint: REST API at /api/v1, OpenAPI at /openapi.json.")
    p.add_argument("path", type=Path)
    p.add_argument("--db", default=None, help="database URL (default: $DATABASE_URL, else sqlite:///loomwork.db)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    _add_server_options(p)
    p = add("demo", cmd_demo, "Fresh CRM demo: migrate blueprints/crm into SQLite, load demo data, serve on :8000.")
    p.add_argument("--db", default=None, help="database URL (default: a fresh ./loomwork-demo.db)")
    p.add_argument("--no-serve", action="store_true", help="create the demo database and stop")
    _add_server_options(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loomwork` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except BlueprintInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return 1
    except MigrationRefused as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        for line in exc.details:
            print(f"  {line}", file=sys.stderr)
        return 1
    except LoomworkError as exc:
        print(f"error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
