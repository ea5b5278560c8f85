"""The REST API over a real store, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import EVERYTHING, api_client, make_store

PDF = b"%PDF-1.4\n%test\n"


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    store = make_store(db_url, files_dir=tmp_path / "files")
    with api_client(store) as c:
        yield c
    store.db.dispose()


def created(client: TestClient, obj: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/api/v1/{obj}", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def test_crud_round_trip(client: TestClient) -> None:
    rec = created(
        client,
        "company",
        {
            "name": "Acme",
            "revenue": "1234.50",
            "founded": "2001-02-03",
            "tags": ["vip"],
            "last_contact": "2026-01-01T08:00:00+08:00",
        },
    )
    assert rec["revenue"] == "1234.50" and rec["last_contact"] == "2026-01-01T00:00:00Z"
    assert rec["version"] == 1 and rec["number"].endswith("0001")
    r = client.get(f"/api/v1/company/{rec['id']}")
    assert r.status_code == 200 and r.headers["etag"] == '"1"' and r.json()["data"] == rec
    r = client.patch(f"/api/v1/company/{rec['id']}", json={"revenue": 99.99, "version": 1})
    assert r.status_code == 200 and r.json()["data"]["revenue"] == "99.99" and r.json()["data"]["version"] == 2
    r = client.delete(f"/api/v1/company/{rec['id']}")
    assert r.status_code == 200 and r.json()["ok"] is True
    assert client.get(f"/api/v1/company/{rec['id']}").status_code == 404
    r = client.post(f"/api/v1/company/{rec['id']}/restore")
    assert r.status_code == 200 and r.json()["data"]["revenue"] == "99.99"
    history = client.get(f"/api/v1/company/{rec['id']}/history").json()["data"]
    assert [h["action"] for h in history] == ["create", "update", "delete", "restore"]


def test_stale_version_gets_409_with_current_record(client: TestClient) -> None:
    rec = created(client, "company", {"name": "A"})
    assert (
        client.patch(f"/api/v1/company/{rec['id']}", json={"name": "B"}, headers={"If-Match": '"1"'}).status_code == 200
    )
    r = client.patch(f"/api/v1/company/{rec['id']}", json={"name": "C"}, headers={"If-Match": '"1"'})
    assert r.status_code == 409
    body = r.json()
    assert body["ok"] is False and body["errors"][0]["code"] == "record.stale"
    assert body["current"]["name"] == "B" and body["current"]["version"] == 2
    r = client.patch(f"/api/v1/company/{rec['id']}", json={"name": "C", "version": 1})
    assert r.status_code == 409


def test_list_filter_sort_page_fields_total(client: TestClient) -> None:
    rows = [{"name": f"d{i:02d}", "amount": str(1000 * i), "stage": ["new", "won", "lost"][i % 3]} for i in range(40)]
    r = client.post("/api/v1/deal/bulk", json=rows)
    assert r.status_code == 201 and r.json()["count"] == 40
    r = client.get(
        "/api/v1/deal",
        params={
            "stage": "won",
            "amount__gt": "10000",
            "sort": "-amount",
            "limit": 5,
            "with_total": "true",
            "fields": "name,amount",
        },
    )
    body = r.json()
    assert r.status_code == 200
    assert [d["name"] for d in body["data"]] == ["d37", "d34", "d31", "d28", "d25"]
    assert set(body["data"][0]) == {"id", "name", "amount"}
    assert body["total"] == 9
    r2 = client.get(
        "/api/v1/deal",
        params={
            "stage": "won",
            "amount__gt": "10000",
            "sort": "-amount",
            "limit": 5,
            "fields": "name,amount",
            "cursor": body["next_cursor"],
        },
    )
    assert [d["name"] for d in r2.json()["data"]] == ["d22", "d19", "d16", "d13"]
    assert r2.json()["next_cursor"] is None
    r = client.get("/api/v1/deal", params={"stage__in": "won,lost", "name__startswith": "d1", "limit": 100})
    assert sorted(d["name"] for d in r.json()["data"]) == ["d10", "d11", "d13", "d14", "d16", "d17", "d19"]


def test_aggregate_groups_in_the_database(client: TestClient) -> None:
    client.post(
        "/api/v1/deal/bulk",
        json=[{"name": f"d{i}", "amount": "0.10", "stage": ["new", "won"][i % 2]} for i in range(10)],
    )
    r = client.get("/api/v1/deal/aggregate", params={"group_by": "stage", "metrics": "count,sum:amount,max:amount"})
    assert r.json()["data"] == [
        {"stage": "new", "count": 5, "sum_amount": "0.50", "max_amount": "0.10"},
        {"stage": "won", "count": 5, "sum_amount": "0.50", "max_amount": "0.10"},
    ]


def test_child_lines_nested_in_the_parent(client: TestClient) -> None:
    deal = created(client, "deal", {"name": "d", "lines": [{"product": "a", "price": "1.10"}, {"product": "b"}]})
    assert [(line["product"], line["price"]) for line in deal["lines"]] == [("a", "1.10"), ("b", None)]
    r = client.patch(f"/api/v1/deal/{deal['id']}", json={"lines": [{"product": "z", "quantity": 0}]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "lines", 0, "quantity"]


def test_attachment_upload_is_checked(client: TestClient) -> None:
    rec = created(client, "company", {"name": "A"})
    url = f"/api/v1/company/{rec['id']}/files/contract"
    r = client.put(url + "?name=deal.pdf", content=PDF, headers={"Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    meta = r.json()["data"]["contract"]
    assert meta["name"] == "deal.pdf" and meta["size"] == len(PDF)
    got = client.get(url)
    assert got.content == PDF and got.headers["content-type"] == "application/pdf"
    assert client.put(url, content=b"MZ....", headers={"Content-Type": "application/pdf"}).status_code == 422
    assert client.put(url, content=PDF, headers={"Content-Type": "image/png"}).status_code == 422
    assert (
        client.put(url, content=b"%PDF-" + b"x" * 2000, headers={"Content-Type": "application/pdf"}).status_code == 413
    )
    assert client.post("/api/v1/company", json={"name": "B", "contract": {"name": "x"}}).status_code == 422


def test_openapi_is_generated_from_the_blueprint(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert {"company", "company_create", "deal", "deal_line", "Error"} <= set(schemas)
    props = schemas["company"]["properties"]
    assert props["revenue"]["format"] == "decimal" and props["parent_id"]["type"] == ["integer", "null"]
    assert props["size"]["enum"] == ["small", "medium", "large"]
    assert schemas["company_create"]["required"] == ["name"]
    assert "number" not in schemas["company_create"]["properties"]
    assert "/api/v1/deal/{record_id}" in doc["paths"]
    shared = doc["components"]["parameters"]
    params = doc["paths"]["/api/v1/deal"]["get"]["parameters"]
    names = {(shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p)["name"] for p in params}
    assert {"amount__gt", "stage__in", "sort", "cursor"} <= names


def test_home_page_lists_objects(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "Company" in r.text and 'href="/app/deal"' in r.text


def test_home_page_escapes_the_blueprints_labels(db_url: str, tmp_path: Path) -> None:
    """A label is the blueprint author's text, never markup: it reaches the page escaped."""
    source = EVERYTHING.read_text().replace(
        "label: {en: Company, zh: 公司}", 'label: {en: "<script>x()</script> & Co"}'
    )
    blueprint = tmp_path / "labels.yaml"
    blueprint.write_text(source)
    store = make_store(db_url, blueprint)
    with api_client(store) as c:
        r = c.get("/")
    store.db.dispose()
    assert r.status_code == 200
    assert "&lt;script&gt;x()&lt;/script&gt; &amp; Co" in r.text and "<script>x()" not in r.text
