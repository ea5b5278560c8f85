"""The `loomwork` command. Imports are local to each command so `check` starts fast."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import BlueprintInvalid, LoomworkError, MigrationRefused

Command = Callable[[argparse.Namespace], int]

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from engine.auth.directory import AuthDb
    from engine.auth.teams import Team
    from engine.blueprint.model import App
    from engine.store.database import Database
    from engine.store.migrate import MigrationPlan
    from engine.store.records import Store
    from engine.types.registry import TypeRegistry


def cmd_check(args: argparse.Namespace) -> int:
    """Check a blueprint like a compiler: every problem at once, located."""
    from engine.blueprint.load import load_blueprint
    from engine.types.registry import TypeRegistry

    app = load_blueprint(args.path, TypeRegistry.with_builtins())
    fields = sum(len(o.fields) for o in app.objects)
    print(f"ok: {app.name} {app.version}: {len(app.objects)} objects, {fields} fields")
    return 0


def _blueprint_and_database(args: argparse.Namespace) -> tuple[TypeRegistry, App, Database]:
    """The checked blueprint at `args.path` and the database of `args.db` (or DATABASE_URL)."""
    from engine.blueprint.load import load_blueprint
    from engine.store.database import Database, database_url
    from engine.types.registry import TypeRegistry

    types = TypeRegistry.with_builtins()
    return types, load_blueprint(args.path, types), Database(database_url(args.db))


def cmd_plan(args: argparse.Namespace) -> int:
    """Print what `migrate` would do: operations, SQL, values lost and values that fail to convert."""
    from engine.store.migrate import plan_migration

    types, app, db = _blueprint_and_database(args)
    try:
        print(plan_migration(db, app, types).render())
    finally:
        db.dispose()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database's schema to the blueprint in one transaction; destructive ops need a flag."""
    from engine.store.migrate import apply_plan, plan_migration

    types, app, db = _blueprint_and_database(args)
    try:
        plan = plan_migration(db, app, types)
        apply_plan(db, plan, allow_destructive=args.allow_destructive, on_recorded=_audit_migration(db, plan))
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


def _audit_migration(db: Database, plan: MigrationPlan) -> Callable[[Connection], None]:
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


def _serve(store: Store, blueprint: Path, url: str, host: str, port: int, workers: int, files: str | None) -> None:
    import os

    import uvicorn

    from engine.web.runtime import ServedBlueprint

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
            ServedBlueprint(blueprint, store),
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
    from engine.auth.passwords import hash_password
    from engine.blueprint.load import load_blueprint
    from engine.store.fixtures import fixture_logins, load_fixtures
    from engine.store.migrate import apply_plan, plan_migration
    from engine.store.records import Store
    from engine.types.registry import TypeRegistry
    from engine.web.runtime import server_database

    blueprint = demo_blueprint()
    url = args.db or "sqlite:///loomwork-demo.db"
    if url.startswith("sqlite:///") and not args.db:
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    db = server_database(url)
    apply_plan(db, plan_migration(db, app, types), allow_destructive=False)
    store = Store(app, types, db, files_dir=Path(args.files) if args.files else None)
    counts = load_fixtures(store, blueprint / "demo", hash_password=hash_password)
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"demo database {url}: {summary}")
    print("demo logins (e-mail / password / role):")
    for login in fixture_logins(app, blueprint / "demo"):
        print(f"  {login.email} / {login.password} / {login.role or '-'}")
    print("sign in at /login with one of these; API clients need a token: loomwork token create --user EMAIL")
    sys.stdout.flush()
    if args.no_serve:
        return 0
    _serve(store, blueprint, url, args.host, args.port, 1, args.files)
    return 0


# -- users, teams and tokens -----------------------------------------------------------------------
def _auth(args: argparse.Namespace, db: Database | None = None) -> AuthDb:
    """The auth room over `--db` (or `db`); refuses a database without the system tables (never migrated)."""
    import sqlalchemy as sa

    from engine.auth.directory import AuthDb
    from engine.store.database import Database, database_url

    url = database_url(args.db) if db is None else db.url
    if db is None:
        db = Database(url)
    with db.read() as conn:
        names = set(sa.inspect(conn).get_table_names())
        columns = {c["name"] for c in sa.inspect(conn).get_columns("lw_user")} if "lw_user" in names else set()
    if not {"lw_user", "lw_team", "lw_token", "lw_audit"} <= names or "team_id" not in columns:
        db.dispose()
        raise LoomworkError(
            f"the database {url} has no user tables (or old ones); run `loomwork migrate BLUEPRINT` first",
            code="db.not_migrated",
        )
    return AuthDb(db)


def _read_password(args: argparse.Namespace) -> str:
    """From stdin with --password-stdin (first line), else prompted twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise LoomworkError("the passwords do not match", code="auth.password_mismatch")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """Create, list, reset the password of and deactivate users."""
    from engine.auth.users import Users

    auth = _auth(args)
    users = Users(auth)
    try:
        if args.action == "create":
            password = _read_password(args)
            user = users.create_user(args.email, args.name, args.role, team=args.team, password=password)
            team = f", team {args.team}" if args.team else ""
            print(f"created user {user.email} (id {user.id}, role {user.role}{team})")
        elif args.action == "list":
            teams = {t.id: t.name for t in _teams(auth)}
            for u in users.list_users():
                team = teams.get(u.team_id, "-") if u.team_id is not None else "-"
                state = "active" if u.active else "inactive"
                print(f"{u.id}\t{u.email}\t{u.name}\t{u.role or '-'}\t{team}\t{state}")
        elif args.action == "set-password":
            users.get(args.email)
            users.set_password(args.email, _read_password(args))
            print(f"password of {args.email.strip().lower()} changed")
        else:
            users.deactivate(args.email)
            print(f"deactivated {args.email.strip().lower()}")
    finally:
        auth.db.dispose()
    return 0


def _teams(auth: AuthDb) -> list[Team]:
    from engine.auth.teams import Teams

    return Teams(auth).list_teams()


def cmd_team(args: argparse.Namespace) -> int:
    """Create and list teams (a hierarchy: each team may have a parent and a manager)."""
    from engine.auth.teams import Teams
    from engine.auth.users import Users

    auth = _auth(args)
    try:
        if args.action == "create":
            team = Teams(auth).create_team(args.name, parent=args.parent, manager=args.manager)
            print(f"created team {team.name} (id {team.id})")
        else:
            teams = Teams(auth).list_teams()
            names = {t.id: t.name for t in teams}
            emails = {u.id: u.email for u in Users(auth).list_users()}
            for t in teams:
                parent = names.get(t.parent_id, "-") if t.parent_id is not None else "-"
                manager = emails.get(t.manager_id, "-") if t.manager_id is not None else "-"
                print(f"{t.id}\t{t.name}\tparent {parent}\tmanager {manager}")
    finally:
        auth.db.dispose()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Create (shown once), list and revoke API tokens."""
    from datetime import timedelta

    from engine.auth.tokens import Tokens
    from engine.auth.users import Users

    auth = _auth(args)
    tokens = Tokens(auth)
    try:
        if args.action == "create":
            user = Users(auth).get(args.user)
            expires = None if args.expires_days is None else timedelta(days=args.expires_days)
            token_id, secret = tokens.create_token(user.id, args.name, expires_in=expires)
            until = f", expires in {args.expires_days} days" if args.expires_days is not None else ""
            print(f"token {token_id} '{args.name}' for {user.email}{until}; it is shown only now:")
            print(secret)
        elif args.action == "revoke":
            tokens.revoke(args.id)
            print(f"revoked token {args.id}")
        else:
            user_id = None if args.user is None else Users(auth).get(args.user).id
            now = auth.now()
            for t in tokens.list_tokens(user_id):
                used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never used"
                until = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "no expiry"
                print(f"{t.id}\t{t.prefix}...\t{t.email}\t{t.name}\t{t.state(now)}\t{until}\t{used}")
    finally:
        auth.db.dispose()
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Why a user may or may not create, read, update, delete an object (and one record of it)."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.auth.explain import explain

    try:
        blueprint, object_name, record_id = _explain_target(args.target)
        store, auth = _explain_store(args, blueprint)
        try:
            result = explain(store, auth, args.user, object_name, record_id)
        finally:
            store.db.dispose()
    except BlueprintInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"error: the blueprint has {len(exc.problems)} problems; run `loomwork check`", file=sys.stderr)
        return 2
    except LoomworkError as exc:
        print(f"error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        first = (str(orig if orig is not None else exc).strip().splitlines() or ["?"])[0]
        print(f"error: the database does not match the blueprint (run `loomwork migrate`?): {first}", file=sys.stderr)
        return 2
    print("\n".join(result.lines))
    return 0 if result.may_read else 1


def _explain_target(values: Sequence[str]) -> tuple[Path | None, str, int | None]:
    """`[BLUEPRINT] OBJECT [RECORD_ID]`: 3 values, or 2 ending in a number (no blueprint), or 2, or 1."""
    items = list(values)
    if not 1 <= len(items) <= 3:
        raise LoomworkError("give [BLUEPRINT] OBJECT [RECORD_ID]", code="explain.usage")
    blueprint = None
    if len(items) == 3 or (len(items) == 2 and not items[1].lstrip("-").isdigit()):
        blueprint = Path(items.pop(0))
    record_id = None
    if len(items) == 2:
        if not items[1].isdigit():
            raise LoomworkError(f"the record id must be a whole number, not '{items[1]}'", code="explain.usage")
        record_id = int(items[1])
    return blueprint, items[0], record_id


def _explain_store(args: argparse.Namespace, blueprint: Path | None) -> tuple[Store, AuthDb]:
    """The store of BLUEPRINT, or of the blueprint last applied to the database when none is given."""
    from engine.store.migrate import current_app
    from engine.store.records import Store

    if blueprint is not None:
        args.path = blueprint
        types, app, db = _blueprint_and_database(args)
    else:
        from engine.store.database import Database, database_url
        from engine.types.registry import TypeRegistry

        types, db = TypeRegistry.with_builtins(), Database(database_url(args.db))
    auth = _auth(args, db)  # refuses (and disposes) a database that was never migrated
    if blueprint is None:
        stored = current_app(db, types)
        if stored is None:
            db.dispose()
            raise LoomworkError("no blueprint was applied to this database; give BLUEPRINT", code="db.not_migrated")
        app = stored
    return Store(app, types, db), auth


def _add_auth_commands(sub: Any, add: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    db_help = "database URL (default: $DATABASE_URL, else sqlite:///loomwork.db)"

    def action(actions: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--db", default=None, help=db_help)  # on each action: a parent's option would be reset
        return p

    p = add("user", cmd_user, "Manage users: create, list, set-password, deactivate.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = action(actions, "create", "Create a user with a role (and a team); the password comes from stdin or a prompt.")
    q.add_argument("--email", required=True)
    q.add_argument("--name", required=True)
    q.add_argument("--role", required=True, help="a role id of the blueprint, e.g. sales_rep")
    q.add_argument("--team", default=None, help="the name of an existing team")
    q.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    action(actions, "list", "List users: id, e-mail, name, role, team, active.")
    q = action(actions, "set-password", "Reset a user's password (an admin's reset).")
    q.add_argument("--email", required=True)
    q.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    q = action(actions, "deactivate", "Deactivate a user: no more logins nor token use.")
    q.add_argument("--email", required=True)

    p = add("team", cmd_team, "Manage teams: create, list.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = action(actions, "create", "Create a team, optionally below a parent team and with a manager.")
    q.add_argument("name")
    q.add_argument("--parent", default=None, help="the name of the team above this one")
    q.add_argument("--manager", default=None, help="the e-mail of the team's manager")
    action(actions, "list", "List teams with their parent and manager.")

    p = add("token", cmd_token, "Manage API tokens: create (printed once, on the last line), list, revoke.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = action(actions, "create", "Create an API token for a user; the token is printed on the last line, once.")
    q.add_argument("--user", required=True, help="the user's e-mail")
    q.add_argument("--name", default="api", help="a label for the token (default api)")
    q.add_argument("--expires-days", type=int, default=None, help="days until the token expires (default never)")
    q = action(actions, "revoke", "Revoke a token by id.")
    q.add_argument("id", type=int)
    q = action(actions, "list", "List tokens (never the secrets): id, prefix, user, name, state, expiry, last use.")
    q.add_argument("--user", default=None, help="only this user's tokens (an e-mail)")


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
    _add_auth_commands(sub, add)
    p = add("explain", cmd_explain, "Explain what a user may do with an object or one record, and why.")
    p.add_argument(
        "target",
        nargs="*",
        metavar="[BLUEPRINT] OBJECT [RECORD_ID]",
        help="the blueprint (default: the one last applied to the database), an object, a record id",
    )
    p.add_argument("--user", required=True, help="the user's e-mail")
    p.add_argument("--db", default=None, help="database URL (default: $DATABASE_URL, else sqlite:///loomwork.db)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loomwork` command; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # `explain BLUEPRINT --user EMAIL OBJECT ID`: argparse leaves positionals after an option over
        if getattr(args, "func", None) is cmd_explain and not any(a.startswith("-") for a in extra):
            args.target = [*args.target, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
    except BrokenPipeError:  # `loomwork ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
