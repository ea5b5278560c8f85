"""Database work for a request without holding the event loop.

On SQLite a page, a record or a single write takes about a millisecond, so it runs inline: a
hand-off to a worker thread would cost more than the work (docs/benchmarks.md). What could wait
or run long moves to a thread instead: an inline read that passes `INLINE_READ_LIMIT` starts again
on a thread, and an inline write that cannot have the write lock at once (a migration, an import
or another process holds it) is handed to a thread that waits for it at most
`Database.lock_wait_default` seconds in all, then answers `DatabaseBusy`. PostgreSQL work always
runs on threads. Every read of a request stops after `Database.read_limit_default` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from engine.store.database import Database, DatabaseBusy, ReadTooSlow

T = TypeVar("T")
#: How long a read may run on the event loop before it moves to a worker thread (seconds).
INLINE_READ_LIMIT = 0.02


def _limited(db: Database, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if db.read_limit_default is None:
        return func(*args, **kwargs)
    with db.read_limit(db.read_limit_default):
        return func(*args, **kwargs)


def _waiting(db: Database, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with db.lock_wait(db.lock_wait_default):
        return _limited(db, func, *args, **kwargs)


async def read_off_loop(db: Database, func: Callable[..., T], *args: Any) -> T:
    """A read that may be long (aggregates, history, files): on a thread, within the read limit."""
    return await run_in_threadpool(_limited, db, func, *args)


async def read_inline(db: Database, func: Callable[..., T], *args: Any, inline_limit: float | None = None) -> T:
    """A read that is usually quick (a page, a record): inline on SQLite until `inline_limit`
    (default `INLINE_READ_LIMIT`), then again on a thread."""
    if not db.is_sqlite:
        return await read_off_loop(db, func, *args)
    try:
        with db.time_limit(INLINE_READ_LIMIT if inline_limit is None else inline_limit):
            return _limited(db, func, *args)
    except ReadTooSlow:
        return await read_off_loop(db, func, *args)


async def write_off_loop(db: Database, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A write that may be long (bulk, files, shares): on a thread, waiting for the lock at most
    `lock_wait_default` seconds."""
    return await run_in_threadpool(_waiting, db, func, *args, **kwargs)


async def write_inline(db: Database, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A short write (one record, a session touch): inline on SQLite when the write lock is free
    right now, else on a thread that waits for it (`write_off_loop`)."""
    if not db.is_sqlite:
        return await write_off_loop(db, func, *args, **kwargs)
    with db.lock_wait(0.0) as attempt:
        try:
            return _limited(db, func, *args, **kwargs)
        except DatabaseBusy:
            if attempt.committed:  # part of the work is stored: running it again would repeat it
                raise
    return await write_off_loop(db, func, *args, **kwargs)
