"""`loomwork serve` and `loomwork demo`: an app on a migrated database, or a fresh CRM demo."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.databases import command_url

if TYPE_CHECKING:
    from engine.store.records import Store

DEMO_URL = "sqlite:///loomwork-demo.db"
#: The demo user the printed token command names: a sales rep with deals in every stage.
DEMO_REP = "chen.xiaoming@demo.loomwork.dev"


def add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--files", default=None, help="folder for attachment files (default ./files)")
    p.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="proxies whose X-Forwarded-For is believed: addresses, networks or * "
        "(default: $LOOMWORK_FORWARDED_ALLOW_IPS, else none)",
    )
    p.add_argument(
        "--password-hashers",
        type=_positive,
        default=None,
        metavar="N",
        help="password hashes at once per process (default: $LOOMWORK_PASSWORD_HASHERS, else CPU cores - 1, 1 to 4)",
    )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def serve_store(store: Store, blueprint: Path, url: str, args: argparse.Namespace, workers: int = 1) -> None:
    """Run uvicorn on `store` (or, with several workers, on processes that open it again).

    Client addresses and proxies are the app's business (`--forwarded-allow-ips`): uvicorn's own
    proxy headers are off, since by default it believes X-Forwarded-For from 127.0.0.1."""
    import uvicorn

    from engine.auth.hashers import SIZE_VARIABLE, HashingPool
    from engine.store.connect import shown_url
    from engine.web.app import served_app
    from engine.web.proxies import PROXIES_VARIABLE, TrustedProxies
    from engine.web.runtime import ServedBlueprint

    proxies = args.forwarded_allow_ips
    if proxies is None:
        proxies = os.environ.get(PROXIES_VARIABLE, "")
    TrustedProxies.parse(proxies)  # a bad entry stops here, in one line, before anything listens
    hashers = HashingPool(args.password_hashers) if args.password_hashers else HashingPool.from_environment()
    trusted = f"; X-Forwarded-For believed from {proxies}" if proxies.strip() else ""
    print(
        f"serving {blueprint} on http://{args.host}:{args.port}  (database {shown_url(url)}{trusted}; Ctrl-C stops)",
        flush=True,
    )
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
    }
    if workers > 1:
        os.environ.update(LOOMWORK_BLUEPRINT=str(blueprint), DATABASE_URL=url)
        os.environ.update({PROXIES_VARIABLE: proxies, SIZE_VARIABLE: str(hashers.size)})
        if args.files:
            os.environ["LOOMWORK_FILES"] = args.files
        uvicorn.run("engine.web.app:app_from_environment", factory=True, workers=workers, **options)
    else:  # the served app follows `loomwork migrate` run meanwhile (engine.web.runtime)
        uvicorn.run(ServedBlueprint(blueprint, store, build=served_app(hashers, proxies)), **options)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the app of a migrated blueprint: REST API, OpenAPI and pages."""
    from engine.web.runtime import open_store

    url = command_url(args)
    store = open_store(args.path, url, files_dir=args.files)
    serve_store(store, args.path, url, args, args.workers)
    return 0


def demo_blueprint() -> Path:
    """The shipped CRM blueprint, next to the engine package in a checkout."""
    return Path(__file__).resolve().parents[2] / "blueprints" / "crm"


def cmd_demo(args: argparse.Namespace) -> int:
    """Create a fresh demo database from blueprints/crm with demo data, then serve it."""
    from engine.auth.directory import AuthDb
    from engine.auth.people import DirectoryPeople
    from engine.blueprint.load import load_blueprint
    from engine.store.connect import shown_url
    from engine.store.fixtures import fixture_logins, load_fixtures
    from engine.store.migrate import apply_plan, plan_migration
    from engine.store.records import Store
    from engine.types.registry import TypeRegistry
    from engine.web.runtime import server_database

    blueprint = demo_blueprint()
    url = args.db or DEMO_URL
    if not args.db:
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    db = server_database(url, create=True)
    apply_plan(db, plan_migration(db, app, types), allow_destructive=False)
    store = Store(app, types, db, files_dir=Path(args.files) if args.files else None)
    counts = load_fixtures(store, blueprint / "demo", DirectoryPeople(AuthDb(db)))
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"demo database {shown_url(url)}: {summary}")
    print("demo logins (e-mail / password / role):")
    for login in fixture_logins(app, blueprint / "demo"):
        print(f"  {login.email} / {login.password} / {login.role or '-'}")
    print("sign in at /login with one of these; API clients need a token, made with:")
    print(f"  {_program()} token create --user {DEMO_REP} --db {shlex.quote(url)} | tail -1")
    sys.stdout.flush()
    if args.no_serve:
        db.dispose()
        return 0
    serve_store(store, blueprint, url, args)
    return 0


def _program() -> str:
    """How this command was started, for commands printed to copy (`.venv/bin/loomwork` from `make run`)."""
    started = Path(sys.argv[0])
    on_path = shutil.which("loomwork")
    if started.name != "loomwork" or (on_path is not None and Path(on_path).resolve() == started.resolve()):
        return "loomwork"
    try:
        return shlex.quote(str(started.resolve().relative_to(Path.cwd().resolve())))
    except ValueError:
        return shlex.quote(str(started))
