"""`q=` type-ahead on lists: title contains, case-insensitive, within the user's scope (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.auth.tokens import Tokens
from engine.auth.users import Users
from engine.store.records import Store
from engine.web.app import create_app
from tests.auth.conftest import FAST_HASHING
from tests.helpers import make_store

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"


@pytest.fixture
def clients(db_url: str) -> Iterator[tuple[Store, dict[str, TestClient]]]:
    store = make_store(db_url, CRM)
    auth = AuthDb(store.db, hashing=FAST_HASHING)
    app = create_app(store, auth=auth)
    out = {}
    for name, role in (("ana", "sales_rep"), ("ben", "sales_rep"), ("adm", "admin")):
        user = Users(auth).create_user(f"{name}@x.io", name, role)
        _, secret = Tokens(auth).create_token(user.id)
        out[name] = TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {secret}"})
        for title in (f"Acme {name}", f"ACME 100% {name}", f"Globex {name}"):
            store.create("account", {"name": title}, actor=user.id)
    yield store, out
    store.db.dispose()


def _names(client: TestClient, **params: str) -> list[str]:
    r = client.get("/api/v1/account", params={**params, "sort": "name", "limit": "100"})
    assert r.status_code == 200, r.text
    return [a["name"] for a in r.json()["data"]]


def test_q_matches_the_title_case_insensitively_within_the_user_s_records(
    clients: tuple[Store, dict[str, TestClient]],
) -> None:
    _, c = clients
    assert _names(c["ana"], q="acme") == ["ACME 100% ana", "Acme ana"]
    assert _names(c["ben"], q="ACME") == ["ACME 100% ben", "Acme ben"]
    assert len(_names(c["adm"], q="acme")) == 6
    assert _names(c["ana"], q="100%") == ["ACME 100% ana"]  # % is literal
    assert _names(c["ana"], q="_") == []
    assert _names(c["ana"], q="   ") == _names(c["ana"])  # blank: no search
    assert _names(c["ana"], q="globex", name__startswith="G") == ["Globex ana"]


def test_q_is_checked(clients: tuple[Store, dict[str, TestClient]]) -> None:
    _, c = clients
    r = c["ana"].get("/api/v1/account", params={"q": "x" * 201})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "q"]
