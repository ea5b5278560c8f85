"""Opening a database named by a URL, with one clear error for each way that can fail.

`Database` connects lazily; a typo in a URL would otherwise surface as a driver traceback at the
first query, or — for SQLite — silently create a stray empty file. Commands and servers open
their database here instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from engine.errors import LoomworkError
from engine.store.database import Database, normalise_url

#: The databases Loomwork runs on, and how their URLs look.
SUPPORTED = "sqlite:///PATH or postgresql://USER@HOST:PORT/NAME"
_BACKENDS = ("sqlite", "postgresql")


class DatabaseUnavailable(LoomworkError):
    """The database URL is not one Loomwork can use, or the database cannot be reached."""

    code = "db.unavailable"


def shown_url(url: str) -> str:
    """The URL as it may be printed: its password replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database or another database."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def check_url(url: str) -> URL:
    """The parsed URL; raises `DatabaseUnavailable` unless it names SQLite or PostgreSQL."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        raise DatabaseUnavailable(f"'{url}' is not a database URL; use {SUPPORTED}", code="db.bad_url") from None
    backend = parsed.get_backend_name()
    if backend not in _BACKENDS:
        raise DatabaseUnavailable(
            f"{shown_url(url)}: '{parsed.drivername}' databases are not supported; use {SUPPORTED}",
            code="db.unsupported",
        )
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise DatabaseUnavailable(
            f"{shown_url(url)}: the driver '{parsed.get_driver_name()}' is not supported; write postgresql://... "
            "(Loomwork uses psycopg 3)",
            code="db.unsupported",
        )
    return parsed


def open_database(url: str, *, create: bool = False, **options: Any) -> Database:
    """A `Database` for `url` that has answered a first connection.

    A SQLite file is created only with `create` (by `migrate` and `demo`); otherwise a missing
    file is refused, so a mistyped path never leaves an empty database behind. Raises
    `DatabaseUnavailable` with one line saying what is wrong and with which URL. `options` go to
    `Database` (a server's `lock_wait` and `read_limit`).
    """
    check_url(url)
    path = sqlite_path(url)
    if path is not None:
        if not path.parent.is_dir():
            raise DatabaseUnavailable(
                f"{shown_url(url)}: the folder {path.parent} does not exist (SQLite creates the file, not its folder)",
                code="db.no_folder",
            )
        if not create and not path.exists():
            raise DatabaseUnavailable(
                f"{shown_url(url)}: there is no database file {path}; `loomwork migrate BLUEPRINT --db URL` "
                "creates one (`loomwork demo` makes loomwork-demo.db)",
                code="db.missing",
            )
    db = Database(url, **options)
    try:
        with db.engine.connect():
            pass
    except DBAPIError as exc:
        db.dispose()
        raise DatabaseUnavailable(f"cannot open {shown_url(url)}: {_first_line(exc)}", code="db.unreachable") from None
    return db


def _first_line(exc: DBAPIError) -> str:
    """The driver's own words, without SQLAlchemy's wrapping and the server's severity prefix."""
    text = str(exc.orig if exc.orig is not None else exc).strip()
    line = (text.splitlines() or ["unknown error"])[0]
    return line.replace("FATAL:  ", "").strip()
