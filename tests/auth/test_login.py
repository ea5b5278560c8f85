"""Password login: one message for every bad credential, audit rows, rate limiting, rehashing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.auth.errors import LoginFailed, LoginLocked
from engine.auth.login import authenticate_password, record_logout
from engine.auth.passwords import PasswordHashing
from engine.auth.ratelimit import LoginLimits
from engine.auth.users import User, Users
from tests.auth.support import FakeClock

PASSWORD = "correct horse battery"


@pytest.fixture
def user(auth: AuthDb) -> User:
    return Users(auth).create_user("a@b.io", "A", "sales_rep", password=PASSWORD)


def test_a_right_password_logs_in_and_is_audited(auth: AuthDb, user: User) -> None:
    assert authenticate_password(auth, " A@B.io ", PASSWORD, "10.0.0.1") == user
    entry = audit_entries(auth, kind="login")[0]
    assert (entry.actor_id, entry.subject, entry.ip) == (user.id, "a@b.io", "10.0.0.1")
    record_logout(auth, user, "10.0.0.1")
    assert audit_entries(auth, kind="logout")[0].actor_id == user.id


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [("a@b.io", "wrong password!", "password"), ("nobody@b.io", PASSWORD, "unknown")],
)
def test_unknown_email_and_wrong_password_fail_alike(
    auth: AuthDb, user: User, email: str, password: str, reason: str
) -> None:
    with pytest.raises(LoginFailed) as caught:
        authenticate_password(auth, email, password, "10.0.0.1")
    assert str(caught.value) == "wrong e-mail or password"
    entry = audit_entries(auth, kind="login_failed")[0]
    assert (entry.subject, entry.detail, entry.ip) == (email, {"reason": reason}, "10.0.0.1")


def test_inactive_users_and_users_without_password_cannot_log_in(auth: AuthDb, user: User) -> None:
    Users(auth).create_user("token-only@b.io", "Bot", "admin")
    with pytest.raises(LoginFailed):
        authenticate_password(auth, "token-only@b.io", PASSWORD, None)
    Users(auth).deactivate("a@b.io")
    with pytest.raises(LoginFailed):
        authenticate_password(auth, "a@b.io", PASSWORD, None)
    assert audit_entries(auth, kind="login_failed")[0].detail == {"reason": "inactive"}


def fail(auth: AuthDb, email: str, ip: str | None, times: int) -> None:
    for _ in range(times):
        with pytest.raises(LoginFailed):
            authenticate_password(auth, email, "wrong password!", ip)


def test_the_sixth_attempt_after_five_failures_is_locked_even_with_the_right_password(
    auth: AuthDb, user: User, clock: FakeClock
) -> None:
    fail(auth, "a@b.io", "10.0.0.1", 5)
    with pytest.raises(LoginLocked, match="too many failed logins; try again in 15 minutes") as caught:
        authenticate_password(auth, "a@b.io", PASSWORD, "10.0.0.2")
    assert caught.value.retry_after == 15 * 60
    assert audit_entries(auth, kind="login_failed")[0].detail == {"reason": "locked"}
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(LoginLocked, match=r"try again in 1 minute$"):
        authenticate_password(auth, "a@b.io", PASSWORD, "10.0.0.2")
    clock.advance(seconds=1)  # the window slides: the oldest failure no longer counts
    assert authenticate_password(auth, "a@b.io", PASSWORD, "10.0.0.2") == user


def test_the_window_slides(auth: AuthDb, user: User, clock: FakeClock) -> None:
    fail(auth, "a@b.io", None, 3)
    clock.advance(minutes=10)
    fail(auth, "a@b.io", None, 2)
    with pytest.raises(LoginLocked):
        authenticate_password(auth, "a@b.io", PASSWORD, None)
    clock.advance(minutes=5)  # the first three left the window; two remain
    fail(auth, "a@b.io", None, 3)
    with pytest.raises(LoginLocked, match="in 10 minutes"):  # when the two at minute 10 leave
        authenticate_password(auth, "a@b.io", PASSWORD, None)


def test_a_success_resets_the_email_count_but_not_the_address_count(auth: AuthDb, user: User) -> None:
    limits = LoginLimits(max_per_email=3, max_per_ip=5)
    for _ in range(2):
        with pytest.raises(LoginFailed):
            authenticate_password(auth, "a@b.io", "wrong password!", "10.0.0.9", limits=limits)
    authenticate_password(auth, "a@b.io", PASSWORD, "10.0.0.9", limits=limits)
    for _ in range(2):  # the e-mail starts from zero again
        with pytest.raises(LoginFailed):
            authenticate_password(auth, "a@b.io", "wrong password!", "10.0.0.9", limits=limits)
    with pytest.raises(LoginFailed):  # fifth failure from this address
        authenticate_password(auth, "other@b.io", "wrong password!", "10.0.0.9", limits=limits)
    with pytest.raises(LoginLocked):
        authenticate_password(auth, "a@b.io", PASSWORD, "10.0.0.9", limits=limits)
    assert authenticate_password(auth, "a@b.io", PASSWORD, "10.0.0.10", limits=limits) == user


def test_one_address_trying_many_emails_is_locked(auth: AuthDb, user: User) -> None:
    for i in range(20):
        with pytest.raises(LoginFailed):
            authenticate_password(auth, f"guess{i}@b.io", "wrong password!", "10.6.6.6")
    with pytest.raises(LoginLocked):
        authenticate_password(auth, "a@b.io", PASSWORD, "10.6.6.6")
    assert authenticate_password(auth, "a@b.io", PASSWORD, "10.0.0.1") == user


def test_the_limit_holds_across_processes_because_it_is_stored(auth: AuthDb, user: User) -> None:
    fail(auth, "a@b.io", None, 5)
    other_worker = AuthDb(auth.db, clock=auth.clock, hashing=auth.hashing)
    with pytest.raises(LoginLocked):
        authenticate_password(other_worker, "a@b.io", PASSWORD, None)
    with auth.db.read() as conn:
        keys = conn.execute(sa.select(auth.tables.login_attempt.c.key).distinct()).scalars().all()
    assert keys == ["email:a@b.io"]


def test_an_old_hash_is_replaced_after_a_successful_login(auth: AuthDb, user: User) -> None:
    stronger = AuthDb(auth.db, clock=auth.clock, hashing=PasswordHashing(time_cost=2, memory_cost=16, parallelism=1))
    authenticate_password(stronger, "a@b.io", PASSWORD, None)
    with auth.db.read() as conn:
        stored = conn.execute(sa.select(auth.tables.user.c.password_hash)).scalar_one()
    assert "$m=16,t=2,p=1$" in stored
    assert authenticate_password(stronger, "a@b.io", PASSWORD, None) == user


@pytest.mark.parametrize("email", ["a\x00@b.io", "a@b.io\x00", "not an e-mail", "a" * 250 + "@b.io", "a@b\n.io"])
def test_an_address_no_user_can_have_fails_like_any_other_and_costs_nothing(
    auth: AuthDb, user: User, email: str
) -> None:
    """Nothing of it is stored (PostgreSQL text cannot even hold a NUL) and no password is hashed."""
    t = auth.tables.login_attempt
    with pytest.raises(LoginFailed) as caught:
        authenticate_password(auth, email, PASSWORD, "10.0.0.9")
    assert caught.value.code == "auth.login_failed"
    with auth.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 0
    assert audit_entries(auth, kind="login_failed") == []
