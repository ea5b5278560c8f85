"""A write waiting for a lock never stalls the server, and waits a bounded time.

Another process (a `loomwork migrate`, a bulk import) holds SQLite's write lock, or a PostgreSQL
table lock: reads keep being answered at once, writes answer 503 with Retry-After once the wait is
over, and nothing is written twice.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.blueprint.load import load_blueprint
from engine.store.database import Database, DatabaseBusy
from engine.store.query import ListQuery
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from engine.web import offload
from tests.helpers import EVERYTHING, api_client

LOCK_WAIT = 1.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    types = TypeRegistry.with_builtins()
    db = Database(f"sqlite:///{tmp_path / 'locked.db'}", lock_wait=LOCK_WAIT)
    found = Store(load_blueprint(EVERYTHING, types), types, db)
    found.metadata.create_all(db.engine)
    found.create("deal", {"name": "first"})
    yield found
    db.dispose()


class WriteLock:
    """The write lock of the store's SQLite file, held by another connection (another process)."""

    def __init__(self, store: Store) -> None:
        self.conn = sqlite3.connect(str(store.db.engine.url.database), isolation_level=None, check_same_thread=False)

    def __enter__(self) -> WriteLock:
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def timed(client: TestClient, method: str, path: str, **kwargs: Any) -> tuple[Any, float, float]:
    started = time.monotonic()
    response = client.request(method, path, **kwargs)
    done = time.monotonic()
    return response, done - started, done


def test_a_read_answers_at_once_while_a_write_waits_and_then_gets_503(store: Store) -> None:
    with api_client(store) as client, WriteLock(store):
        writes: dict[str, Any] = {}

        def write() -> None:
            writes["create"] = timed(client, "POST", "/api/v1/deal", json={"name": "second"})

        worker = threading.Thread(target=write)
        worker.start()
        time.sleep(0.05)
        read, read_seconds, read_done = timed(client, "GET", "/api/v1/deal/1")
        worker.join(10)
        created, write_seconds, write_done = writes["create"]

    assert read.status_code == 200 and read.json()["data"]["name"] == "first"
    assert read_seconds < LOCK_WAIT and read_done < write_done, (read_seconds, read_done, write_done, write_seconds)
    assert created.status_code == 503, created.text
    assert created.headers["retry-after"] == "1"
    [problem] = created.json()["errors"]
    assert problem["code"] == "database.busy"
    assert problem["msg"].startswith("the database is busy: another writer held it for more than 1 s")
    assert LOCK_WAIT <= write_seconds < LOCK_WAIT + 2
    assert [r["name"] for r in store.find("deal", ListQuery()).records] == ["first"]


def test_every_kind_of_write_is_bounded_and_works_again_once_the_lock_is_free(store: Store) -> None:
    with api_client(store) as client:
        with WriteLock(store):
            for method, path, body in (
                ("POST", "/api/v1/deal/bulk", [{"name": "bulk"}]),
                ("PATCH", "/api/v1/deal/1", {"name": "renamed"}),
                ("DELETE", "/api/v1/deal/1", None),
            ):
                r, seconds, _ = timed(client, method, path, json=body)
                assert (r.status_code, r.json()["errors"][0]["code"]) == (503, "database.busy"), (path, r.text)
                assert LOCK_WAIT <= seconds < LOCK_WAIT + 2
        r = client.post("/api/v1/deal", json={"name": "second"})
        assert r.status_code == 201, r.text
        r = client.patch("/api/v1/deal/1", json={"name": "renamed"})
        assert r.status_code == 200, r.text
    assert sorted(r["name"] for r in store.find("deal", ListQuery()).records) == ["renamed", "second"]


def on_event_loop(db: Database, work: Callable[[], Any]) -> Any:
    """`offload.write_inline(db, work)` on an event loop in a thread of its own, as a server runs it."""
    with ThreadPoolExecutor(1, thread_name_prefix="event-loop") as pool:
        return pool.submit(lambda: asyncio.run(offload.write_inline(db, work))).result()


def test_an_inline_write_that_committed_part_of_its_work_is_not_run_again(store: Store) -> None:
    runs: list[int] = []

    def two_writes() -> None:
        runs.append(1)
        store.create("deal", {"name": "once"})
        with WriteLock(store):
            store.create("deal", {"name": "never"})

    with pytest.raises(DatabaseBusy):
        on_event_loop(store.db, two_writes)
    assert runs == [1]
    assert sorted(r["name"] for r in store.find("deal", ListQuery()).records) == ["first", "once"]


def test_an_inline_write_that_finds_the_lock_taken_is_run_again_on_a_thread(store: Store) -> None:
    threads: list[threading.Thread] = []
    lock = WriteLock(store).__enter__()
    threading.Timer(0.2, lock.__exit__).start()

    def create() -> dict[str, Any]:
        threads.append(threading.current_thread())
        return store.create("deal", {"name": "after the wait"})

    created = on_event_loop(store.db, create)
    assert created["name"] == "after the wait"
    assert len(threads) == 2 and threads[0].name.startswith("event-loop") and threads[1] is not threads[0]


def test_postgresql_writes_wait_for_a_table_lock_at_most_the_lock_wait(pg_url: str) -> None:
    types = TypeRegistry.with_builtins()
    db = Database(pg_url, lock_wait=LOCK_WAIT)
    store = Store(load_blueprint(EVERYTHING, types), types, db)
    store.metadata.create_all(db.engine)
    store.create("company", {"name": "Acme"})
    migration = sa.create_engine(pg_url)  # another process, e.g. `loomwork migrate` altering the table
    with api_client(store) as client, migration.connect() as other:
        other.execute(sa.text("LOCK TABLE deal IN ACCESS EXCLUSIVE MODE"))
        writes: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: writes.update(create=timed(client, "POST", "/api/v1/deal", json={"name": "x"}))
        )
        worker.start()
        time.sleep(0.05)
        read, read_seconds, read_done = timed(client, "GET", "/api/v1/company/1")
        worker.join(10)
        other.rollback()
    created, write_seconds, write_done = writes["create"]
    assert read.status_code == 200 and read_seconds < LOCK_WAIT and read_done < write_done
    assert (created.status_code, created.json()["errors"][0]["code"]) == (503, "database.busy"), created.text
    assert created.headers["retry-after"] == "1"
    assert LOCK_WAIT <= write_seconds < LOCK_WAIT + 2
    migration.dispose()
    db.dispose()
