"""Conditional fields through the REST API: a crafted request cannot fill a hidden field or skip a
required one, on one record, on an update, in lines and in bulk; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.auth.passwords import PasswordHashing
from engine.auth.tokens import Tokens
from engine.auth.users import Users
from engine.store.records import Store
from engine.web.app import create_app
from tests.helpers import make_store

CONDITIONAL = Path(__file__).resolve().parents[1] / "store" / "blueprints" / "conditional.yaml"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url, CONDITIONAL)
    yield s
    s.db.dispose()


def client_for(store: Store, email: str, role: str, region: str | None) -> TestClient:
    auth = AuthDb(store.db, hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1))
    user = Users(auth).create_user(email, email.split("@")[0], role, region=region)
    _, secret = Tokens(auth).create_token(user.id)
    return TestClient(
        create_app(store, auth=auth), raise_server_exceptions=False, headers={"Authorization": f"Bearer {secret}"}
    )


@pytest.fixture
def east(store: Store) -> Iterator[TestClient]:
    with client_for(store, "east@example.com", "rep", "east") as c:
        yield c


@pytest.fixture
def west(store: Store) -> Iterator[TestClient]:
    with client_for(store, "west@example.com", "rep", "west") as c:
        yield c


def errors(r: Any) -> list[tuple[list[Any], str]]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["ok"] is False
    return [(e["loc"], e["code"]) for e in body["errors"]]


def test_a_crafted_post_cannot_fill_a_hidden_field(east: TestClient) -> None:
    r = east.post("/api/v1/deal", json={"name": "a", "lost_reason": "price"})
    assert r.json() == {
        "ok": False,
        "errors": [
            {
                "loc": ["body", "lost_reason"],
                "msg": "'lost_reason' is not shown now and cannot be set",
                "code": "field.not_visible",
            }
        ],
    }


def test_required_if_is_enforced_and_the_fix_is_accepted(east: TestClient) -> None:
    assert errors(east.post("/api/v1/deal", json={"name": "a", "stage": "lost"})) == [
        (["body", "lost_reason"], "field.required")
    ]
    r = east.post("/api/v1/deal", json={"name": "a", "stage": "lost", "lost_reason": "price"})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["lost_reason"] == "price"
    assert data["follow_up"] is None and data["priority"] is None  # hidden fields get no default
    assert data["region"] == "east" and data["opened_on"] == datetime.now(UTC).date().isoformat()


def test_updates_check_the_merged_record(east: TestClient) -> None:
    deal = east.post("/api/v1/deal", json={"name": "a"}).json()["data"]
    assert errors(east.patch(f"/api/v1/deal/{deal['id']}", json={"stage": "lost"})) == [
        (["body", "lost_reason"], "field.required")
    ]
    r = east.patch(f"/api/v1/deal/{deal['id']}", json={"stage": "lost", "lost_reason": "timing"})
    assert r.status_code == 200, r.text
    assert errors(east.patch(f"/api/v1/deal/{deal['id']}", json={"lost_reason": None})) == [
        (["body", "lost_reason"], "field.required")
    ]
    assert east.patch(f"/api/v1/deal/{deal['id']}", json={"stage": "open"}).json()["data"]["lost_reason"] == "timing"
    assert errors(east.patch(f"/api/v1/deal/{deal['id']}", json={"lost_reason": "price"})) == [
        (["body", "lost_reason"], "field.not_visible")
    ]


def test_a_section_shown_by_the_users_region(east: TestClient, west: TestClient) -> None:
    assert east.post("/api/v1/deal", json={"name": "a", "east_code": "E"}).status_code == 201
    assert errors(west.post("/api/v1/deal", json={"name": "a", "east_code": "E"})) == [
        (["body", "east_code"], "field.not_visible")
    ]
    assert errors(east.post("/api/v1/deal", json={"name": "w", "stage": "won"})) == [
        (["body", "east_code"], "field.required")
    ]
    assert west.post("/api/v1/deal", json={"name": "w", "stage": "won"}).status_code == 201


def test_a_field_of_another_role_or_read_only_is_refused(east: TestClient) -> None:
    assert errors(east.post("/api/v1/deal", json={"name": "a", "east_only": "x"})) == [
        (["body", "east_only"], "field.read_only")
    ]
    assert errors(east.post("/api/v1/deal", json={"name": "a", "priority": "high"})) == [
        (["body", "priority"], "field.read_only")
    ]
    assert errors(east.post("/api/v1/deal", json={"name": "a", "margin": "1"})) == [
        (["body", "margin"], "field.read_only")
    ]
    deal = east.post("/api/v1/deal", json={"name": "a"}).json()["data"]
    assert deal["priority"] == "low"  # its default, though the rep may not set it


def test_lines_and_bulk(east: TestClient) -> None:
    r = east.post("/api/v1/deal", json={"name": "a", "lines": [{"product": "p", "free": True}]})
    assert errors(r) == [(["body", "lines", 0, "free_reason"], "field.required")]
    r = east.post("/api/v1/deal", json={"name": "a", "lines": [{"product": "p", "free_reason": "x"}]})
    assert errors(r) == [(["body", "lines", 0, "free_reason"], "field.not_visible")]
    rows = [{"name": "ok"}, {"name": "lost", "stage": "lost"}, {"name": "x", "follow_up": None, "lost_detail": "d"}]
    assert errors(east.post("/api/v1/deal/bulk", json=rows)) == [
        (["body", 1, "lost_reason"], "field.required"),
        (["body", 2, "lost_detail"], "field.not_visible"),
    ]
    assert east.get("/api/v1/deal", params={"with_total": "true"}).json()["total"] == 0
    rows[1]["lost_reason"] = "price"
    del rows[2]["lost_detail"]
    r = east.post("/api/v1/deal/bulk", json=rows)
    assert r.status_code in (200, 201), r.text
    assert east.get("/api/v1/deal", params={"with_total": "true"}).json()["total"] == 3
