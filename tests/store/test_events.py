"""After-commit hooks (engine/store/events.py), on SQLite and PostgreSQL: every committed change
told exactly once, after commit, a bulk create in one call, a failing hook never failing the write."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from engine.errors import InputInvalid, NotFound
from engine.store.events import Change
from engine.store.records import Store
from tests.helpers import api_client, make_store

PDF = b"%PDF-1.4\n%test\n"


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    s = make_store(db_url, files_dir=tmp_path / "files")
    yield s
    s.db.dispose()


class Told:
    """A hook that keeps (action, object, ids) of every change, and what a new connection saw."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.changes: list[tuple[str, str, tuple[int, ...]]] = []
        self.seen: list[bool] = []
        store.after_commit.append(self)

    def __call__(self, store: Store, change: Change) -> None:
        self.changes.append((change.action, change.object, change.ids))
        try:  # from a connection of its own: only committed data is visible there
            store.get(change.object, change.ids[0])
            self.seen.append(True)
        except NotFound:
            self.seen.append(False)

    def take(self) -> list[tuple[str, str, tuple[int, ...]]]:
        out, self.changes, self.seen = self.changes, [], []
        return out


def test_each_write_is_told_once_after_it_committed(store: Store) -> None:
    told = Told(store)
    company = store.create("company", {"name": "A"})
    assert (told.changes, told.seen) == ([("create", "company", (company["id"],))], [True])
    told.take()
    store.update("company", company["id"], {"name": "B", "employees": 3})
    assert (told.changes, told.seen) == ([("update", "company", (company["id"],))], [True])
    told.take()
    store.delete("company", company["id"])
    assert (told.changes, told.seen) == ([("delete", "company", (company["id"],))], [False])
    told.take()
    store.restore("company", company["id"])
    assert (told.changes, told.seen) == ([("restore", "company", (company["id"],))], [True])


def test_refused_and_empty_writes_tell_nothing(store: Store) -> None:
    company = store.create("company", {"name": "A", "code": "AAA"})
    told = Told(store)
    with pytest.raises(InputInvalid):
        store.create("company", {"name": "B", "code": "AAA"})
    with pytest.raises(InputInvalid):
        store.create_many("company", [{"name": "C"}, {"name": "D", "employees": -1}])
    store.update("company", company["id"], {"name": "A"})  # nothing changes
    assert told.changes == []


def test_a_bulk_create_is_one_call_with_every_id_and_no_read_per_row(store: Store) -> None:
    told = Told(store)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    store.create_many("company", [{"name": "warm-up"}])  # the autonumber's sequence row exists from here
    told.changes.clear()
    event.listen(store.db.engine, "before_cursor_execute", count)
    try:
        small = store.create_many("company", [{"name": f"s{i}"} for i in range(10)])
        for_small = len(statements)
        statements.clear()
        large = store.create_many("company", [{"name": f"l{i}"} for i in range(900)])
    finally:
        event.remove(store.db.engine, "before_cursor_execute", count)
    assert [c[:2] for c in told.changes] == [("create", "company"), ("create", "company")]
    assert told.changes[0][2] == tuple(small) and told.changes[1][2] == tuple(large)
    told.seen.clear()
    assert len(statements) == for_small  # 900 rows cost what 10 cost (each count holds one read by the hook)


def test_a_failing_hook_is_logged_and_the_write_stands(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    def broken(store: Store, change: Change) -> None:
        raise RuntimeError("webhook endpoint down")

    store.after_commit.append(broken)
    told = Told(store)
    with caplog.at_level(logging.ERROR, logger="loomwork.store"):
        created = store.create("company", {"name": "A"})
        ids = store.create_many("company", [{"name": "B"}, {"name": "C"}])
    assert store.get("company", created["id"])["name"] == "A"
    assert [c[2] for c in told.changes] == [(created["id"],), tuple(ids)]  # later hooks still run
    failures = [r for r in caplog.records if "after-commit hook 'broken' failed" in r.getMessage()]
    assert len(failures) == 2 and failures[0].exc_info is not None
    assert f"ids=({created['id']},)" in failures[0].getMessage()


def test_line_changes_are_told_with_their_parent(store: Store) -> None:
    deal = store.create("deal", {"name": "d", "lines": [{"product": "a"}, {"product": "b"}]})
    a, b = (line["id"] for line in deal["lines"])
    told = Told(store)
    store.update("deal", deal["id"], {"lines": [{"id": a, "quantity": 2}, {"product": "c"}]})
    c = store.get("deal", deal["id"])["lines"][1]["id"]
    assert told.take() == [
        ("delete", "deal_line", (b,)),
        ("update", "deal_line", (a,)),
        ("create", "deal_line", (c,)),
        ("update", "deal", (deal["id"],)),
    ]
    created = store.create("deal", {"name": "e", "lines": [{"product": "x"}]})
    assert told.take() == [
        ("create", "deal", (created["id"],)),
        ("create", "deal_line", (created["lines"][0]["id"],)),
    ]


def test_cascades_and_cleared_references_are_told(store: Store) -> None:
    parent = store.create("company", {"name": "P"})
    child = store.create("company", {"name": "C", "parent_id": parent["id"]})
    deal = store.create("deal", {"name": "d", "company_id": parent["id"], "lines": [{"product": "a"}]})
    told = Told(store)
    store.delete("company", parent["id"])
    assert told.take() == [
        ("update", "company", (child["id"],)),
        ("delete", "deal", (deal["id"],)),
        ("delete", "company", (parent["id"],)),
    ]
    after = store.get("company", child["id"])
    assert (after["parent_id"], after["version"]) == (None, 2)
    history = store.history_table
    with store.db.read() as conn:
        rows = conn.execute(
            select(history.c.action, history.c.field, history.c.actor_id)
            .where(history.c.object == "company", history.c.record_id == child["id"])
            .order_by(history.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [("create", None, None), ("update", "parent_id", None)]
    store.restore("company", parent["id"])
    assert told.take() == [
        ("restore", "company", (parent["id"],)),
        ("restore", "deal", (deal["id"],)),
        ("update", "company", (child["id"],)),
    ]
    assert store.get("company", child["id"])["version"] == 3


def test_a_line_written_on_its_own_tells_its_parent_when_its_formulas_change(db_url: str) -> None:
    crm = make_store(db_url, Path(__file__).resolve().parents[2] / "blueprints" / "crm")
    try:
        account = crm.create("account", {"name": "A", "industry": "media"})
        opp = crm.create("opportunity", {"name": "o", "account_id": account["id"], "amount": "10"})
        product = crm.create("product", {"name": "p", "list_price": "10"})
        quote = crm.create("quote", {"name": "q", "opportunity_id": opp["id"], "account_id": account["id"]})
        told = Told(crm)
        line = crm.create(
            "quote_line", {"quote_id": quote["id"], "product_id": product["id"], "quantity": "1", "unit_price": "10"}
        )
        assert told.take() == [("create", "quote_line", (line["id"],)), ("update", "quote", (quote["id"],))]
        crm.delete("quote_line", line["id"])
        assert told.take() == [("delete", "quote_line", (line["id"],)), ("update", "quote", (quote["id"],))]
    finally:
        crm.db.dispose()


def test_an_attachment_is_told_as_an_update_and_a_failing_hook_is_no_500(store: Store) -> None:
    def broken(store: Store, change: Change) -> None:
        raise RuntimeError("down")

    store.after_commit.append(broken)
    told = Told(store)
    with api_client(store) as client:
        r = client.post("/api/v1/company", json={"name": "A"})
        assert r.status_code == 201, r.text
        company = r.json()["data"]["id"]
        r = client.put(
            f"/api/v1/company/{company}/files/contract?name=a.pdf",
            content=PDF,
            headers={"Content-Type": "application/pdf"},
        )
        assert r.status_code == 200, r.text
        r = client.post("/api/v1/company/bulk", json=[{"name": "B"}])
        assert r.status_code == 201, r.text
        assert client.patch(f"/api/v1/company/{company}", json={"name": "A2"}).status_code == 200
        assert client.delete(f"/api/v1/company/{company}").status_code == 200
    assert [c[:2] for c in told.changes] == [
        ("create", "company"),
        ("update", "company"),
        ("create", "company"),
        ("update", "company"),
        ("delete", "company"),
    ]
