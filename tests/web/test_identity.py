"""API tokens on requests: 401s, and the short cache of checked tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.auth.tokens import Tokens
from engine.auth.users import Users
from engine.store.records import Store
from engine.web.app import create_app
from tests.auth.conftest import FAST_HASHING
from tests.helpers import make_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url)
    yield s
    s.db.dispose()


def _client(store: Store, ttl: float) -> tuple[TestClient, AuthDb, int, str]:
    auth = AuthDb(store.db, hashing=FAST_HASHING)
    user = Users(auth).create_user(f"u{ttl}@x.io", "U", "admin")
    token_id, secret = Tokens(auth).create_token(user.id)
    client = TestClient(create_app(store, auth=auth, token_ttl=ttl), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {secret}"
    return client, auth, token_id, secret


def test_requests_without_a_valid_token_get_401_with_a_bearer_challenge(store: Store) -> None:
    client, _, _, secret = _client(store, 0)
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer lw_nope"}, {"Authorization": f"Basic {secret}"}):
        r = client.get("/api/v1/deal", headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["errors"][0]["code"] in ("auth.required", "auth.bad_token")
    assert client.get("/api/v1/deal").status_code == 200


def test_without_the_cache_a_revoked_token_stops_at_once(store: Store) -> None:
    client, auth, token_id, _ = _client(store, 0)
    assert client.get("/api/v1/deal").status_code == 200
    Tokens(auth).revoke(token_id)
    assert client.get("/api/v1/deal").status_code == 401


def test_the_cache_keeps_a_checked_token_for_its_lifetime_only(store: Store) -> None:
    client, auth, token_id, _ = _client(store, 60)
    assert client.get("/api/v1/deal").status_code == 200
    Tokens(auth).revoke(token_id)
    assert client.get("/api/v1/deal").status_code == 200  # within the 60 s: the documented delay
    client.app.state.tokens.ttl = 0  # type: ignore[attr-defined]
    client.app.state.tokens._items.clear()  # type: ignore[attr-defined]
    assert client.get("/api/v1/deal").status_code == 401
