"""Serving a blueprint: its store, opened against a database migrated to it; the server's time
limits; and what a running server does when `loomwork migrate` changes the database under it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.blueprint.load import load_blueprint
from engine.blueprint.model import App
from engine.errors import BlueprintInvalid, LoomworkError, Unavailable
from engine.store.connect import open_database
from engine.store.database import Database, database_url
from engine.store.migrate.stored import BLUEPRINT_TABLE, system_metadata
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from engine.web.envelope import error_response

log = logging.getLogger("loomwork.web")
#: Seconds a request's reads may run before they are stopped (503); `LOOMWORK_READ_LIMIT` overrides.
READ_LIMIT = 5.0
#: Seconds a write may wait for SQLite's write lock before a 503; `LOOMWORK_LOCK_WAIT` overrides.
LOCK_WAIT = 5.0
#: Seconds between two looks at which blueprint the database holds.
CHECK_EVERY = 1.0


def _canonical(document: object) -> str:
    return json.dumps(document, sort_keys=True, default=str)


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise LoomworkError(f"{name} has value '{raw[:20]}': expected seconds, from 0 to 3600", code="config.invalid")
    return value


def server_database(url: str | None, *, create: bool = False) -> Database:
    """The database as a server uses it: request reads stop after `READ_LIMIT` seconds and
    writes wait for SQLite's lock at most `LOCK_WAIT` seconds (each overridable, see above).
    A URL that cannot be opened is refused in one line (`engine.store.connect.open_database`)."""
    return open_database(
        database_url(url),
        create=create,
        lock_wait=_seconds("LOOMWORK_LOCK_WAIT", LOCK_WAIT),
        read_limit=_seconds("LOOMWORK_READ_LIMIT", READ_LIMIT),
    )


@dataclass(frozen=True)
class Applied:
    """The latest `lw_blueprint` row: which blueprint the database holds."""

    row_id: int
    name: str
    version: str
    document: str


def applied_blueprint(conn: Connection) -> Applied | None:
    """The latest `lw_blueprint` row; None when nothing was applied."""
    if not inspect(conn).has_table(BLUEPRINT_TABLE):
        return None
    t = system_metadata().tables[BLUEPRINT_TABLE]
    row = conn.execute(select(t.c.id, t.c.app, t.c.version, t.c.document).order_by(t.c.id.desc()).limit(1)).first()
    return None if row is None else Applied(int(row.id), str(row.app), str(row.version), str(row.document))


def open_store(
    blueprint: str | Path, url: str | None, *, files_dir: str | Path | None = None, db: Database | None = None
) -> Store:
    """A store for the blueprint at `blueprint`; refuses (one line each) a database URL that cannot
    be opened and a database that is not migrated to exactly this blueprint.
    `db` defaults to `server_database(url)`."""
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    db = db or server_database(url)
    with db.read() as conn:
        applied = applied_blueprint(conn)
    if applied is None:
        db.dispose()
        raise LoomworkError(
            f"the database has no Loomwork tables; run `loomwork migrate {blueprint}` first",
            code="database.not_migrated",
        )
    if _canonical(json.loads(applied.document)) != _canonical(app.document):
        db.dispose()
        raise LoomworkError(
            f"the database is not at this blueprint; review `loomwork plan {blueprint}` and run "
            f"`loomwork migrate {blueprint}`",
            code="database.out_of_date",
        )
    return Store(app, types, db, files_dir=Path(files_dir) if files_dir else None)


class ServedBlueprint:
    """The ASGI app `loomwork serve` runs: the app of `blueprint`, kept at the blueprint the
    database holds.

    At most every `check_every` seconds a request first reads the id of the latest `lw_blueprint`
    row. When another process migrated the database since, the blueprint at `blueprint` is loaded
    again: if the database now holds exactly it, a new store and app (fields, rules, roles) serve
    every later request, while requests under way finish on the old ones. Otherwise every request
    is refused with 503 `database.blueprint_changed` until the server is restarted with the
    migrated blueprint, the folder is changed to hold it, or the database is migrated back."""

    def __init__(
        self,
        blueprint: str | Path,
        store: Store,
        *,
        build: Callable[[Store], ASGIApp] | None = None,
        check_every: float = CHECK_EVERY,
    ) -> None:
        from engine.web.app import create_app

        self.path = Path(blueprint)
        self.store = store
        self.build: Callable[[Store], ASGIApp] = build or create_app
        self.app = self.build(store)
        self.check_every = check_every
        with store.db.read() as conn:
            applied = applied_blueprint(conn)
        self.applied_id = applied.row_id if applied else None
        self.refusal: Unavailable | None = None
        #: The blueprint files as last loaded while refusing: when they change, they are loaded again.
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._checked_at = time.monotonic()
        self._checking = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and time.monotonic() >= self._checked_at + self.check_every:
            await self._check()
        if self.refusal is not None and scope["type"] == "http":
            await error_response(self.refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check(self) -> None:
        async with self._checking:  # one look at a time; the others wait for its answer
            if time.monotonic() < self._checked_at + self.check_every:
                return
            try:
                latest = await run_in_threadpool(self._latest_id)
            except DBAPIError:  # the database is unreachable: requests will say so themselves
                log.warning("could not read which blueprint the database holds", exc_info=True)
                return
            finally:
                self._checked_at = time.monotonic()
            if latest != self.applied_id or (self.refusal is not None and self._stamp != _stamp(self.path)):
                await run_in_threadpool(self._follow)

    def _latest_id(self) -> int | None:
        table = system_metadata().tables[BLUEPRINT_TABLE]
        with self.store.db.read() as conn:
            found = conn.execute(select(func.max(table.c.id))).scalar()
        return None if found is None else int(found)

    def _follow(self) -> None:
        """Serve what the database holds now: the reloaded blueprint, or a refusal."""
        with self.store.db.read() as conn:
            applied = applied_blueprint(conn)
        if applied is None:
            self._refuse("the database no longer holds a Loomwork blueprint")
            return
        stored = _canonical(json.loads(applied.document))
        self.applied_id = applied.row_id
        if stored == _canonical(self.store.app.document):  # this blueprint, applied again (or again now)
            self.refusal = None
            return
        types = TypeRegistry.with_builtins()
        self._stamp = _stamp(self.path)
        try:
            app: App | None = load_blueprint(self.path, types)
        except BlueprintInvalid as exc:
            log.warning("the blueprint at %s no longer loads: %s", self.path, exc)
            app = None
        if app is None or _canonical(app.document) != stored:
            self._refuse(
                f"the database was migrated to blueprint {applied.name} {applied.version}, not the one at {self.path}"
            )
            return
        self.store.db.refresh()
        store = Store(app, types, self.store.db, files_dir=self.store.files_dir)
        self.app, self.store, self.refusal = self.build(store), store, None
        log.warning("the database was migrated: now serving %s %s", app.name, app.version)

    def _refuse(self, why: str) -> None:
        log.warning("%s; refusing requests until restarted", why)
        self.refusal = Unavailable(
            f"{why}; restart `loomwork serve` with the migrated blueprint", code="database.blueprint_changed"
        )


def _stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, modification time and size of every file of a blueprint (a file or a folder)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stamps = []
    for file in files:
        with suppress(OSError):
            stat = file.stat()
            stamps.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)
