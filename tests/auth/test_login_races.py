"""Logins at the same time: the rate limit counts each attempt before its password is hashed, so
parallel attempts never check more passwords than the limit allows, on SQLite and PostgreSQL, with
attempts spread over several engines (as several worker processes would be); hashing is bounded."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.auth.errors import HashingBusy, LoginFailed, LoginLocked
from engine.auth.hashers import HashingPool
from engine.auth.login import authenticate_password
from engine.auth.users import User, Users
from engine.store.database import Database
from tests.auth.support import FakeClock, MeteredHashing

PASSWORD = "correct horse battery"


@pytest.fixture
def hashing() -> MeteredHashing:
    return MeteredHashing(delay=0.05)


@pytest.fixture
def workers(auth: AuthDb, hashing: MeteredHashing) -> Iterator[list[AuthDb]]:
    """Three "processes": each its own engine and connection pool on the same database and clock."""
    engines = [Database(auth.db.url) for _ in range(3)]
    yield [AuthDb(db, clock=auth.clock, hashing=hashing, hashers=HashingPool(30)) for db in engines]
    for db in engines:
        db.dispose()


@pytest.fixture
def user(auth: AuthDb) -> User:
    return Users(auth).create_user("a@b.io", "A", "sales_rep", password=PASSWORD)


def at_once(calls: list[Callable[[], object]]) -> Counter[str]:
    """Run every call on its own thread, released together; count the outcomes by name."""
    start = threading.Barrier(len(calls))

    def one(call: Callable[[], object]) -> str:
        start.wait()
        try:
            call()
        except (LoginFailed, LoginLocked, HashingBusy) as exc:
            return type(exc).__name__
        return "ok"

    with ThreadPoolExecutor(len(calls)) as pool:
        return Counter(pool.map(one, calls))


def attempt(auth: AuthDb, email: str, password: str, ip: str | None) -> Callable[[], object]:
    return lambda: authenticate_password(auth, email, password, ip)


def test_parallel_wrong_passwords_for_one_email_check_five_and_then_the_right_one_is_refused(
    workers: list[AuthDb], hashing: MeteredHashing, user: User
) -> None:
    calls = [attempt(workers[i % 3], "a@b.io", f"wrong password {i}", f"10.0.0.{i}") for i in range(11)]
    assert at_once(calls) == {"LoginFailed": 5, "LoginLocked": 6}
    assert hashing.meter.calls == 5
    with pytest.raises(LoginLocked):
        authenticate_password(workers[0], "a@b.io", PASSWORD, "10.0.1.1")
    assert hashing.meter.calls == 5  # refused without hashing


def test_parallel_failures_from_one_address_check_twenty(workers: list[AuthDb], hashing: MeteredHashing) -> None:
    calls = [attempt(workers[i % 3], f"guess{i}@b.io", "wrong password!", "10.6.6.6") for i in range(30)]
    assert at_once(calls) == {"LoginFailed": 20, "LoginLocked": 10}
    assert hashing.meter.calls == 20


def test_a_right_password_racing_wrong_ones_is_checked_within_the_limit(
    workers: list[AuthDb], hashing: MeteredHashing, user: User
) -> None:
    wrong = [attempt(workers[i % 3], "a@b.io", f"wrong password {i}", None) for i in range(4)]
    outcomes = at_once([*wrong, attempt(workers[0], "a@b.io", PASSWORD, None)])
    assert outcomes == {"LoginFailed": 4, "ok": 1}
    assert hashing.meter.calls == 5


def test_a_success_uncounts_its_own_attempt_and_the_emails_failures_but_not_the_addresss(
    auth: AuthDb, user: User
) -> None:
    for i in range(3):
        with pytest.raises(LoginFailed):
            authenticate_password(auth, "a@b.io", f"wrong password {i}", "10.0.0.9")
    authenticate_password(auth, "a@b.io", PASSWORD, "10.0.0.9")
    t = auth.tables.login_attempt
    with auth.db.read() as conn:
        keys = conn.execute(sa.select(t.c.key).order_by(t.c.id)).scalars().all()
    assert keys == ["ip:10.0.0.9"] * 3


def test_an_attempt_refused_for_a_busy_pool_is_not_counted(auth: AuthDb, user: User, clock: FakeClock) -> None:
    pool = HashingPool(1, waiting=0, wait=0.05, retry_after=3)
    busy = AuthDb(auth.db, clock=clock, hashing=auth.hashing, hashers=pool)
    release = threading.Event()
    holder = threading.Thread(target=pool.run, args=(release.wait, 5))
    holder.start()
    try:
        with pytest.raises(HashingBusy) as caught:
            authenticate_password(busy, "a@b.io", PASSWORD, "10.0.0.1")
    finally:
        release.set()
        holder.join()
    assert caught.value.retry_after == 3
    with auth.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(auth.tables.login_attempt)).scalar() == 0
    assert audit_entries(auth, kind="login_failed") == []
    assert authenticate_password(busy, "a@b.io", PASSWORD, "10.0.0.1") == user
