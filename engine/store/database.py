"""Database connections: SQLite (embedded default, WAL, foreign keys on) and PostgreSQL."""

from __future__ import annotations

import math
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from engine.errors import Conflict, Unavailable
from engine.expr import register_sqlite_functions

DEFAULT_URL = "sqlite:///loomwork.db"
#: SQLite calls the time-limit check every this many virtual machine instructions.
_PROGRESS_STEPS = 20_000
#: PostgreSQL aborted the transaction in favour of a concurrent one (deadlock, serialization).
_GAVE_WAY = frozenset({"40P01", "40001"})
#: Seconds an SQLite writer waits for the write lock when nobody set a shorter wait (the CLI).
DEFAULT_LOCK_WAIT = 30.0
#: PostgreSQL's codes for a statement cancelled by `statement_timeout`, and by `lock_timeout`.
_QUERY_CANCELED = "57014"
_LOCK_NOT_AVAILABLE = "55P03"


class ReadTooSlow(Exception):
    """A read under `Database.time_limit` ran past its limit and was interrupted (nothing changed)."""


class ReadTimedOut(Unavailable):
    """A read under `Database.read_limit` ran past it and was stopped (nothing changed)."""

    code = "database.timeout"


class DatabaseBusy(Unavailable):
    """The write lock stayed taken (another process or a long write holds it) for longer than the
    writer may wait; nothing was written."""

    code = "database.busy"


@dataclass
class LockWait:
    """How long writes in a `Database.lock_wait` block may wait for the write lock, in total."""

    seconds: float
    deadline: float
    #: Set once a write transaction in the block committed: it must not be run again.
    committed: bool = False


def database_url(explicit: str | None = None) -> str:
    """The database URL: an explicit one, else `DATABASE_URL`, else a local SQLite file."""
    return explicit or os.environ.get("DATABASE_URL") or DEFAULT_URL


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain `postgresql://` / `postgres://` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Database:
    """One SQLAlchemy engine plus the transaction discipline of the store.

    SQLite writers take the write lock up front (`BEGIN IMMEDIATE`) so two writers never
    deadlock upgrading a read lock; readers use plain `BEGIN` and run alongside under WAL.
    `lock_wait`: seconds a writer waits for a lock: on SQLite for the write lock (unless
    `lock_wait()` says less), on PostgreSQL for each row or table lock (`lock_timeout`); None:
    `DEFAULT_LOCK_WAIT` on SQLite, as long as it takes on PostgreSQL (what commands want).
    `read_limit`: seconds a request's reads may run (applied by the web layer); None: no limit.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        lock_wait: float | None = None,
        read_limit: float | None = None,
    ) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        self.lock_wait_default = DEFAULT_LOCK_WAIT if lock_wait is None else lock_wait
        self.read_limit_default = read_limit
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": self.lock_wait_default}
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool
            else:
                kwargs["pool_size"] = pool_size
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        kwargs.update(json_serializer=_json_dumps, json_deserializer=orjson.loads)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, self.lock_wait_default)
        elif lock_wait is not None:
            _configure_lock_timeout(self.engine, lock_wait)
        self._writer = self.engine.execution_options(lw_immediate=True)
        key = id(self)
        self._inline: ContextVar[float | None] = ContextVar(f"lw_inline_deadline_{key}", default=None)
        self._limit: ContextVar[tuple[float, float] | None] = ContextVar(f"lw_read_limit_{key}", default=None)
        self._lock: ContextVar[LockWait | None] = ContextVar(f"lw_lock_wait_{key}", default=None)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error. An SQLite writer
        that cannot have the write lock in time raises `DatabaseBusy` (see `lock_wait`); on
        PostgreSQL, a write that waited past `lock_timeout` for a lock is `DatabaseBusy` too, and
        one the database aborted in favour of a concurrent write (two writes recomputing formulas
        of each other's records, see engine.store.cascade) is a `Conflict` `record.busy`."""
        if not self.is_sqlite:
            try:
                with self._writer.begin() as conn:
                    yield conn
            except DBAPIError as exc:
                state = getattr(exc.orig, "sqlstate", None)
                if state in _GAVE_WAY:
                    raise Conflict(
                        "a concurrent change to the same records went first; try again", code="record.busy"
                    ) from None
                if state != _LOCK_NOT_AVAILABLE:
                    raise
                raise _busy(self.lock_wait_default) from None
            return
        budget = self._lock.get()
        wait = self.lock_wait_default if budget is None else max(0.0, budget.deadline - time.monotonic())
        with self._writer.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
            if wait != self.lock_wait_default:
                raw.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            try:
                with conn.begin():
                    yield conn
            except OperationalError as exc:
                if getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                raise _busy(self.lock_wait_default if budget is None else budget.seconds) from None
            finally:
                if wait != self.lock_wait_default:  # pooled connections keep the default wait
                    raw.execute(f"PRAGMA busy_timeout={int(self.lock_wait_default * 1000)}")
            if budget is not None:
                budget.committed = True

    @contextmanager
    def lock_wait(self, seconds: float) -> Iterator[LockWait]:
        """SQLite writes in this block wait at most `seconds` in all for the write lock, then raise
        `DatabaseBusy`; the `LockWait` says whether one of them committed before that."""
        budget = LockWait(seconds, time.monotonic() + seconds)
        token = self._lock.set(budget)
        try:
            yield budget
        finally:
            self._lock.reset(token)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading, under the time limits of the block it runs in."""
        inline, limit = self._inline.get(), self._limit.get()
        with self.engine.connect() as conn:
            if self.is_sqlite and (inline is not None or limit is not None):
                with self._sqlite_deadline(conn, inline, limit):
                    yield conn
            elif not self.is_sqlite and limit is not None:
                with self._statement_timeout(conn, limit):
                    yield conn
            else:
                yield conn

    @contextmanager
    def _sqlite_deadline(
        self, conn: Connection, inline: float | None, limit: tuple[float, float] | None
    ) -> Iterator[None]:
        deadline = min(d for d in (inline, limit[0] if limit else None) if d is not None)
        raw: Any = conn.connection.dbapi_connection
        raw.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            yield
        except OperationalError as exc:
            if "interrupted" not in str(exc.orig):
                raise
            if limit is not None and time.monotonic() > limit[0]:
                raise _timed_out(limit[1]) from None
            raise ReadTooSlow() from None
        finally:
            raw.set_progress_handler(None, 0)

    @contextmanager
    def _statement_timeout(self, conn: Connection, limit: tuple[float, float]) -> Iterator[None]:
        left = limit[0] - time.monotonic()
        if left <= 0:
            raise _timed_out(limit[1])
        # Local to the read's transaction, which ends (rolled back) when the connection is returned.
        conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(math.ceil(left * 1000))})
        try:
            yield
        except DBAPIError as exc:
            state = getattr(exc.orig, "sqlstate", None)
            if state == _LOCK_NOT_AVAILABLE:  # waited `lock_timeout` for a table a migration holds
                raise _busy(self.lock_wait_default) from None
            if state != _QUERY_CANCELED:
                raise
            raise _timed_out(limit[1]) from None

    @contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """SQLite reads in this block raise `ReadTooSlow` after `seconds` (the caller then moves
        the work off the event loop); other databases and writes are not limited."""
        token = self._inline.set(time.monotonic() + seconds)
        try:
            yield
        finally:
            self._inline.reset(token)

    @contextmanager
    def read_limit(self, seconds: float) -> Iterator[None]:
        """Reads in this block, on either database, stop with `ReadTimedOut` once `seconds` have
        passed since the block began (PostgreSQL: `statement_timeout`; SQLite: a progress handler)."""
        token = self._limit.set((time.monotonic() + seconds, seconds))
        try:
            yield
        finally:
            self._limit.reset(token)

    def refresh(self) -> None:
        """Close the idle connections, so the next ones start afresh (after another process changed
        the schema); connections in use are closed when returned. An in-memory database keeps its one."""
        if not isinstance(self.engine.pool, StaticPool):
            self.engine.dispose()

    def dispose(self) -> None:
        self.engine.dispose()


def _busy(seconds: float) -> DatabaseBusy:
    return DatabaseBusy(
        f"the database is busy: another writer held it for more than {seconds:g} s "
        "(a migration, an import); nothing was written, try again",
        retry_after=max(1, math.ceil(seconds)),
    )


def _timed_out(seconds: float) -> ReadTimedOut:
    return ReadTimedOut(
        f"the query ran for more than {seconds:g} s and was stopped; narrow it (filters on indexed "
        "fields, fewer computed parts) or try again later",
        retry_after=max(1, math.ceil(seconds)),
    )


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _configure_lock_timeout(engine: Engine, lock_wait: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET lock_timeout = {math.ceil(lock_wait * 1000)}")
        dbapi_conn.commit()


def _configure_sqlite(engine: Engine, lock_wait: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (transactional DDL works)
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "synchronous=NORMAL",
            f"busy_timeout={int(lock_wait * 1000)}",
            "cache_size=-65536",
            "temp_store=MEMORY",
            "mmap_size=268435456",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()
        register_sqlite_functions(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("lw_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
