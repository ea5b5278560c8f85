"""History rows keep every field type's old and new values as the API shows them, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.store.records import Store
from tests.helpers import api_client, make_store

PDF_A = b"%PDF-1.4\n%first\n"
PDF_B = b"%PDF-1.4\n%second version\n"

#: company field -> (value on create, value after the change); every settable type of everything.yaml.
CHANGES: dict[str, tuple[Any, Any]] = {
    "name": ("Acme", "Acme 华东"),
    "code": ("AAA", "BBB"),
    "notes": ("one", "one\ntwo"),
    "employees": (5, 6),
    "rating": ("1.5", "2.125"),
    "revenue": ("10.00", "20.50"),
    "margin": ("0.1", "0.25"),
    "active": (True, False),
    "founded": ("2020-01-01", "2021-02-03"),
    "last_contact": ("2026-01-31T09:30:00+08:00", "2026-02-01T10:00:00Z"),
    "size": ("small", "large"),
    "tags": (["vip"], ["vip", "partner"]),
    "email": ("a@acme.example", "b@acme.example"),
    "phone": ("+86 21 5555 0100", "+86 21 5555 0199"),
    "website": ("https://acme.example", "https://acme.example/about"),
}


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    s = make_store(db_url, files_dir=tmp_path / "files")
    yield s
    s.db.dispose()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with api_client(store) as c:
        yield c


def _data(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()["data"]


def _changes(client: TestClient, obj: str, record_id: int) -> dict[str, tuple[Any, Any]]:
    rows = _data(client.get(f"/api/v1/{obj}/{record_id}/history"))
    return {r["field"]: (r["old"], r["new"]) for r in rows if r["action"] == "update"}


def test_history_after_changing_a_field_of_every_type(client: TestClient, store: Store) -> None:
    from engine.auth.directory import AuthDb
    from engine.auth.users import Users

    users = Users(AuthDb(store.db))
    other_user = users.create_user("manager@example.com", "Manager", "admin")
    me = users.get("admin@example.com").id
    parent_a = _data(client.post("/api/v1/company", json={"name": "Parent A"}), 201)
    parent_b = _data(client.post("/api/v1/company", json={"name": "Parent B"}), 201)
    initial = {k: v[0] for k, v in CHANGES.items()} | {"parent_id": parent_a["id"], "manager_id": me}
    rec = _data(client.post("/api/v1/company", json=initial), 201)
    url = f"/api/v1/company/{rec['id']}"
    _data(client.put(f"{url}/files/contract?name=a.pdf", content=PDF_A, headers={"Content-Type": "application/pdf"}))
    before = _data(client.get(url))
    changed = {k: v[1] for k, v in CHANGES.items()} | {"parent_id": parent_b["id"], "manager_id": other_user.id}
    _data(client.patch(url, json=changed))
    _data(client.put(f"{url}/files/contract?name=b.pdf", content=PDF_B, headers={"Content-Type": "application/pdf"}))
    after = _data(client.get(url))

    history = _changes(client, "company", rec["id"])
    for field in [*changed, "contract"]:
        assert history[field] == (before[field], after[field]), field
    assert history["employees"] == (5, 6) and history["parent_id"] == (parent_a["id"], parent_b["id"])
    assert history["rating"] == ("1.500", "2.125") and history["active"] == (True, False)
    assert history["contract"][1]["name"] == "b.pdf"


def test_history_of_child_lines_and_lookups(client: TestClient) -> None:
    first = _data(client.post("/api/v1/company", json={"name": "A"}), 201)
    second = _data(client.post("/api/v1/company", json={"name": "B"}), 201)
    deal = _data(
        client.post(
            "/api/v1/deal",
            json={"name": "d", "company_id": first["id"], "lines": [{"product": "p", "quantity": 1, "price": "1.10"}]},
        ),
        201,
    )
    line = deal["lines"][0]
    body = {"company_id": second["id"], "amount": 7, "lines": [{"id": line["id"], "quantity": 3, "price": "2"}]}
    _data(client.patch(f"/api/v1/deal/{deal['id']}", json=body))
    assert _changes(client, "deal", deal["id"])["company_id"] == (first["id"], second["id"])
    assert _changes(client, "deal", deal["id"])["amount"] == (None, "7.00")
    assert _changes(client, "deal_line", line["id"]) == {"quantity": (1, 3), "price": ("1.10", "2.00")}


def test_deleted_and_restored_snapshots_read_back_with_every_value(client: TestClient) -> None:
    rec = _data(client.post("/api/v1/company", json={k: v[0] for k, v in CHANGES.items()}), 201)
    assert client.delete(f"/api/v1/company/{rec['id']}").status_code == 200
    _data(client.post(f"/api/v1/company/{rec['id']}/restore"))
    rows = _data(client.get(f"/api/v1/company/{rec['id']}/history"))
    deleted = next(r["old"] for r in rows if r["action"] == "delete")
    assert {k: deleted[k] for k in rec if k != "lines"} == rec
    assert deleted["number"] == rec["number"] and deleted["employees"] == 5


def test_numbers_stored_by_an_older_sqlite_schema_still_read(tmp_path: Path) -> None:
    """Databases made before the fix declared these columns JSON (NUMERIC affinity on SQLite), which
    stored a bare number as an SQL number; such rows read back as the number."""
    store = make_store(f"sqlite:///{tmp_path / 'old.db'}")
    rec = store.create("company", {"name": "A", "employees": 5})
    with store.db.write() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO lw_history (object, record_id, action, field, old, new, at) "
                "VALUES ('company', :id, 'update', 'employees', 5, 6.5, '2026-01-01 00:00:00')"
            ),
            {"id": rec["id"]},
        )
    rows = store.history("company", rec["id"])
    assert (rows[-1]["old"], rows[-1]["new"]) == (5, 6.5)
    store.db.dispose()
