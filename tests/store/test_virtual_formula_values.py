"""Virtual formulas (`stored: false`) hold their value as a stored formula would (rounded to their
`scale`), so `filter=` compares the same numbers on SQLite and PostgreSQL, also when the formula is
read through a lookup or aggregated over a collection."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.store.computed import sql_filter
from engine.store.records import Store
from tests.helpers import make_store

BLUEPRINT = """
app: {name: sales}
objects:
  account:
    fields:
      name: {type: text}
      won_value: {type: formula, expression: "sum(opportunity, o.amount, o.stage = 'won')", stored: false, scale: 4}
      won_whole: {type: formula, expression: "sum(opportunity, o.amount, o.stage = 'won')", stored: false, scale: 0}
      average: {type: formula, expression: "avg(opportunity, o.amount)", stored: false}
      weighted_total: {type: formula, expression: "sum(opportunity, o.weighted)", stored: false}
  opportunity:
    fields:
      name: {type: text}
      amount: {type: currency}
      probability: {type: percent}
      stage: {type: text}
      account: {type: lookup, object: account}
      weighted: {type: formula, expression: "amount * probability", stored: false, scale: 0}
"""


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "sales.yaml"
    path.write_text(BLUEPRINT)
    store = make_store(db_url, blueprint=path)
    big = store.create("account", {"name": "big"})["id"]
    small = store.create("account", {"name": "small"})["id"]
    for account, amount, stage, probability in (
        (big, "350000.00", "won", "0.5"),
        (big, "0.01", "lost", "0.5"),
        (small, "1000.00", "won", "0.3333"),
        (small, "200.50", "won", "0.9999"),
    ):
        store.create(
            "opportunity",
            {"name": "o", "amount": amount, "stage": stage, "probability": probability, "account_id": account},
        )
    yield store
    store.db.dispose()


def names(store: Store, object_name: str, text: str) -> list[str]:
    table = store.tables[object_name]
    condition = sql_filter(store, store.app.object(object_name), text)
    with store.db.read() as conn:
        stmt = sa.select(table.c.id).where(condition).order_by(table.c.id)
        return [f"{object_name}{i}" for i in conn.execute(stmt).scalars()]


def test_a_virtual_formula_is_compared_at_its_own_scale(store: Store) -> None:
    # scale 4 over amounts of scale 2: SQLite compared the sum 100x too small
    assert names(store, "account", "won_value > 300000") == ["account1"]
    assert names(store, "account", "won_value > 350000") == []
    assert names(store, "account", "won_value = 1200.5") == ["account2"]
    # scale 0: the sum is rounded (1200.50 -> 1201), and compared as 1201, not 120050
    assert names(store, "account", "won_whole = 1201") == ["account2"]
    assert names(store, "account", "won_whole > 100000") == ["account1"]


def test_virtual_formulas_read_and_filter_through_lookups_and_collections(store: Store) -> None:
    # avg is computed as decimal text on SQLite: it used to compare as text against an integer
    assert names(store, "account", "average > 1000000") == []
    assert names(store, "account", "average > 175000") == ["account1"]
    assert names(store, "opportunity", "account.won_value > 300000") == ["opportunity1", "opportunity2"]
    assert names(store, "opportunity", "weighted = 333") == ["opportunity3"]  # 333.30 at scale 0
    assert names(store, "opportunity", "weighted = 200") == ["opportunity4"]  # 200.47995 at scale 0
    # the sum of values rounded each: 175000 + 0 (0.005) | 333 + 200
    assert names(store, "account", "weighted_total = 533") == ["account2"]
    assert names(store, "account", "weighted_total = 175000") == ["account1"]


def test_a_virtual_formula_reads_back_like_a_stored_one(store: Store) -> None:
    account = store.get("account", 2)
    assert (account["won_value"], account["won_whole"], account["average"], account["weighted_total"]) == (
        Decimal("1200.5000"),
        Decimal("1201"),
        Decimal("600.25"),
        Decimal("533"),
    )
    assert str(account["won_value"]) == "1200.5000"
    assert str(store.get("account", 1)["average"]) == "175000.01"  # 175000.005 rounded half away from zero
