"""Sharing a single record with a user or a team, through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.auth.teams import Teams
from engine.auth.tokens import Tokens
from engine.auth.users import Users
from engine.store.records import Store
from engine.web.app import create_app
from tests.auth.conftest import FAST_HASHING
from tests.helpers import make_store

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"


@dataclass
class Org:
    store: Store
    auth: AuthDb
    clients: dict[str, TestClient]
    ids: dict[str, int]


@pytest.fixture
def org(db_url: str) -> Iterator[Org]:
    store = make_store(db_url, CRM)
    auth = AuthDb(store.db, hashing=FAST_HASHING)
    users = Users(auth)
    Teams(auth).create_team("West")
    people = {
        "ana": users.create_user("ana@x.io", "Ana", "sales_rep", team="West"),
        "ben": users.create_user("ben@x.io", "Ben", "sales_rep"),
        "cy": users.create_user("cy@x.io", "Cy", "sales_rep", team="West"),
        "fin": users.create_user("fin@x.io", "Fin", "finance"),
        "adm": users.create_user("adm@x.io", "Adm", "admin"),
    }
    app = create_app(store, auth=auth)
    clients = {}
    for name, user in people.items():
        _, secret = Tokens(auth).create_token(user.id)
        clients[name] = TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {secret}"})
    ids = {name: u.id for name, u in people.items()}
    ids["west"] = next(t.id for t in Teams(auth).list_teams() if t.name == "West")
    account = store.create("account", {"name": "Acme"}, actor=ids["ana"])
    ids["opp"] = store.create(
        "opportunity", {"name": "Big deal", "account_id": account["id"], "amount": "1000"}, actor=ids["ana"]
    )["id"]
    yield Org(store, auth, clients, ids)
    store.db.dispose()


def _status(r: Any, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def test_a_read_share_lets_another_rep_read_but_not_change(org: Org) -> None:
    ana, ben, opp = org.clients["ana"], org.clients["ben"], org.ids["opp"]
    _status(ben.get(f"/api/v1/opportunity/{opp}"), 404)
    made = _status(ana.post(f"/api/v1/opportunity/{opp}/shares", json={"user_id": org.ids["ben"]}), 201)["data"]
    assert made["can_edit"] is False and made["created_by"] == org.ids["ana"]
    _status(ben.get(f"/api/v1/opportunity/{opp}"), 200)
    assert [r["id"] for r in _status(ben.get("/api/v1/opportunity"), 200)["data"]] == [opp]
    _status(ben.patch(f"/api/v1/opportunity/{opp}", json={"name": "mine now"}), 403)
    _status(ben.post(f"/api/v1/opportunity/{opp}/shares", json={"user_id": org.ids["ben"], "can_edit": True}), 403)
    shared = audit_entries(org.auth, kind="record_shared")
    assert shared and shared[0].detail["record_id"] == opp


def test_an_edit_share_allows_updates_and_unsharing_closes_the_record_again(org: Org) -> None:
    ana, ben, opp = org.clients["ana"], org.clients["ben"], org.ids["opp"]
    body = {"user_id": org.ids["ben"], "can_edit": True}
    share_id = _status(ana.post(f"/api/v1/opportunity/{opp}/shares", json=body), 201)["data"]["id"]
    assert _status(ben.patch(f"/api/v1/opportunity/{opp}", json={"name": "Bigger"}), 200)["data"]["name"] == "Bigger"
    _status(ben.delete(f"/api/v1/opportunity/{opp}"), 403)  # shares never grant delete (and reps may not delete)
    listed = _status(ana.get(f"/api/v1/opportunity/{opp}/shares"), 200)["data"]
    assert [s["id"] for s in listed] == [share_id]
    _status(ana.delete(f"/api/v1/opportunity/{opp}/shares/{share_id}"), 200)
    _status(ben.get(f"/api/v1/opportunity/{opp}"), 404)
    _status(ana.delete(f"/api/v1/opportunity/{opp}/shares/{share_id}"), 404)


def test_a_team_share_reaches_the_team_members_only(org: Org) -> None:
    ana, ben, cy, opp = org.clients["ana"], org.clients["ben"], org.clients["cy"], org.ids["opp"]
    _status(cy.get(f"/api/v1/opportunity/{opp}"), 404)
    _status(ana.post(f"/api/v1/opportunity/{opp}/shares", json={"team_id": org.ids["west"]}), 201)
    _status(cy.get(f"/api/v1/opportunity/{opp}"), 200)
    _status(ben.get(f"/api/v1/opportunity/{opp}"), 404)


def test_a_share_does_not_give_a_role_an_object_it_lacks(org: Org) -> None:
    ana, fin, opp = org.clients["ana"], org.clients["fin"], org.ids["opp"]
    _status(ana.post(f"/api/v1/opportunity/{opp}/shares", json={"user_id": org.ids["fin"]}), 201)
    _status(fin.get(f"/api/v1/opportunity/{opp}"), 403)


def test_nobody_can_share_or_probe_a_record_outside_their_scope(org: Org) -> None:
    ben, opp = org.clients["ben"], org.ids["opp"]
    _status(ben.post(f"/api/v1/opportunity/{opp}/shares", json={"user_id": org.ids["ben"]}), 404)
    _status(ben.get(f"/api/v1/opportunity/{opp}/shares"), 404)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "share.target"),
        ({"user_id": 1, "team_id": 1}, "share.target"),
        ({"user_id": "2"}, "type.integer"),
        ({"user_id": 99999}, "field.not_found"),
        ({"user_id": 1, "can_edit": "yes"}, "type.boolean"),
        ({"user_id": 1, "role": "admin"}, "field.unknown"),
        ([], "type.object"),
    ],
)
def test_bad_share_requests_get_422(org: Org, body: Any, code: str) -> None:
    r = org.clients["ana"].post(f"/api/v1/opportunity/{org.ids['opp']}/shares", json=body)
    assert r.status_code == 422, r.text
    assert code in [e["code"] for e in r.json()["errors"]]


def test_the_trash_shows_a_rep_what_they_deleted_and_an_administrator_everything(org: Org) -> None:
    deleted = {}
    for who in ("ana", "ben"):
        body = {"name": f"call by {who}", "type": "call", "occurred_at": "2026-11-02T10:00:00Z"}
        made = _status(org.clients[who].post("/api/v1/activity", json=body), 201)["data"]
        _status(org.clients[who].delete(f"/api/v1/activity/{made['id']}"), 200)
        deleted[who] = made["id"]
    seen = {
        who: [e["record_id"] for e in _status(org.clients[who].get("/api/v1/trash"), 200)["data"]] for who in deleted
    }
    assert seen == {"ana": [deleted["ana"]], "ben": [deleted["ben"]]}
    everything = [e["record_id"] for e in _status(org.clients["adm"].get("/api/v1/trash"), 200)["data"]]
    assert sorted(everything) == sorted(deleted.values())
    _status(org.clients["ben"].post(f"/api/v1/activity/{deleted['ana']}/restore"), 404)
    _status(org.clients["ana"].post(f"/api/v1/activity/{deleted['ana']}/restore"), 200)
