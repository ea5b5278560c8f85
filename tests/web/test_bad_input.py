"""Bad API input always gets a 4xx with the error envelope, never a 500; stored data is untouched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
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


#: Injection attempts in query parameters and how each is answered: None for a filter that
#: compares with the value as written (and so matches nothing), else the 422's (loc, code).
INJECTIONS: list[tuple[dict[str, str], tuple[list[str], str] | None]] = [
    ({"name": "x' OR '1'='1"}, None),
    ({"name__contains": "%' ; DROP TABLE deal; --"}, None),
    ({"stage": 'won"; DROP TABLE deal; --'}, (["query", "stage"], "query.bad_value")),
    ({"amount__gt": "0) OR 1=1 --"}, (["query", "amount__gt"], "query.bad_value")),
    ({"name; DROP TABLE deal": "x"}, (["query", "name; DROP TABLE deal"], "query.unknown_field")),
    ({"amount__gt); DROP TABLE deal; --": "1"}, (["query", "amount__gt); DROP TABLE deal; --"], "query.unknown_op")),
    ({"sort": "amount; DROP TABLE deal"}, (["query", "sort"], "query.unknown_field")),
    ({"sort": "-(select 1)"}, (["query", "sort"], "query.unknown_field")),
    ({"fields": "name,(select password_hash from lw_user)"}, (["query", "fields"], "query.unknown_field")),
    ({"cursor": "eyJzIjpbImlkIl0sInYiOlsiMSBPUiAxPTEiXX0"}, (["query", "cursor"], "query.bad_value")),
    ({"cursor": "!!!not-base64"}, (["query", "cursor"], "query.bad_cursor")),
    ({"limit": "1; DROP TABLE deal"}, (["query", "limit"], "query.bad_value")),
    ({"limit": "100000"}, (["query", "limit"], "query.bad_limit")),
    ({"stage__regex": "x"}, (["query", "stage__regex"], "query.unknown_op")),
    ({"amount__in": ",".join(["1"] * 600)}, (["query", "amount__in"], "query.bad_value")),
]


@pytest.mark.parametrize(("params", "refused"), INJECTIONS)
def test_injection_in_filters_and_sort_is_inert(
    client: TestClient, params: dict[str, str], refused: tuple[list[str], str] | None
) -> None:
    r = client.get("/api/v1/deal", params=params)
    if refused is None:
        assert (r.status_code, r.json()["data"]) == (200, []), r.text
    else:
        error = assert_envelope(r, 422)[0]
        assert (error["loc"], error["code"]) == refused
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


#: Values Python's own parsers would read (or misread: `1,5` as 15) that the API refuses.
MISREAD_VALUES = [
    ("amount", "1,5"),
    ("amount", "1,50"),
    ("amount", "1,000.00"),
    ("amount", "\uff11\uff12"),
    ("amount", "\u0661\u0662\u066b\u0665"),
    ("amount", "1_000"),
    ("amount", " 12"),
    ("amount", "1e3"),
]


@pytest.mark.parametrize(("key", "raw"), MISREAD_VALUES)
def test_a_number_in_another_form_is_a_located_422_and_nothing_is_stored(
    client: TestClient, key: str, raw: str
) -> None:
    kept = client.get("/api/v1/deal").json()["data"][0]
    for r in (
        client.post("/api/v1/deal", json={"name": "x", key: raw}),
        client.post("/api/v1/deal/bulk", json=[{"name": "y"}, {"name": "x", key: raw}]),
        client.patch(f"/api/v1/deal/{kept['id']}", json={key: raw}),
        client.post("/api/v1/deal", json={"name": "x", "lines": [{"product": "p", "price": raw}]}),
    ):
        (error,) = assert_envelope(r, 422, "type.currency")
        assert error["loc"][-1] in (key, "price")
        assert error["msg"].startswith("expected a number such as -1234.56 (ASCII digits")
    assert client.get("/api/v1/deal").json()["data"] == [kept]


@pytest.mark.parametrize(
    ("key", "raw", "code"),
    [
        ("founded", "20240105", "type.date"),
        ("founded", "2024-W01-1", "type.date"),
        ("founded", "2024-005", "type.date"),
        ("last_contact", "20240105T100000Z", "type.datetime"),
        ("last_contact", "2024-01-05T10:00:00+0800", "type.datetime"),
        ("employees", "\u0661\u0662", "type.integer"),
        ("employees", "1,000", "type.integer"),
        ("parent_id", "\uff11", "type.lookup"),
    ],
)
def test_dates_and_whole_numbers_in_other_forms_are_located_422s(
    client: TestClient, key: str, raw: str, code: str
) -> None:
    (error,) = assert_envelope(client.post("/api/v1/company", json={"name": "x", key: raw}), 422, code)
    assert error["loc"] == ["body", key]
    assert client.get("/api/v1/company").json()["data"] == []


def test_the_documented_forms_are_stored_exactly(client: TestClient) -> None:
    body = {
        "name": "x",
        "revenue": "-1234.56",
        "rating": 2.5,
        "employees": "12",
        "founded": "2024-01-05",
        "last_contact": "2024-01-05T10:00:00.5+08:00",
    }
    r = client.post("/api/v1/company", json=body)
    assert r.status_code == 201, r.text
    got = r.json()["data"]
    assert (got["revenue"], got["rating"], got["employees"]) == ("-1234.56", "2.500", 12)
    assert (got["founded"], got["last_contact"]) == ("2024-01-05", "2024-01-05T02:00:00.500000Z")


@pytest.mark.parametrize(
    "params",
    [
        {"amount__gt": "1,5"},
        {"amount__in": "\uff11,2"},
        {"amount": " 5"},
        {"created_at__gt": "20240105T000000Z"},
        {"id__gt": "\u0661"},
        {"limit": "\uff11\uff10"},
        {"limit": "1_0"},
        {"name__isnull": "yes"},
        {"name__isnull": ""},
        {"name__isnull": "maybe"},
    ],
)
def test_query_values_in_another_form_are_422s_naming_the_parameter(client: TestClient, params: dict[str, str]) -> None:
    (name,) = params
    (error,) = assert_envelope(client.get("/api/v1/deal", params=params), 422, "query.bad_value")
    assert error["loc"] == ["query", name]


def test_search_by_id_takes_ascii_digits_only(db_url: str, tmp_path: Path) -> None:
    blueprint = tmp_path / "tally.yaml"
    blueprint.write_text("app: {name: tally}\nobjects:\n  tally:\n    fields:\n      n: {type: integer}\n")
    store = make_store(db_url, blueprint)
    with api_client(store) as c:
        assert c.post("/api/v1/tally/bulk", json=[{"n": i} for i in range(12)]).status_code == 201
        assert [t["id"] for t in c.get("/api/v1/tally", params={"q": "12"}).json()["data"]] == [12]
        assert c.get("/api/v1/tally", params={"q": "\u0661\u0662"}).json()["data"] == []
    store.db.dispose()


def test_if_match_takes_ascii_digits_only(client: TestClient) -> None:
    kept = client.get("/api/v1/deal").json()["data"][0]
    # Headers arrive as latin-1: b"\xb2" is '²', which str.isdigit() takes and int() refuses.
    for tag in (b"\xb2", "\u0661".encode(), b'"1_0"', b"9" * 5000):
        r = client.patch(f"/api/v1/deal/{kept['id']}", json={"name": "z"}, headers={"If-Match": tag})
        assert_envelope(r, 422, "header.invalid")
    assert client.get("/api/v1/deal").json()["data"] == [kept]


#: Text-like fields of `company` (tests/everything.yaml) with a value that is valid but for its NUL.
NUL_VALUES = {
    "name": "A\x00",
    "notes": "line\x00",
    "email": "a\x00b@example.com",
    "phone": "+86 21\x00",
    "website": "https://example.com/\x00",
}


@pytest.mark.parametrize(("key", "raw"), NUL_VALUES.items())
def test_nul_in_text_is_a_422_on_every_write_path_on_both_databases(client: TestClient, key: str, raw: str) -> None:
    company = client.post("/api/v1/company", json={"name": "Kept"}).json()["data"]
    body = {"name": "New", key: raw}
    for r in (
        client.post("/api/v1/company", json=body),
        client.post("/api/v1/company/bulk", json=[{"name": "Ok"}, body]),
        client.patch(f"/api/v1/company/{company['id']}", json={key: raw}),
    ):
        errors = assert_envelope(r, 422)
        assert [(e["loc"][-1], e["code"]) for e in errors] == [(key, "field.invalid")], errors
    assert client.get("/api/v1/company").json()["data"] == [company]


def test_nul_in_a_line_and_in_a_file_name_is_a_422(db_url: str, tmp_path: Path) -> None:
    store = make_store(db_url, files_dir=tmp_path / "files")
    with api_client(store) as c:
        deal = c.post("/api/v1/deal", json={"name": "d", "lines": [{"product": "p"}]}).json()["data"]
        line = deal["lines"][0]
        r = c.patch(f"/api/v1/deal/{deal['id']}", json={"lines": [{"id": line["id"], "product": "p\x00"}]})
        (error,) = assert_envelope(r, 422, "field.invalid")
        assert error["loc"] == ["body", "lines", 0, "product"]
        company = c.post("/api/v1/company", json={"name": "A"}).json()["data"]
        url = f"/api/v1/company/{company['id']}/files/contract"
        pdf = {"content": b"%PDF-1.4 x", "headers": {"Content-Type": "application/pdf"}}
        (error,) = assert_envelope(c.put(url, params={"name": "a\x00.pdf"}, **pdf), 422, "query.bad_value")
        assert error["loc"] == ["query", "name"]
        assert c.get(f"/api/v1/company/{company['id']}").json()["data"]["contract"] is None
        assert c.get(f"/api/v1/deal/{deal['id']}").json()["data"]["lines"] == [line]
    store.db.dispose()


def test_content_length_takes_ascii_digits_only(client: TestClient) -> None:
    body = b'{"name": "x"}'
    r = client.post("/api/v1/deal", content=body, headers={"Content-Length": b"\xb2"})  # latin-1 '2' superscript
    assert_envelope(r, 422, "header.invalid")
    r = client.post("/api/v1/deal", content=body, headers={"Content-Length": b"9" * 5000})
    assert_envelope(r, 413, "payload.too_large")
    assert [d["name"] for d in client.get("/api/v1/deal").json()["data"]] == ["keep"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-01:00"])
def test_a_moment_before_year_1_or_after_9999_in_utc_is_a_422(client: TestClient, moment: str) -> None:
    """Such a moment parses with its offset but cannot be held in UTC: it was a 500."""
    r = client.post("/api/v1/company", json={"name": "early", "last_contact": moment})
    (error,) = assert_envelope(r, 422, "type.datetime")
    assert error["loc"] == ["body", "last_contact"]
    r = client.get("/api/v1/company", params={"last_contact__gt": moment})
    (error,) = assert_envelope(r, 422, "query.bad_value")
