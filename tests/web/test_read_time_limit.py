"""Inline SQLite reads have a time limit; past it they run again on a worker thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store.database import ReadTooSlow
from engine.store.query import ListQuery
from engine.store.records import Store
from tests.helpers import api_client, make_store


def _seeded(tmp_path: Path) -> Store:
    store = make_store(f"sqlite:///{tmp_path / 'slow.db'}")
    store.create_many("deal", [{"name": f"d{i}", "amount": "1.00", "stage": "won"} for i in range(5000)])
    return store


def test_a_read_past_its_limit_is_interrupted_and_the_connection_stays_usable(tmp_path: Path) -> None:
    store = _seeded(tmp_path)
    scan = ListQuery(filter="lower(name) == 'd4999'", limit=5)
    with pytest.raises(ReadTooSlow), store.db.time_limit(0.0):
        store.find("deal", scan)
    found = store.find("deal", scan).records
    assert [r["name"] for r in found] == ["d4999"]


def test_without_a_limit_nothing_is_interrupted(tmp_path: Path) -> None:
    store = _seeded(tmp_path)
    page = store.find("deal", ListQuery(filter="lower(name) == 'd1'", limit=5))
    assert [r["name"] for r in page.records] == ["d1"]


def test_the_api_answers_a_slow_list_from_a_worker_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.web.api

    monkeypatch.setattr(engine.web.api, "INLINE_READ_LIMIT", 0.0)
    store = _seeded(tmp_path)
    with api_client(store) as client:
        r = client.get("/api/v1/deal", params={"filter": "lower(name) == 'd4321'"})
        assert r.status_code == 200, r.text
        assert [d["name"] for d in r.json()["data"]] == ["d4321"]
        r = client.get("/api/v1/deal/1")
        assert r.status_code == 200 and r.json()["data"]["name"] == "d0"
