"""A list's total can be bounded (`ListQuery.total_limit`): it counts at most that many matching
records and says when there are more, on SQLite and PostgreSQL, within the reader's filters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.store.query import Condition, ListQuery
from engine.store.records import Store
from tests.helpers import make_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url)
    s.create_many("deal", [{"name": f"d{i}", "amount": "1.00", "stage": "won" if i % 3 else "lost"} for i in range(30)])
    yield s
    s.db.dispose()


@pytest.mark.parametrize(
    ("limit", "conditions", "total", "capped"),
    [
        (10, [], 10, True),
        (29, [], 29, True),
        (30, [], 30, False),
        (100, [], 30, False),
        (5, [Condition("stage", "eq", "lost")], 5, True),
        (10, [Condition("stage", "eq", "lost")], 10, False),
        (None, [], 30, False),
    ],
)
def test_a_bounded_total_counts_up_to_its_limit(
    store: Store, limit: int | None, conditions: list[Condition], total: int, capped: bool
) -> None:
    page = store.find("deal", ListQuery(conditions=conditions, total=True, total_limit=limit, limit=2))
    assert (page.total, page.total_capped, len(page.records)) == (total, capped, 2)
