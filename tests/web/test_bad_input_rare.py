"""Rare bad input (found by schemathesis over the OpenAPI document) gets a located 4xx, never a 500,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.helpers import api_client, make_store


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    store = make_store(db_url, files_dir=tmp_path / "files")
    with api_client(store) as c:
        yield c
    store.db.dispose()


@pytest.fixture
def sqlite_client(sqlite_url: str) -> Iterator[TestClient]:
    """For what no database decides (headers)."""
    store = make_store(sqlite_url)
    with api_client(store) as c:
        yield c
    store.db.dispose()


def problems(r: Any, status: int = 422) -> list[tuple[list[Any], str]]:
    assert r.status_code == status, r.text
    return [(e["loc"], e["code"]) for e in r.json()["errors"]]


def test_the_trash_of_an_unknown_object_is_a_422_naming_the_closest(client: TestClient) -> None:
    r = client.get("/api/v1/trash", params={"object": "compnay"})
    assert problems(r) == [(["query", "object"], "query.unknown_object")]
    assert "did you mean 'company'?" in r.json()["errors"][0]["msg"]
    assert problems(client.get("/api/v1/trash", params={"object": "a\x00b"})) == [
        (["query", "object"], "query.bad_value")
    ]
    created = client.post("/api/v1/company", json={"name": "Gone"}).json()["data"]
    client.delete(f"/api/v1/company/{created['id']}")
    r = client.get("/api/v1/trash", params={"object": "company"})
    assert r.status_code == 200 and [e["record_id"] for e in r.json()["data"]] == [created["id"]]
    assert client.get("/api/v1/trash", params={"object": ""}).json()["data"] == r.json()["data"]


@pytest.mark.parametrize("target", ["user_id", "team_id"])
def test_sharing_with_an_id_beyond_64_bits_is_a_422(client: TestClient, target: str) -> None:
    created = client.post("/api/v1/company", json={"name": "Shared"}).json()["data"]
    r = client.post(f"/api/v1/company/{created['id']}/shares", json={target: 2**63})
    assert problems(r) == [(["body", target], "type.integer")]
    assert client.get(f"/api/v1/company/{created['id']}/shares").json()["data"] == []


def test_a_line_position_beyond_32_bits_is_a_422_at_the_position(client: TestClient) -> None:
    deal = client.post("/api/v1/deal", json={"name": "D", "lines": [{"product": "P"}]}).json()["data"]
    line = deal["lines"][0]
    r = client.patch(f"/api/v1/deal_line/{line['id']}", json={"position": 2**31})
    assert problems(r) == [(["body", "position"], "type.integer")]
    r = client.post("/api/v1/deal_line", json={"deal_id": deal["id"], "product": "Q", "position": 2**31})
    assert problems(r) == [(["body", "position"], "type.integer")]
    r = client.patch(f"/api/v1/deal_line/{line['id']}", json={"position": 2**31 - 1})
    assert r.status_code == 200 and r.json()["data"]["position"] == 2**31 - 1


def test_a_file_name_with_control_characters_is_a_422_and_nothing_is_stored(client: TestClient) -> None:
    created = client.post("/api/v1/company", json={"name": "Files"}).json()["data"]
    url = f"/api/v1/company/{created['id']}/files/contract"
    pdf = {"content": b"%PDF-1.4\n", "headers": {"Content-Type": "application/pdf"}}
    assert problems(client.put(url, params={"name": "signed\x00.pdf"}, **pdf)) == [
        (["query", "name"], "query.bad_value")
    ]
    assert problems(client.put(url, params={"name": "signed\n.pdf"}, **pdf)) == [(["query", "name"], "file.name")]
    assert client.get(f"/api/v1/company/{created['id']}").json()["data"]["contract"] is None
    r = client.put(url, params={"name": "签署合同.pdf"}, **pdf)
    assert r.status_code == 200 and r.json()["data"]["contract"]["name"] == "签署合同.pdf"


def test_an_upload_whose_content_type_is_not_a_media_type_is_a_422_at_the_header(client: TestClient) -> None:
    created = client.post("/api/v1/company", json={"name": "Files"}).json()["data"]
    r = client.put(
        f"/api/v1/company/{created['id']}/files/contract", content=b"%PDF-1.4\n", headers={"Content-Type": "pdf"}
    )
    assert problems(r) == [(["header", "content-type"], "file.type")]


def raw_request(client: TestClient, method: str, url: str, headers: dict[str, bytes], body: bytes = b"") -> Any:
    """A request whose header bytes reach the app as sent (TestClient re-encodes them as UTF-8),
    as bytes beyond ASCII do through a real HTTP server."""

    async def send() -> Any:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, url, headers={**client.headers, **headers}, content=body)

    return anyio.run(send)


def test_if_match_and_content_length_with_digits_beyond_ascii_are_a_422(sqlite_client: TestClient) -> None:
    client = sqlite_client
    created = client.post("/api/v1/company", json={"name": "Versioned"}).json()["data"]
    url = f"/api/v1/company/{created['id']}"
    body = b'{"name": "changed"}'
    json_type = {"Content-Type": b"application/json"}
    r = raw_request(client, "PATCH", url, {"If-Match": b'"\xb2"', **json_type}, body)
    assert problems(r) == [(["header", "if-match"], "header.invalid")]
    r = raw_request(client, "PATCH", url, {"Content-Length": b"\xb2", **json_type}, body)
    assert problems(r) == [(["header", "content-length"], "header.invalid")]
    r = raw_request(client, "PATCH", url, {"If-Match": b'"1"', **json_type}, body)
    assert r.status_code == 200 and r.json()["data"]["name"] == "changed"


def test_an_empty_bulk_creates_nothing(client: TestClient) -> None:
    r = client.post("/api/v1/note/bulk", json=[])  # an object never written to: no id sequence yet
    assert r.status_code == 201 and r.json() == {"ok": True, "ids": [], "count": 0}
    assert client.get("/api/v1/note").json()["data"] == []


def test_a_version_or_position_filter_beyond_32_bits_is_a_422(client: TestClient) -> None:
    r = client.get("/api/v1/company", params={"version__gt": 2**31})
    assert problems(r) == [(["query", "version__gt"], "query.bad_value")]
    r = client.get("/api/v1/deal_line", params={"position__in": f"1,{2**40}"})
    assert problems(r) == [(["query", "position__in"], "query.bad_value")]
    assert client.get("/api/v1/company", params={"version__lt": 2**31 - 1}).status_code == 200
