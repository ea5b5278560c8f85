"""Browser sessions: login/logout pages, cookies, CSRF, fixation, expiry, rate limits, escaping.

Runs on SQLite and PostgreSQL; the clock is a `FakeClock` the tests move by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.testclient import TestClient

from engine.auth.audit import LOGIN, LOGOUT, audit_entries
from engine.auth.directory import AuthDb
from engine.auth.sessions import session_id
from engine.auth.users import User, Users
from engine.store.records import Store
from tests.auth.conftest import FAST_HASHING
from tests.auth.support import FakeClock
from tests.helpers import make_store

PASSWORD = "correct horse battery staple"
LOCAL = "http://localhost"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url)
    yield s
    s.db.dispose()


@pytest.fixture
def auth(store: Store, clock: FakeClock) -> AuthDb:
    return AuthDb(store.db, clock=clock, hashing=FAST_HASHING)


@pytest.fixture
def user(auth: AuthDb) -> User:
    return Users(auth).create_user("ann@example.com", "Ann Example", "sales_rep", password=PASSWORD)


def build_client(store: Store, auth: AuthDb, base_url: str = LOCAL) -> TestClient:
    from engine.web.app import create_app
    from engine.web.bodies import read_limited
    from engine.web.identity import Identity, require_identity

    web = create_app(store, auth=auth)

    @web.post("/_test/whoami")
    async def whoami(request: Request, identity: Identity = Depends(require_identity)) -> dict[str, Any]:  # noqa: B008
        body = await read_limited(request, 1024)  # the CSRF check must leave the body readable
        return {"ok": True, "email": identity.user.email, "via": identity.via, "body": len(body)}

    return TestClient(web, base_url=base_url, raise_server_exceptions=False)


@pytest.fixture
def client(store: Store, auth: AuthDb) -> Iterator[TestClient]:
    with build_client(store, auth) as c:
        yield c


def login_token(client: TestClient) -> str:
    r = client.get("/login")
    assert r.status_code == 200, r.text
    token = client.cookies.get("lw_csrf")
    assert token and f'value="{token}"' in r.text
    return token


def log_in(client: TestClient, email: str, password: str = PASSWORD, next_path: str = "/") -> Any:
    token = login_token(client)
    form = {"email": email, "password": password, "csrf_token": token, "next": next_path}
    return client.post("/login", data=form, follow_redirects=False)


def session_rows(auth: AuthDb) -> list[Any]:
    t = auth.tables.session
    with auth.db.read() as conn:
        return list(conn.execute(sa.select(t)).all())


def csrf_of(client: TestClient) -> str:
    r = client.get("/")
    marker = 'name="csrf_token" value="'
    assert marker in r.text, r.text
    return r.text.split(marker, 1)[1].split('"', 1)[0]


# -- logging in ------------------------------------------------------------------------------------
def test_login_opens_a_session_and_the_home_page_names_the_user(client: TestClient, user: User) -> None:
    r = client.get("/")
    assert 'href="/login"' in r.text and "Signed in as" not in r.text
    r = log_in(client, user.email)
    assert r.status_code == 303 and r.headers["location"] == "/"
    page = client.get("/")
    assert "Ann Example" in page.text and "Signed in as" in page.text and "sales_rep" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert client.post("/_test/whoami", headers={"X-CSRF-Token": csrf_of(client)}).json()["via"] == "session"


def test_cookie_flags(client: TestClient, store: Store, auth: AuthDb, user: User) -> None:
    r = log_in(client, user.email)
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("lw_session="))
    lowered = session.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered  # plain http to localhost: development
    with build_client(store, auth, base_url="http://crm.example.org") as remote:
        r = remote.get("/login")
        assert "secure" in r.headers["set-cookie"].lower()
        assert "httponly" in r.headers["set-cookie"].lower()


def test_session_fixation_login_always_gets_a_new_session_id(client: TestClient, auth: AuthDb, user: User) -> None:
    client.cookies.set("lw_session", "planted-by-an-attacker-0123456789abcdef", domain="localhost.local")
    log_in(client, user.email)
    first = client.cookies.get("lw_session")
    assert first and first != "planted-by-an-attacker-0123456789abcdef"
    assert [r.id for r in session_rows(auth)] == [session_id(first)]
    # logging in again over a live session replaces it: the old id is ended, not reused
    log_in(client, user.email)
    second = client.cookies.get("lw_session")
    assert second and second != first
    assert [r.id for r in session_rows(auth)] == [session_id(second)]


def test_session_rows_hold_only_hashes(client: TestClient, auth: AuthDb, user: User) -> None:
    log_in(client, user.email)
    secret = client.cookies.get("lw_session")
    assert secret
    (row,) = session_rows(auth)
    assert row.id == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row)
    assert row.user_id == user.id and row.ip


def test_wrong_password_shows_the_form_again_with_the_generic_message(client: TestClient, user: User) -> None:
    r = log_in(client, user.email, "wrong password")
    assert r.status_code == 401
    assert "wrong e-mail or password" in r.text and 'value="ann@example.com"' in r.text
    assert client.cookies.get("lw_session") is None
    unknown = log_in(client, "nobody@example.com", "wrong password")
    assert unknown.status_code == 401 and "wrong e-mail or password" in unknown.text


def test_the_echoed_email_is_escaped(client: TestClient, user: User) -> None:
    r = log_in(client, '"><script>alert(1)</script>@x.io', "wrong")
    assert r.status_code == 401
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text


def test_login_audits_login_and_logout(client: TestClient, auth: AuthDb, user: User) -> None:
    log_in(client, user.email)
    client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert [e.subject for e in audit_entries(auth, kind=LOGIN)] == [user.email]
    assert [e.subject for e in audit_entries(auth, kind=LOGOUT)] == [user.email]


# -- CSRF ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_login_without_the_form_token_is_refused(
    client: TestClient, auth: AuthDb, user: User, token: str | None
) -> None:
    login_token(client)
    form = {"email": user.email, "password": PASSWORD}
    if token is not None:
        form["csrf_token"] = token
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 403 and "sign-in form expired" in r.text
    assert session_rows(auth) == []


def test_login_token_must_match_the_cookie(client: TestClient, auth: AuthDb, user: User) -> None:
    token = login_token(client)
    client.cookies.delete("lw_csrf")
    r = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 403 and session_rows(auth) == []


def test_logout_needs_the_csrf_token(client: TestClient, auth: AuthDb, user: User) -> None:
    log_in(client, user.email)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": "wrong"}, follow_redirects=False).status_code == 403
    assert len(session_rows(auth)) == 1 and "Signed in as" in client.get("/").text


def test_logout_ends_the_session_on_the_server(client: TestClient, store: Store, auth: AuthDb, user: User) -> None:
    log_in(client, user.email)
    old = client.cookies.get("lw_session")
    assert old
    csrf = csrf_of(client)
    with build_client(store, auth) as replay:
        replay.cookies.set("lw_session", old, domain="localhost.local")
        assert "Signed in as" in replay.get("/").text
        r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert session_rows(auth) == []
        assert client.cookies.get("lw_session") is None
        # the old cookie, replayed, is worth nothing
        assert "Signed in as" not in replay.get("/").text
        assert replay.post("/_test/whoami", headers={"X-CSRF-Token": csrf}).status_code == 401


def test_session_writes_need_the_csrf_header_or_field(client: TestClient, user: User) -> None:
    log_in(client, user.email)
    csrf = csrf_of(client)
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": csrf[:-1]}):
        r = client.post("/_test/whoami", json={}, headers=headers)
        assert r.status_code == 403, r.text
        assert r.json()["errors"][0]["code"] == "csrf.invalid"
    assert client.post("/_test/whoami", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    r = client.post("/_test/whoami", data={"csrf_token": csrf, "x": "y"})
    assert r.status_code == 200 and r.json()["body"] == len(f"csrf_token={csrf}&x=y")
    assert client.post("/_test/whoami", data={"csrf_token": "nope"}).status_code == 403


def test_api_write_with_a_session_needs_the_csrf_header(client: TestClient, auth: AuthDb, user: User) -> None:
    def codes(r: Any) -> list[str]:
        return [e["code"] for e in r.json()["errors"]]

    anonymous = client.post("/api/v1/company", json={"name": "Acme"})
    assert (anonymous.status_code, codes(anonymous)) == (401, ["auth.required"])
    admin = Users(auth).create_user("root@example.com", "Root", "admin", password=PASSWORD)
    assert log_in(client, admin.email).status_code == 303
    csrf = csrf_of(client)
    r = client.post("/api/v1/company", json={"name": "Acme"})
    assert (r.status_code, codes(r)) == (403, ["csrf.invalid"])
    r = client.post("/api/v1/company", json={"name": "Acme"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert (r.json()["data"]["name"], r.json()["data"]["created_by"]) == ("Acme", admin.id)
    # the session's user is who acts: a rep of this blueprint may not create companies
    assert log_in(client, user.email).status_code == 303
    r = client.post("/api/v1/company", json={"name": "Acme 2"}, headers={"X-CSRF-Token": csrf_of(client)})
    assert (r.status_code, codes(r)) == (403, ["permission.denied"])


def test_reads_need_no_csrf_token(client: TestClient, user: User) -> None:
    log_in(client, user.email)
    assert "Ann Example" in client.get("/").text


# -- brute force, expiry ---------------------------------------------------------------------------
def test_sixth_wrong_password_within_15_minutes_is_locked(client: TestClient, clock: FakeClock, user: User) -> None:
    for _ in range(5):
        assert log_in(client, user.email, "wrong").status_code == 401
        clock.advance(minutes=2)
    r = log_in(client, user.email, "wrong")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "too many failed logins" in r.text
    assert log_in(client, user.email).status_code == 429  # even the right password waits
    clock.advance(minutes=15)
    assert log_in(client, user.email).status_code == 303


def test_idle_session_expires(client: TestClient, clock: FakeClock, user: User) -> None:
    log_in(client, user.email)
    clock.advance(hours=11)
    assert "Signed in as" in client.get("/").text  # use slides the idle timeout
    clock.advance(hours=11)
    assert "Signed in as" in client.get("/").text
    clock.advance(hours=12, seconds=1)
    assert "Signed in as" not in client.get("/").text


def test_session_lifetime_is_absolute(client: TestClient, auth: AuthDb, clock: FakeClock, user: User) -> None:
    log_in(client, user.email)
    for _ in range(15):  # 165 hours of steady use: still inside the 7 days
        clock.advance(hours=11)
        assert "Signed in as" in client.get("/").text
    clock.advance(hours=3)  # 168 h
    assert "Signed in as" not in client.get("/").text
    assert session_rows(auth) == []  # found expired: deleted


def test_deactivated_user_loses_the_session(client: TestClient, auth: AuthDb, user: User) -> None:
    log_in(client, user.email)
    Users(auth).deactivate(user.email)
    assert "Signed in as" not in client.get("/").text


# -- escaping, redirects ---------------------------------------------------------------------------
def test_user_name_is_escaped_on_the_home_page(client: TestClient, auth: AuthDb) -> None:
    Users(auth).create_user("x@example.com", "<script>alert(1)</script>", "sales_rep", password=PASSWORD)
    log_in(client, "x@example.com")
    page = client.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example/", "/\\evil.example", "evil.example", "javascript:alert(1)"]
)
def test_open_redirects_are_refused(client: TestClient, user: User, target: str) -> None:
    r = log_in(client, user.email, next_path=target)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_local_next_is_followed(client: TestClient, user: User) -> None:
    page = client.get("/login", params={"next": "/api/v1?x=1"})
    assert 'name="next" value="/api/v1?x=1"' in page.text
    r = log_in(client, user.email, next_path="/api/v1?x=1")
    assert r.status_code == 303 and r.headers["location"] == "/api/v1?x=1"


def test_the_home_page_lists_only_the_objects_the_user_may_read(
    store: Store, auth: AuthDb, client: TestClient, user: User
) -> None:
    # everything.yaml declares no roles: a sales_rep there reads nothing; the admin reads everything.
    assert 'href="/app/company' not in client.get("/").text  # anonymous: no object list
    assert log_in(client, user.email).status_code == 303
    assert 'href="/app/company' not in client.get("/").text
    Users(auth).create_user("root@example.com", "Root", "admin", password=PASSWORD)
    with build_client(store, auth) as admin:
        assert log_in(admin, "root@example.com").status_code == 303
        page = admin.get("/").text
        assert 'href="/app/company' in page and 'href="/app/deal_line' not in page
