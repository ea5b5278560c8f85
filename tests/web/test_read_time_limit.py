"""Time limits on reads: inline SQLite reads move to a worker thread past a few milliseconds, and
every read of a request stops at the read limit (503 + Retry-After) while the server keeps answering."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.expr import Limits
from engine.store.database import Database, ReadTimedOut, ReadTooSlow
from engine.store.query import ListQuery
from engine.store.records import Store
from tests.helpers import api_client, make_store

#: A filter that matches nothing and costs 80 decimal multiplications per row (over the request
#: budget, which the tests lift: the point is a query that runs long on both databases).
CHAIN = "(amount" + " * 1.5" * 20 + ")"
SLOW_FILTER = f"{CHAIN} + {CHAIN} + {CHAIN} + {CHAIN} < 0"
#: Counting to a hundred million one by one, on either database.
SLOW_SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT count(*) FROM c"


def _seeded(tmp_path: Path) -> Store:
    store = make_store(f"sqlite:///{tmp_path / 'slow.db'}")
    store.create_many("deal", [{"name": f"d{i}", "amount": "1.00", "stage": "won"} for i in range(5000)])
    return store


def _generated(store: Store, rows: int) -> None:
    """`rows` deals written by one INSERT ... SELECT (generate_series on PostgreSQL, a recursive
    query on SQLite): a big table in a fraction of a second."""
    t = store.tables["deal"]
    if store.db.is_sqlite:
        numbers = sa.select(sa.literal(1).label("n")).cte("numbers", recursive=True)
        numbers = numbers.union_all(sa.select(numbers.c.n + 1).where(numbers.c.n < rows))
        n: Any = numbers.c.n
        source: Any = numbers
    else:
        source = sa.func.generate_series(1, rows).table_valued("n").render_derived()
        n = source.c.n
    now = sa.func.current_timestamp()
    columns = ["name", "amount", "version", "created_at", "updated_at"]
    with store.db.write() as conn:
        conn.execute(t.insert().from_select(columns, sa.select(sa.literal("gen"), n, sa.literal(1), now, now)))


#: How long the slow list must run without a limit, so that a 0.3 s limit surely stops it and a
#: quick request sent meanwhile surely finishes first. Machines and databases differ tenfold and
#: more (50,000 rows take 8 s on SQLite and 0.3 s on PostgreSQL here), so the table is sized by
#: measuring rather than assumed.
SLOW_ENOUGH = 1.5


def _unlimited_seconds(store: Store) -> float:
    started = time.monotonic()
    store.find("deal", ListQuery(filter=SLOW_FILTER, limit=5))
    return time.monotonic() - started


@pytest.fixture
def big(db_url: str) -> Iterator[Store]:
    """Deals enough that the slow filter runs for about SLOW_ENOUGH seconds (the time per row is
    measured on a sample long enough to be steady, then the table grows to the size wanted)."""
    store = make_store(db_url)
    store.create("deal", {"name": "first", "amount": "1.00"})
    store.expr_limits = Limits(max_cost=None)
    rows = 2_000
    _generated(store, rows)
    while (seconds := _unlimited_seconds(store)) < 0.15:
        more = rows * min(49, max(1, int(0.3 / max(seconds, 0.001))))
        _generated(store, more)
        rows += more
    wanted = int(rows * SLOW_ENOUGH / seconds)
    if wanted > rows:
        _generated(store, wanted - rows)
    yield store
    store.db.dispose()


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


def test_the_api_retries_a_slow_inline_list_on_a_worker_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.web.offload

    monkeypatch.setattr(engine.web.offload, "INLINE_READ_LIMIT", 0.0)
    store = _seeded(tmp_path)
    threads: list[threading.Thread] = []
    find = store.find

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return find(*args, **kwargs)

    monkeypatch.setattr(store, "find", watched)
    with api_client(store) as client:
        r = client.get("/api/v1/deal", params={"filter": "lower(name) == 'd4321'"})
        assert r.status_code == 200, r.text
        assert [d["name"] for d in r.json()["data"]] == ["d4321"]
        # Interrupted on the event loop's thread, then run to the end on another one.
        assert len(threads) == 2 and threads[0] is not threads[1]
        r = client.get("/api/v1/deal/1")
        assert r.status_code == 200 and r.json()["data"]["name"] == "d0"


def test_a_statement_past_the_read_limit_is_stopped_on_either_database(db_url: str) -> None:
    db = Database(db_url)
    started = time.monotonic()
    with pytest.raises(ReadTimedOut) as err, db.read_limit(0.2), db.read() as conn:
        conn.execute(sa.text(SLOW_SQL)).scalar()
    assert time.monotonic() - started < 5
    assert err.value.code == "database.timeout" and err.value.retry_after == 1
    assert err.value.message.startswith("the query ran for more than 0.2 s and was stopped")
    with db.read() as conn:  # the pooled connection carries no limit and no handler
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    db.dispose()


def test_a_request_past_the_read_limit_is_a_503_and_the_server_answers_meanwhile(big: Store) -> None:
    big.db.read_limit_default = 0.3
    with api_client(big) as client:
        slow: dict[str, Any] = {}

        def ask_slowly() -> None:
            started = time.monotonic()
            slow["response"] = client.get("/api/v1/deal", params={"filter": SLOW_FILTER})
            slow["done"] = time.monotonic()
            slow["seconds"] = slow["done"] - started

        worker = threading.Thread(target=ask_slowly)
        worker.start()
        time.sleep(0.05)
        quick = client.get("/api/v1/deal/1")
        quick_done = time.monotonic()
        worker.join(30)

    assert quick.status_code == 200 and quick.json()["data"]["name"] == "first"
    assert quick_done < slow["done"]  # answered while the slow list was still running
    r = slow["response"]
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json() == {
        "ok": False,
        "errors": [
            {
                "loc": [],
                "msg": "the query ran for more than 0.3 s and was stopped; narrow it (filters on indexed fields, "
                "fewer computed parts) or try again later",
                "code": "database.timeout",
            }
        ],
    }
    assert 0.3 <= slow["seconds"] < 5


def test_aggregates_and_totals_have_the_read_limit_too(big: Store) -> None:
    big.db.read_limit_default = 0.3
    with api_client(big) as client:
        r = client.get("/api/v1/deal/aggregate", params={"filter": SLOW_FILTER})
        assert (r.status_code, r.json()["errors"][0]["code"]) == (503, "database.timeout")
        r = client.get("/api/v1/deal", params={"filter": SLOW_FILTER.replace("< 0", "> 0"), "with_total": "true"})
        assert (r.status_code, r.json()["errors"][0]["code"]) == (503, "database.timeout")
        big.db.read_limit_default = None
        r = client.get("/api/v1/deal", params={"name": "first"})
        assert [d["name"] for d in r.json()["data"]] == ["first"]
