"""Shared fixtures: a fresh database per test on SQLite and, when reachable, PostgreSQL.

PostgreSQL tests run in a schema of their own on the `test` database (PG_TEST_URL overrides).
They are skipped when the server is unreachable, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

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
