"""Bad API input always gets a 4xx with the error envelope, never a 500; stored data is untouched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import api_client, make_store


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    store = make_store(db_url)
    with api_client(store) as c:
        c.post("/api/v1/deal", json={"name": "keep", "amount": "10.00", "stage": "won"})
        yield c
    store.db.dispose()


def assert_envelope(r: Any, status: int, code: str | None = None) -> list[dict[str, Any]]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["ok"] is False
    assert body["errors"] and all({"loc", "msg", "code"} <= set(e) for e in body["errors"])
    if code:
        assert code in [e["code"] for e in body["errors"]], body
    errors: list[dict[str, Any]] = body["errors"]
    return errors


POSTS = [
    ({"name": 5}, "type.text"),
    ({"name": "x", "amount": "ten"}, "type.currency"),
    ({"name": "x", "amount": [1]}, "type.currency"),
    ({"name": "x", "amount": True}, "type.currency"),
    ({"name": "x", "amount": "1e999"}, "type.currency"),
    ({"name": "x", "amount": "NaN"}, "type.currency"),
    ({"name": "x", "stage": "maybe"}, "field.invalid"),
    ({"name": "x", "company_id": "abc"}, "type.lookup"),
    ({"name": "x", "company_id": 2**70}, "type.lookup"),
    ({"name": "x", "colour": "red"}, "field.unknown"),
    ({"name": "x", "id": 1}, "field.read_only"),
    ({"name": "x", "version": 3}, "field.read_only"),
    ({"name": "x\x00y"}, "field.invalid"),
    ({}, "field.required"),
]


@pytest.mark.parametrize(("body", "code"), POSTS)
def test_wrong_values_get_422(client: TestClient, body: dict[str, Any], code: str) -> None:
    assert_envelope(client.post("/api/v1/deal", json=body), 422, code)


@pytest.mark.parametrize(
    "raw",
    [b"{", b"{'name': 1}", b"[1,2", b"", b"null", b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b'"just a string"', b"123"],
)
def test_malformed_json_gets_4xx(client: TestClient, raw: bytes) -> None:
    r = client.post("/api/v1/deal", content=raw, headers={"Content-Type": "application/json"})
    assert_envelope(r, 422)


def test_ten_megabyte_body_is_refused(client: TestClient) -> None:
    big = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert_envelope(
        client.post("/api/v1/deal", content=big, headers={"Content-Type": "application/json"}), 413, "payload.too_large"
    )
    assert_envelope(client.post("/api/v1/deal/bulk", content=b"[" + b"{}," * 6_000_000 + b"{}]"), 413)


def test_unknown_object_and_record(client: TestClient) -> None:
    assert_envelope(client.get("/api/v1/nothing"), 404, "object.unknown")
    assert_envelope(client.post("/api/v1/nothing", json={}), 404, "object.unknown")
    assert_envelope(client.get("/api/v1/deal/999999"), 404, "record.not_found")
    assert_envelope(client.get("/api/v1/deal/abc"), 422)
    assert_envelope(client.get("/api/v1/deal/0"), 422)
    assert_envelope(client.get(f"/api/v1/deal/{2**64}"), 422)
    assert_envelope(client.get("/nowhere"), 404)
    assert_envelope(client.put("/api/v1/deal"), 405)


INJECTIONS = [
    {"name": "x' OR '1'='1"},
    {"name__contains": "%' ; DROP TABLE deal; --"},
    {"stage": 'won"; DROP TABLE deal; --'},
    {"amount__gt": "0) OR 1=1 --"},
    {"name; DROP TABLE deal": "x"},
    {"amount__gt); DROP TABLE deal; --": "1"},
    {"sort": "amount; DROP TABLE deal"},
    {"sort": "-(select 1)"},
    {"fields": "name,(select password_hash from lw_user)"},
    {"cursor": "eyJzIjpbImlkIl0sInYiOlsiMSBPUiAxPTEiXX0"},
    {"cursor": "!!!not-base64"},
    {"limit": "1; DROP TABLE deal"},
    {"limit": "100000"},
    {"stage__regex": "x"},
    {"amount__in": ",".join(["1"] * 600)},
]


@pytest.mark.parametrize("params", INJECTIONS)
def test_injection_in_filters_and_sort_is_inert(client: TestClient, params: dict[str, str]) -> None:
    r = client.get("/api/v1/deal", params=params)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert r.json()["data"] == []
    else:
        assert_envelope(r, 422)
    still = client.get("/api/v1/deal").json()["data"]
    assert [d["name"] for d in still] == ["keep"]


def test_bulk_body_must_be_a_list_of_valid_records(client: TestClient) -> None:
    assert_envelope(client.post("/api/v1/deal/bulk", json={"name": "x"}), 422, "type.list")
    errors = assert_envelope(client.post("/api/v1/deal/bulk", json=[{"name": "a"}, {"amount": "x"}]), 422)
    assert errors[0]["loc"][:2] == ["body", 1]
    assert_envelope(client.post("/api/v1/deal/bulk", json=[{"name": "a"}] * 10_001), 422, "batch.too_large")
    assert [d["name"] for d in client.get("/api/v1/deal").json()["data"]] == ["keep"]


def test_bad_if_match_and_aggregate(client: TestClient) -> None:
    assert_envelope(client.patch("/api/v1/deal/1", json={"name": "z"}, headers={"If-Match": "abc"}), 422)
    assert_envelope(client.get("/api/v1/deal/aggregate", params={"metrics": "sum:name"}), 422, "query.bad_metric")
    assert_envelope(client.get("/api/v1/deal/aggregate", params={"metrics": "drop"}), 422)
    assert_envelope(client.get("/api/v1/deal/aggregate", params={"group_by": "nope"}), 422)
