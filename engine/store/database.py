"""Database connections: SQLite (embedded default, WAL, foreign keys on) and PostgreSQL."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

from engine.errors import Conflict
from engine.expr import register_sqlite_functions

DEFAULT_URL = "sqlite:///loomwork.db"
#: SQLite calls the time-limit check every this many virtual machine instructions.
_PROGRESS_STEPS = 20_000
#: PostgreSQL aborted the transaction in favour of a concurrent one (deadlock, serialization).
_GAVE_WAY = frozenset({"40P01", "40001"})


class ReadTooSlow(Exception):
    """A read under `Database.time_limit` ran past its limit and was interrupted (nothing changed)."""


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
    """

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool
            else:
                kwargs["pool_size"] = pool_size
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        kwargs.update(json_serializer=_json_dumps, json_deserializer=orjson.loads)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self._writer = self.engine.execution_options(lw_immediate=True)
        self._deadline: ContextVar[float | None] = ContextVar(f"lw_read_deadline_{id(self)}", default=None)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error. One that the
        database aborted in favour of a concurrent write (two writes recomputing formulas of
        each other's records, see engine.store.cascade) is a `Conflict` `record.busy`."""
        try:
            with self._writer.begin() as conn:
                yield conn
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in _GAVE_WAY:
                raise Conflict(
                    "a concurrent change to the same records went first; try again", code="record.busy"
                ) from None
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        deadline = self._deadline.get()
        with self.engine.connect() as conn:
            if deadline is None or not self.is_sqlite:
                yield conn
                return
            raw: Any = conn.connection.dbapi_connection
            raw.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
            try:
                yield conn
            except OperationalError as exc:
                if "interrupted" in str(exc.orig):
                    raise ReadTooSlow() from None
                raise
            finally:
                raw.set_progress_handler(None, 0)

    @contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """SQLite reads in this block raise `ReadTooSlow` after `seconds` (the caller then moves
        the work off the event loop); other databases and writes are not limited."""
        token = self._deadline.set(time.monotonic() + seconds)
        try:
            yield
        finally:
            self._deadline.reset(token)

    def dispose(self) -> None:
        self.engine.dispose()


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (transactional DDL works)
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "synchronous=NORMAL",
            "busy_timeout=30000",
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
