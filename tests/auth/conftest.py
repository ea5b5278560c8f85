"""An `AuthDb` on a freshly migrated database (SQLite and PostgreSQL), with a clock tests can move."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.auth.directory import AuthDb
from engine.auth.passwords import PasswordHashing
from tests.auth.support import FakeClock, migrated

#: Cheap argon2id parameters: the tests check behaviour, not cost.
FAST_HASHING = PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def auth(db_url: str, clock: FakeClock) -> Iterator[AuthDb]:
    db = migrated(db_url)
    yield AuthDb(db, clock=clock, hashing=FAST_HASHING)
    db.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The permission matrix's CRM world (tests/auth/matrix_world.py), one per test module and database."""
    from tests.auth.matrix_world import open_world

    yield from open_world(request, tmp_path_factory)
