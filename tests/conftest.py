"""Shared fixtures: a fresh database per test on SQLite and, when reachable, PostgreSQL.

PostgreSQL tests run in a schema of their own on the `test` database (PG_TEST_URL overrides).
They are skipped when the server is unreachable, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import logging
import os
import shutil
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

pytest_plugins = ["pytester"]

PG_URL = os.environ.get("PG_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_available() -> bool:
    try:
        eng = sa.create_engine(PG_URL)
        with eng.connect() as conn:
            conn.execute(sa.text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    ok = _pg_available()
    if not ok and IN_CI:
        pytest.fail(f"PostgreSQL is required under CI=true but {PG_URL} is unreachable")
    return ok


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A URL whose connections see an empty schema of their own."""
    if not pg_available:
        pytest.skip("PostgreSQL not reachable (set PG_TEST_URL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like `db_url`, but one database per test module and backend: for modules whose tests only
    read a world that is costly to build (a migrated CRM with its demo data)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module') / 'module.db'}"
        return
    if not request.getfixturevalue("pg_available"):
        pytest.skip("PostgreSQL not reachable (set PG_TEST_URL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@dataclass
class DemoTemplates:
    """The CRM demo built once per test process, copied for each test that writes to it."""

    root: Path
    sqlite: Path | None = None
    postgres: str | None = None  # the template database's name


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def demo_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTemplates]:
    templates = DemoTemplates(tmp_path_factory.mktemp("demo-templates"))
    yield templates
    if templates.postgres is not None:
        admin = _pg_admin()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{templates.postgres}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def demo_copy(kind: str, folder: Path, templates: DemoTemplates) -> Iterator[str]:
    """A database holding a copy of the CRM demo on `kind` (sqlite or postgres), dropped after."""
    from tests.helpers import crm_demo

    if kind == "sqlite":
        if templates.sqlite is None:
            path = templates.root / "demo.db"
            store, _ = crm_demo(f"sqlite:///{path}", templates.root / "files")
            store.db.dispose()
            templates.sqlite = path
        shutil.copyfile(templates.sqlite, folder / "demo.db")
        yield f"sqlite:///{folder / 'demo.db'}"
        return
    admin = _pg_admin()
    if templates.postgres is None:
        name = f"lw_demo_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        store, _ = crm_demo(sa.make_url(PG_URL).set(database=name).render_as_string(False), folder / "tpl-files")
        store.db.dispose()
        templates.postgres = name
    copy = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{copy}" TEMPLATE "{templates.postgres}"')
    try:
        yield sa.make_url(PG_URL).set(database=copy).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_url(request: pytest.FixtureRequest, tmp_path: Path, demo_templates: DemoTemplates) -> Iterator[str]:
    """A database holding the CRM demo of its own (`tests.helpers.open_demo` opens it), on SQLite
    and on PostgreSQL: built once per process, then copied per test (a file copy; a PostgreSQL
    database made from a template database), instead of migrating and loading it every time."""
    if request.param == "postgres" and not request.getfixturevalue("pg_available"):
        pytest.skip("PostgreSQL not reachable (set PG_TEST_URL)")
    with demo_copy(request.param, tmp_path, demo_templates) as url:
        yield url


#: Where a server error is logged: the API's handler of unexpected exceptions (engine.web.envelope,
#: one record per 500) and uvicorn (an exception that left the app of a served test).
SERVER_LOGGERS = ("loomwork.web", "uvicorn.error")


class ServerErrorLog(logging.Handler):
    """Keeps every ERROR record of the server loggers, so a test can be failed for a 5xx it caused."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def attach(self) -> None:
        """(Re)attach to the server loggers: uvicorn's logging setup drops the handlers it finds."""
        for name in SERVER_LOGGERS:
            logger = logging.getLogger(name)
            if self not in logger.handlers:
                logger.addHandler(self)

    def describe(self, records: list[logging.LogRecord]) -> str:
        lines = []
        for record in records[:5]:
            lines.append(f"{record.name}: {record.getMessage()}")
            if record.exc_info and record.exc_info[1] is not None:
                lines.append("".join(traceback.format_exception(record.exc_info[1])).rstrip()[-3000:])
        more = f"\n... and {len(records) - 5} more" if len(records) > 5 else ""
        return "\n".join(lines) + more


@pytest.fixture(scope="session")
def _server_error_log() -> Iterator[ServerErrorLog]:
    handler = ServerErrorLog()
    yield handler
    for name in SERVER_LOGGERS:
        logging.getLogger(name).removeHandler(handler)


@dataclass(frozen=True)
class ServerErrors:
    """The server errors logged since a test began (a live view)."""

    log: ServerErrorLog
    start: int

    @property
    def records(self) -> list[logging.LogRecord]:
        return self.log.records[self.start :]


@pytest.fixture
def server_errors(_server_error_log: ServerErrorLog) -> ServerErrors:
    """For a test that causes a server error on purpose and checks it: the errors logged during it."""
    return ServerErrors(_server_error_log, len(_server_error_log.records))


@pytest.fixture(autouse=True)
def _no_server_errors(request: pytest.FixtureRequest, _server_error_log: ServerErrorLog) -> Iterator[None]:
    """Fails any test during which the server logged an error (a 500), unless it takes `server_errors`."""
    _server_error_log.attach()
    start = len(_server_error_log.records)
    yield
    logged = _server_error_log.records[start:]
    if logged and "server_errors" not in request.fixturenames:
        pytest.fail(f"the server logged {len(logged)} error(s) during this test:\n{_server_error_log.describe(logged)}")
