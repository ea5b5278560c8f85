"""An `AuthDb` on a freshly migrated database (SQLite and PostgreSQL), with a clock tests can move."""

from __future__ import annotations

from collections.abc import Iterator

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
