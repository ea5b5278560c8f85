"""A request's `filter=` beyond the cost budget is a 422 naming the budget, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.store.records import Store
from tests.helpers import api_client, make_store

#: Ten multiplications: cost 102, just over the request budget of 100.
CHAIN = "amount" + " * 1.5" * 10 + " > 0"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    found = make_store(db_url)
    yield found
    found.db.dispose()


def test_a_costly_filter_is_refused_before_it_runs(store: Store) -> None:
    store.create("deal", {"name": "d", "amount": "2.00"})
    with api_client(store) as client:
        for path in ("/api/v1/deal", "/api/v1/deal/aggregate"):
            r = client.get(path, params={"filter": CHAIN})
            assert r.status_code == 422, r.text
            [problem] = r.json()["errors"]
            assert problem["loc"] == ["query", "filter"]
            assert problem["code"] == "expr.too_costly"
            assert problem["msg"].startswith("col 1: a filter may cost at most 100 per row; this one costs 102 ")
        nine = "amount" + " * 1.5" * 9 + " > 0"  # cost 92: within the budget, answered
        r = client.get("/api/v1/deal", params={"filter": nine})
        assert r.status_code == 200, r.text
        assert [d["name"] for d in r.json()["data"]] == ["d"]
    store.db.dispose()


#: `weighted` is computed in every query that uses it (cost 1 + 5 x 10 = 51); `kept` is a column.
VIRTUAL = """
app: {name: costs}
objects:
  deal:
    fields:
      name: {type: text}
      amount: {type: currency}
      weighted: {type: formula, stored: false, expression: "amount * 1.5 * 1.5 * 1.5 * 1.5 * 1.5"}
      kept: {type: formula, expression: "amount * 1.5 * 1.5 * 1.5 * 1.5 * 1.5"}
"""


def test_a_formula_computed_in_the_query_counts_with_its_own_cost_up_to_a_cap(sqlite_url: str, tmp_path: Path) -> None:
    blueprint = tmp_path / "costs.yaml"
    blueprint.write_text(VIRTUAL, encoding="utf-8")
    store = make_store(sqlite_url, blueprint)
    store.create("deal", {"name": "d", "amount": "2.00"})
    with api_client(store) as client:
        r = client.get("/api/v1/deal", params={"filter": "weighted > 1"})  # 1 + 51 (its cost, at most 50) + 1
        assert r.status_code == 200, r.text
        r = client.get("/api/v1/deal", params={"filter": "weighted > 1 and weighted < 100"})  # 2 x 52 + 1
        assert r.status_code == 422, r.text
        [problem] = r.json()["errors"]
        assert problem["code"] == "expr.too_costly"
        assert "this one costs 105 " in problem["msg"]
        r = client.get("/api/v1/deal", params={"filter": "kept > 1 and kept < 100"})  # 2 x 2 + 1
        assert r.status_code == 200, r.text
        assert [d["name"] for d in r.json()["data"]] == ["d"]
    store.db.dispose()
