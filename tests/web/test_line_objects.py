"""Line objects (quote_line) written on their own through the API, on SQLite and PostgreSQL:
parent required, positions appended after the parent's last line, problems located by row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.store.records import Store
from tests.helpers import api_client, make_store

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"


@pytest.fixture
def crm(db_url: str) -> Iterator[tuple[TestClient, Store]]:
    store = make_store(db_url, CRM)
    with api_client(store) as client:
        yield client, store
    store.db.dispose()


def _created(client: TestClient, obj: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/api/v1/{obj}", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


@pytest.fixture
def quotes(crm: tuple[TestClient, Store]) -> dict[str, int]:
    """Two quotes, the first with two lines, and a product (floor price 100)."""
    client, _ = crm
    account = _created(client, "account", {"name": "湘江传媒", "industry": "media"})
    opp = _created(client, "opportunity", {"name": "升级", "account_id": account["id"], "amount": "1000"})
    product = _created(client, "product", {"name": "GTX", "list_price": "120", "floor_price": "100"})
    line = {"product_id": product["id"], "quantity": "1", "unit_price": "120"}
    head = {"opportunity_id": opp["id"], "account_id": account["id"]}
    first = _created(client, "quote", {"name": "Q1", **head, "lines": [line, line]})
    second = _created(client, "quote", {"name": "Q2", **head})
    return {"first": first["id"], "second": second["id"], "product": product["id"], "opp": opp["id"]}


def _line(quotes: dict[str, int], quote: str | None, price: str = "120") -> dict[str, Any]:
    body: dict[str, Any] = {"product_id": quotes["product"], "quantity": "1", "unit_price": price}
    if quote is not None:
        body["quote_id"] = quotes[quote]
    return body


def _positions(client: TestClient, quote_id: int) -> list[int]:
    return [line["position"] for line in client.get(f"/api/v1/quote/{quote_id}").json()["data"]["lines"]]


def test_bulk_lines_for_two_parents_append_after_each_parents_last_line(
    crm: tuple[TestClient, Store], quotes: dict[str, int]
) -> None:
    client, _ = crm
    rows = [_line(quotes, "first"), _line(quotes, "second"), _line(quotes, "first"), _line(quotes, "second")]
    r = client.post("/api/v1/quote_line/bulk", json=rows)
    assert r.status_code == 201, r.text
    assert _positions(client, quotes["first"]) == [0, 1, 2, 3]
    assert _positions(client, quotes["second"]) == [0, 1]
    totals = [client.get(f"/api/v1/quote/{quotes[q]}").json()["data"]["total"] for q in ("first", "second")]
    assert totals == ["480.00", "240.00"]


@pytest.mark.parametrize("rows", [1, 3])
def test_bulk_lines_without_parent_get_422_at_each_row(
    crm: tuple[TestClient, Store], quotes: dict[str, int], rows: int
) -> None:
    client, _ = crm
    body = [_line(quotes, None if i != 1 else "first") for i in range(rows)]
    r = client.post("/api/v1/quote_line/bulk", json=body)
    assert r.status_code == 422, r.text
    expected = [["body", i, "quote_id"] for i in range(rows) if i != 1]
    assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [(loc, "field.required") for loc in expected]
    assert _positions(client, quotes["first"]) == [0, 1]


def test_line_created_on_its_own_goes_last_and_is_answered_with_its_position(
    crm: tuple[TestClient, Store], quotes: dict[str, int]
) -> None:
    client, _ = crm
    line = _created(client, "quote_line", _line(quotes, "first"))
    assert line["position"] == 2
    assert _created(client, "quote_line", _line(quotes, "second"))["position"] == 0
    placed = _created(client, "quote_line", {**_line(quotes, "first"), "position": 7})
    assert placed["position"] == 7
    assert _positions(client, quotes["first"]) == [0, 1, 2, 7]
    r = client.patch(f"/api/v1/quote_line/{line['id']}", json={"position": None})
    assert (r.status_code, r.json()["errors"][0]["loc"]) == (422, ["body", "position"])


def test_line_moved_to_another_parent_goes_last_there_and_both_totals_follow(
    crm: tuple[TestClient, Store], quotes: dict[str, int]
) -> None:
    client, _ = crm
    _created(client, "quote_line", _line(quotes, "second"))
    moving = client.get(f"/api/v1/quote/{quotes['first']}").json()["data"]["lines"][0]
    r = client.patch(f"/api/v1/quote_line/{moving['id']}", json={"quote_id": quotes["second"]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["position"] == 1
    totals = [client.get(f"/api/v1/quote/{quotes[q]}").json()["data"]["total"] for q in ("first", "second")]
    assert totals == ["120.00", "240.00"]


def test_restored_line_keeps_its_position(crm: tuple[TestClient, Store], quotes: dict[str, int]) -> None:
    client, _ = crm
    first, second = client.get(f"/api/v1/quote/{quotes['first']}").json()["data"]["lines"]
    assert client.delete(f"/api/v1/quote_line/{first['id']}").status_code == 200
    r = client.post(f"/api/v1/quote_line/{first['id']}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["position"] == 0
    assert [line["id"] for line in client.get(f"/api/v1/quote/{quotes['first']}").json()["data"]["lines"]] == [
        first["id"],
        second["id"],
    ]


def test_bulk_parents_locate_line_problems_at_their_row(crm: tuple[TestClient, Store], quotes: dict[str, int]) -> None:
    client, _ = crm
    quote = client.get(f"/api/v1/quote/{quotes['second']}").json()["data"]
    head = {"opportunity_id": quote["opportunity_id"], "account_id": quote["account_id"]}
    ok = {"name": "fine", **head, "lines": [_line(quotes, None)]}
    cheap = {"name": "cheap", **head, "lines": [_line(quotes, None), _line(quotes, None, price="50")]}
    r = client.post("/api/v1/quote/bulk", json=[ok, cheap])
    assert r.status_code == 422, r.text
    assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [
        (["body", 1, "lines", 1, "discount"], "rule.below_floor_price")
    ]


def test_openapi_says_a_line_names_its_parent_and_position_is_a_number(crm: tuple[TestClient, Store]) -> None:
    client, _ = crm
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "quote_id" in schemas["quote_line_create"]["required"]
    assert schemas["quote_line"]["properties"]["position"]["type"] == "integer"
    assert schemas["quote"]["properties"]["lines"]["items"] == {"$ref": "#/components/schemas/quote_line"}
    assert set(schemas["Error"]["properties"]) == {"ok", "errors", "current", "truncated", "total"}
