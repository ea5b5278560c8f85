"""A scoped list read as one query per alternative and merged gives exactly the pages of the single
OR query, for every sort and page size (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.auth.access import PolicyAccess, subject_for
from engine.auth.directory import AuthDb
from engine.auth.teams import Teams
from engine.auth.users import Users
from engine.store.query import ListQuery
from engine.store.records import Store
from tests.auth.conftest import FAST_HASHING
from tests.helpers import make_store

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[Store, dict[str, PolicyAccess]]]:
    store = make_store(db_url, CRM)
    auth = AuthDb(store.db, hashing=FAST_HASHING)
    users, teams = Users(auth), Teams(auth)
    boss = users.create_user("boss@x.io", "Boss", "sales_manager")
    teams.create_team("West", manager="boss@x.io")
    team = [users.create_user(f"r{i}@x.io", f"R{i}", "sales_rep", team="West") for i in range(3)]
    other = users.create_user("other@x.io", "Other", "sales_rep")
    account = store.create("account", {"name": "Acme"})
    owners = [boss, *team, other]
    for i in range(60):
        amount = None if i % 7 == 0 else str((i * 13) % 9 * 1000)  # ties and empty values
        close = None if i % 5 == 0 else (date(2026, 1, 1) + timedelta(days=i % 4)).isoformat()
        store.create(
            "opportunity",
            {"name": f"deal {i % 11:02d}", "account_id": account["id"], "amount": amount, "close_date": close},
            actor=owners[i % len(owners)].id,
        )
    shares = store.metadata.tables["lw_share"]
    with store.db.write() as conn:  # two of the outsider's deals shared with rep 0
        conn.execute(
            sa.insert(shares),
            [{"object": "opportunity", "record_id": i, "user_id": team[0].id, "can_edit": False} for i in (6, 12)],
        )
    viewers = {
        "manager": PolicyAccess(store, subject_for(auth, users.by_id(boss.id))),
        "rep with shares": PolicyAccess(store, subject_for(auth, users.by_id(team[0].id))),
    }
    yield store, viewers
    store.db.dispose()


def _walk(store: Store, q: dict[str, Any], limit: int, **how: Any) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        page = store.find("opportunity", ListQuery(limit=limit, cursor=cursor, **q), **how)
        ids += [r["id"] for r in page.records]
        cursor = page.next_cursor
        if cursor is None:
            return ids


@pytest.mark.parametrize("viewer", ["manager", "rep with shares"])
@pytest.mark.parametrize("sort", [["-amount"], ["amount"], ["-close_date", "-amount"], ["name", "-amount"], []])
def test_merged_pages_equal_the_single_query(
    world: tuple[Store, dict[str, PolicyAccess]], viewer: str, sort: list[str]
) -> None:
    store, viewers = world
    access = viewers[viewer]
    assert access.alternatives("opportunity", "read", store.tables["opportunity"]) is not None
    one_query = {"scope": access.rows("opportunity", "read", store.tables["opportunity"])}
    expected = _walk(store, {"sort": sort}, 1000, **one_query)
    assert len(expected) > 10
    for limit in (1, 4, 7, 1000):
        assert _walk(store, {"sort": sort}, limit, access=access) == expected, limit
    filtered = {"sort": sort, "filter": "amount > 2000"}
    assert _walk(store, filtered, 3, access=access) == _walk(store, filtered, 1000, **one_query)
