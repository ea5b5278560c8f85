"""The bulk error envelope, pinned: row-indexed locations, every problem of every row at once, and
`truncated` + `total` past 100 problems; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.store.records import Store
from tests.helpers import api_client, make_store, user_id

UNIQUE = Path(__file__).resolve().parents[1] / "store" / "blueprints" / "unique.yaml"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url)
    yield s
    s.db.dispose()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with api_client(store) as c:
        yield c


def test_more_than_a_hundred_problems_say_truncated_and_the_total(client: TestClient) -> None:
    r = client.post("/api/v1/deal/bulk", json=[{"name": f"d{i}", "amount": "ten"} for i in range(250)])
    assert r.status_code == 422
    body = r.json()
    assert set(body) == {"ok", "errors", "truncated", "total"}
    assert (body["ok"], body["truncated"], body["total"]) == (False, True, 250)
    assert body["errors"][0] == {
        "loc": ["body", 0, "amount"],
        "msg": "expected a number such as -1234.56 (ASCII digits, '.' before decimals, no thousands separators), "
        "got 'ten'",
        "code": "type.currency",
    }
    assert [e["loc"] for e in body["errors"]] == [["body", i, "amount"] for i in range(100)]
    assert client.get("/api/v1/deal", params={"with_total": "true"}).json()["total"] == 0


def test_a_hundred_problems_or_fewer_are_the_plain_envelope(client: TestClient) -> None:
    r = client.post("/api/v1/deal/bulk", json=[{"amount": "1"}, {"name": "b", "stage": "maybe"}])
    assert r.status_code == 422
    assert r.json() == {
        "ok": False,
        "errors": [
            {"loc": ["body", 0, "name"], "msg": "'name' is required", "code": "field.required"},
            {"loc": ["body", 1, "stage"], "msg": "'maybe' is not one of [new, won, lost]", "code": "field.invalid"},
        ],
    }
    r = client.post("/api/v1/deal/bulk", json=[{"name": f"d{i}", "amount": "ten"} for i in range(100)])
    assert set(r.json()) == {"ok", "errors"} and len(r.json()["errors"]) == 100


def test_reference_and_unique_problems_come_together_in_row_order(client: TestClient) -> None:
    assert client.post("/api/v1/company", json={"name": "held", "code": "AAA"}).status_code == 201
    rows: list[dict[str, Any]] = [
        {"name": "a", "code": "AAA"},
        {"name": "b", "parent_id": 999},
        {"name": "c", "code": "BBB"},
        {"name": "d", "code": "BBB", "parent_id": 998},
    ]
    r = client.post("/api/v1/company/bulk", json=rows)
    assert r.status_code == 422
    assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [
        (["body", 0, "code"], "field.unique"),
        (["body", 1, "parent_id"], "field.not_found"),
        (["body", 3, "parent_id"], "field.not_found"),
        (["body", 3, "code"], "field.unique"),
    ]


def test_unique_problems_past_a_hundred_are_truncated_with_their_rows(client: TestClient) -> None:
    assert client.post("/api/v1/company", json={"name": "held", "code": "AAA"}).status_code == 201
    r = client.post("/api/v1/company/bulk", json=[{"name": f"c{i}", "code": "AAA"} for i in range(150)])
    body = r.json()
    assert (r.status_code, body["truncated"], body["total"]) == (422, True, 150)
    assert [e["loc"] for e in body["errors"]] == [["body", i, "code"] for i in range(100)]
    assert {e["code"] for e in body["errors"]} == {"field.unique"}


def test_scope_problems_carry_their_row(db_url: str) -> None:
    store = make_store(db_url, UNIQUE)
    try:
        with api_client(store) as admin, api_client(store, "clerk", "li@example.com") as li:
            other = user_id(store, "admin@example.com")
            me = user_id(store, "li@example.com")
            rows = [{"name": "a", "owner_id": me}, {"name": "b", "owner_id": other}, {"name": "c"}]
            rows.append({"name": "d", "owner_id": other})
            r = li.post("/api/v1/contact/bulk", json=rows)
            assert r.status_code == 422
            message = "the contact would fall outside the records you may read"
            assert r.json()["errors"] == [
                {"loc": ["body", 1, "owner_id"], "msg": message, "code": "permission.out_of_scope"},
                {"loc": ["body", 3, "owner_id"], "msg": message, "code": "permission.out_of_scope"},
            ]
            assert admin.get("/api/v1/contact", params={"with_total": "true"}).json()["total"] == 0
    finally:
        store.db.dispose()


def test_locked_fields_are_reported_for_every_row_and_other_rows_problems_with_them(db_url: str) -> None:
    store = make_store(db_url, UNIQUE)
    try:
        with api_client(store, "clerk", "li@example.com") as li:
            rows = [{"name": "a", "email": "a@x.cn"}, {"email": 5}, {"name": "c", "email": "c@x.cn"}, {"name": 7}]
            r = li.post("/api/v1/contact/bulk", json=rows)
            assert r.status_code == 422
            assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [
                (["body", 0, "email"], "field.read_only"),
                (["body", 1, "email"], "field.read_only"),
                (["body", 2, "email"], "field.read_only"),
                (["body", 3, "name"], "type.text"),
            ]
    finally:
        store.db.dispose()
