"""POST /login under load and behind proxies (SQLite and PostgreSQL): hashing bounded per process,
503 beyond the queue, X-Forwarded-For believed only from configured proxies, errors in the envelope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.auth.errors import HashingBusy, LoginFailed, LoginLocked
from engine.auth.hashers import HashingPool
from engine.auth.tokens import Tokens
from engine.auth.users import User, Users
from engine.store.records import Store
from engine.web.app import create_app
from tests.auth.support import FakeClock, MeteredHashing
from tests.helpers import make_store
from tests.web.test_sessions import LOCAL, PASSWORD, log_in

CSRF = "c" * 43


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url)
    yield s
    s.db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def auth(store: Store, clock: FakeClock) -> AuthDb:
    return AuthDb(store.db, clock=clock, hashing=MeteredHashing(delay=0))


@pytest.fixture
def user(auth: AuthDb) -> User:
    return Users(auth).create_user("ann@example.com", "Ann Example", "admin", password=PASSWORD)


def client_from(store: Store, auth: AuthDb, peer: str, proxies: str | None = None) -> TestClient:
    web = create_app(store, auth=auth, forwarded_allow_ips=proxies)
    return TestClient(web, base_url=LOCAL, raise_server_exceptions=False, client=(peer, 5000))


def meter(auth: AuthDb) -> Any:
    assert isinstance(auth.hashing, MeteredHashing)
    return auth.hashing.meter


async def logins_with_an_api_read(web: FastAPI, logins: int, token: str) -> tuple[list[httpx.Response], float, bool]:
    """`logins` failed logins at once and, while they hash, one API list; returns the login
    responses, how long the list took and whether it answered before the last login did."""
    transport = httpx.ASGITransport(app=web, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as client:
        done: list[float] = []

        async def login(i: int) -> httpx.Response:
            form = {"email": f"guess{i}@example.com", "password": "wrong password", "csrf_token": CSRF}
            r = await client.post("/login", data=form, headers={"Cookie": f"lw_csrf={CSRF}"})
            done.append(time.monotonic())
            return r

        async def api_read() -> tuple[float, float]:
            await asyncio.sleep(0.15)  # the logins are hashing by now
            began = time.monotonic()
            r = await client.get("/api/v1/company", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            return time.monotonic() - began, time.monotonic()

        *responses, (took, answered) = await asyncio.gather(*(login(i) for i in range(logins)), api_read())
    return list(responses), took, answered < max(done)


def test_logins_at_once_hash_two_at_a_time_and_the_api_answers_meanwhile(
    store: Store, clock: FakeClock, user: User
) -> None:
    auth = AuthDb(store.db, clock=clock, hashing=MeteredHashing(delay=0.2), hashers=HashingPool(2, waiting=12))
    _, token = Tokens(auth).create_token(user.id)
    responses, took, before_the_logins = asyncio.run(logins_with_an_api_read(create_app(store, auth=auth), 12, token))
    assert [r.status_code for r in responses] == [401] * 12
    assert (meter(auth).calls, meter(auth).peak) == (12, 2)
    assert before_the_logins and took < 0.5  # the logins take 1.2 s at least


def test_logins_beyond_the_queue_get_503_with_retry_after_and_are_not_counted(
    store: Store, clock: FakeClock, user: User
) -> None:
    pool = HashingPool(1, waiting=1, retry_after=2)
    auth = AuthDb(store.db, clock=clock, hashing=MeteredHashing(delay=1.0), hashers=pool)
    _, token = Tokens(auth).create_token(user.id)
    responses, _, _ = asyncio.run(logins_with_an_api_read(create_app(store, auth=auth), 6, token))
    assert sorted(r.status_code for r in responses) == [401, 401, 503, 503, 503, 503]
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "2" and "too many sign-ins at once; try again in 2 seconds" in busy.text
    assert 'value="guess' in busy.text  # the form again, with the e-mail kept
    assert meter(auth).calls == 2
    t = auth.tables.login_attempt
    with auth.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() == 4  # e-mail + address, twice


# -- X-Forwarded-For -------------------------------------------------------------------------------
def test_x_forwarded_for_is_ignored_unless_a_proxy_is_configured(store: Store, auth: AuthDb, user: User) -> None:
    # uvicorn believes X-Forwarded-For from 127.0.0.1 by default; Loomwork does not
    with client_from(store, auth, "127.0.0.1") as client:
        for i in range(20):
            client.headers["X-Forwarded-For"] = f"198.51.100.{i}"
            assert log_in(client, f"guess{i}@example.com", "wrong password").status_code == 401
        client.headers["X-Forwarded-For"] = "198.51.100.99"
        locked = log_in(client, user.email)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert {e.ip for e in audit_entries(auth, kind="login_failed", limit=100)} == {"127.0.0.1"}


def test_x_forwarded_for_from_a_configured_proxy_names_the_client(store: Store, auth: AuthDb, user: User) -> None:
    with client_from(store, auth, "10.0.0.2", proxies="127.0.0.1, 10.0.0.0/8") as client:
        # the left part is whatever the client sent; the right-most address not a proxy is the client
        client.headers["X-Forwarded-For"] = "6.6.6.6, 203.0.113.7, 10.0.0.9"
        assert log_in(client, "nobody@example.com", "wrong password").status_code == 401
        for i in range(20):  # twenty clients behind the proxy each have their own address count
            client.headers["X-Forwarded-For"] = f"198.51.100.{i}"
            assert log_in(client, f"guess{i}@example.com", "wrong password").status_code == 401
        client.headers["X-Forwarded-For"] = "203.0.113.8"
        assert log_in(client, user.email).status_code == 303
    ips = [e.ip for e in audit_entries(auth, kind="login_failed", limit=100)]
    assert ips[-1] == "203.0.113.7" and sorted(ips[:-1]) == sorted(f"198.51.100.{i}" for i in range(20))
    assert audit_entries(auth, kind="login")[0].ip == "203.0.113.8"


def test_x_forwarded_for_from_a_peer_that_is_not_a_configured_proxy_is_ignored(
    store: Store, auth: AuthDb, user: User
) -> None:
    with client_from(store, auth, "192.0.2.50", proxies="10.0.0.0/8") as client:
        client.headers["X-Forwarded-For"] = "203.0.113.7"
        assert log_in(client, user.email).status_code == 303
    assert audit_entries(auth, kind="login")[0].ip == "192.0.2.50"


def test_x_forwarded_proto_from_a_configured_proxy_makes_cookies_secure(store: Store, auth: AuthDb, user: User) -> None:
    for proxies, secure in ((None, False), ("127.0.0.1", True)):
        with client_from(store, auth, "127.0.0.1", proxies=proxies) as client:
            client.headers["X-Forwarded-Proto"] = "https"
            cookie = client.get("/login").headers["set-cookie"].lower()
        assert ("; secure" in cookie) is secure, (proxies, cookie)


# -- the envelope ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (LoginFailed(), 401, "auth.login_failed", None),
        (LoginLocked(600), 429, "auth.locked", "600"),
        (HashingBusy(2), 503, "auth.busy", "2"),
    ],
)
def test_login_errors_on_the_api_keep_the_envelope(
    store: Store, auth: AuthDb, error: Exception, status: int, code: str, retry_after: str | None
) -> None:
    web = create_app(store, auth=auth)

    @web.get("/_test/login_error")
    async def fail() -> None:
        raise error

    with TestClient(web, raise_server_exceptions=False) as client:
        r = client.get("/_test/login_error")
    assert r.status_code == status
    assert r.json() == {"ok": False, "errors": [{"loc": [], "msg": str(error), "code": code}]}
    assert r.headers.get("retry-after") == retry_after
