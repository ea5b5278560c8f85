"""Expression filter vs hand-written SQLAlchemy Core on the same SQLite table.

    python -m benchmarks.bench_filter                 # 1,000,000 opportunities (a few minutes to load)
    python -m benchmarks.bench_filter --rows 100000   # quick

Loads opportunities of the CRM blueprint through `Store.create_many` (10,000 per batch) into a fresh
SQLite file, then times, in the same run and interleaved, 200 repetitions (after warm-up) of

(a) `store.find('opportunity', ListQuery(filter="stage = 'negotiation' and amount > 50000",
    sort=['-amount'], limit=25))` and
(b) `select(t).where(t.c.stage == 'negotiation', t.c.amount > Decimal('50000'))
    .order_by(t.c.amount.desc(), t.c.id).limit(26)`,

and prints JSON with p50/p95 of both, their ratio (target <= 1.1) and SQLite's query plans.

With `--costly` it then serves the file (`loomwork serve`, as a subprocess) and sends, from four
clients at once, a chain of exact decimal arithmetic as `filter=` (the kind of filter that once held
a server for 22 s): one beyond the request's cost budget (refused before it runs) and the longest
within it (stopped by the read limit, LOOMWORK_READ_LIMIT, if it runs longer). Meanwhile a fifth
client reads one record after another; its latencies show whether the server kept answering.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select

from benchmarks.stats import percentile, summarize_ms
from engine.blueprint.load import load_blueprint
from engine.store.computed import sql_filter
from engine.store.database import Database
from engine.store.migrate import apply_plan, plan_migration
from engine.store.query import ListQuery
from engine.store.records import Store
from engine.types.registry import TypeRegistry

CRM = Path(__file__).resolve().parents[1] / "blueprints" / "crm"
FILTER = "stage = 'negotiation' and amount > 50000"
STAGES = ["initial_contact", "needs_confirmed", "proposal", "negotiation", "won", "lost"]
SOURCES = ["website", "social", "event", "third_party", "referral", "cold_call", None]
BATCH = 10_000
ACCOUNTS = 1_000


def open_store(path: Path) -> Store:
    types = TypeRegistry.with_builtins()
    app = load_blueprint(CRM, types)
    db = Database(f"sqlite:///{path}")
    apply_plan(db, plan_migration(db, app, types))
    return Store(app, types, db)


def load(store: Store, rows: int, seed: int = 7) -> dict[str, Any]:
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    accounts: list[int] = []
    for start in range(0, ACCOUNTS, BATCH):
        n = min(BATCH, ACCOUNTS - start)
        accounts += store.create_many("account", [{"name": f"Account {start + i}"} for i in range(n)])
    day0 = date(2025, 1, 1)
    done = 0
    while done < rows:
        n = min(BATCH, rows - done)
        batch = []
        for i in range(n):
            stage = STAGES[rnd.randrange(6)]
            batch.append(
                {
                    "name": f"Deal {done + i}",
                    "account_id": accounts[rnd.randrange(len(accounts))],
                    "amount": Decimal(rnd.randrange(0, 20_000_000)) / 100,
                    "stage": stage,
                    "close_date": day0 + timedelta(days=rnd.randrange(730)),
                    "source": SOURCES[rnd.randrange(len(SOURCES))],
                    "lost_reason": "price" if stage == "lost" else None,
                }
            )
        store.create_many("opportunity", batch)
        done += n
    secs = time.perf_counter() - t0
    return {"rows": rows, "seconds": round(secs, 1), "rows_per_s": round(rows / secs)}


def captured_sql(store: Store, run: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SELECTs on `opportunity` that `run` sends, with their parameters (captured on execute)."""
    from sqlalchemy import event

    captured: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "FROM opportunity" in statement and statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(store.db.engine, "before_cursor_execute", grab)
    try:
        run()
    finally:
        event.remove(store.db.engine, "before_cursor_execute", grab)
    return captured


def plan_of(store: Store, run: Callable[[], Any]) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN for the statement `run` really sends."""
    captured = captured_sql(store, run)
    if not captured:
        return []
    statement, parameters = captured[0]
    with store.db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        rows = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    return [str(r[-1]) for r in rows] + ["SQL: " + " ".join(statement.split())[-220:]]


def measure(store: Store, reps: int, warmup: int) -> dict[str, Any]:
    t = store.tables["opportunity"]
    core = (
        select(t)
        .where(t.c.stage == "negotiation", t.c.amount > Decimal("50000"))
        .order_by(t.c.amount.desc(), t.c.id)
        .limit(26)
    )
    q = ListQuery(filter=FILTER, sort=["-amount"], limit=25)

    def run_store() -> list[Any]:
        return store.find("opportunity", q).records

    def run_core() -> list[Any]:
        with store.db.read() as conn:
            return list(conn.execute(core).all())

    hand = and_(t.c.stage == "negotiation", t.c.amount > Decimal("50000"))
    q_hand = ListQuery(sort=["-amount"], limit=25)

    def run_store_hand() -> list[Any]:  # the same list path, the condition written by hand
        return store.find("opportunity", q_hand, scope=hand).records

    compiled = (
        select(t)
        .where(sql_filter(store, store.app.object("opportunity"), FILTER))
        .order_by(t.c.amount.desc(), t.c.id)
        .limit(26)
    )

    def run_core_compiled() -> list[Any]:  # the expression's SQL, executed exactly like the hand-written one
        with store.db.read() as conn:
            return list(conn.execute(compiled).all())

    a_ids = [r["id"] for r in run_store()]
    b_ids = [r.id for r in run_core()][:25]
    assert a_ids == b_ids, "the two queries disagree"
    for _ in range(warmup):
        run_store()
        run_core()
    assert [r["id"] for r in run_store_hand()] == a_ids
    assert [r.id for r in run_core_compiled()][:25] == b_ids
    runs = {"a": run_store, "b": run_core, "c": run_store_hand, "d": run_core_compiled}
    lat: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():
        for _ in range(warmup):
            fn()
    for i in range(reps):  # interleaved, rotating which goes first
        order = list(runs.items())
        order = order[i % 4 :] + order[: i % 4]
        for key, fn in order:
            t0 = time.perf_counter()
            fn()
            lat[key].append(time.perf_counter() - t0)
    lat_a, lat_b = lat["a"], lat["b"]
    a, b = summarize_ms(lat_a), summarize_ms(lat_b)
    return {
        "store_find_hand_condition": summarize_ms(lat["c"]),
        "core_compiled_expression": summarize_ms(lat["d"]),
        "ratio_expression_vs_hand_in_list_p50": round(percentile(lat["a"], 50) / percentile(lat["c"], 50), 3),
        "ratio_expression_vs_hand_in_list_p95": round(percentile(lat["a"], 95) / percentile(lat["c"], 95), 3),
        "ratio_compiled_sql_vs_hand_sql_p50": round(percentile(lat["d"], 50) / percentile(lat["b"], 50), 3),
        "ratio_compiled_sql_vs_hand_sql_p95": round(percentile(lat["d"], 95) / percentile(lat["b"], 95), 3),
        "plan_expression": plan_of(store, run_store),
        "plan_core": plan_of(store, run_core),
        "store_find_filter": a,
        "sqlalchemy_core": b,
        "ratio_p50": round(percentile(lat_a, 50) / percentile(lat_b, 50), 3),
        "ratio_p95": round(percentile(lat_a, 95) / percentile(lat_b, 95), 3),
        "target_ratio": 1.1,
    }


#: Twelve exact multiplications (cost 122): beyond the request budget of 100, refused with a 422.
OVER_BUDGET = "amount" + " * 1.1" * 12 + " < 0"
#: Nine (cost 92): within the budget; matches nothing, so every row is computed.
WITHIN_BUDGET = "amount" + " * 1.1" * 9 + " < 0"


def _ask(port: int, headers: dict[str, str], path: str, rounds: int, answers: list[tuple[int, float]]) -> None:
    from benchmarks.httpclient import Client

    client = Client(port, headers=headers)
    for _ in range(rounds):
        status, _, seconds = client.request("GET", path)
        answers.append((status, seconds))
    client.close()


def measure_costly(db: Path, *, clients: int = 4, rounds: int = 2) -> dict[str, Any]:
    """Costly filters from `clients` clients at once against a served copy of `db`, and the
    latency of single-record reads sent meanwhile (and, first, without them)."""
    import threading
    from collections import Counter
    from urllib.parse import quote

    from benchmarks.httpclient import Client
    from benchmarks.server import Server, admin_headers

    url = f"sqlite:///{db}"
    headers = admin_headers(url)
    out: dict[str, Any] = {"clients": clients, "rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="bench_filter_serve_") as tmp:
        server = Server.loomwork(CRM, url, log=Path(tmp) / "server.log")
        try:
            server.wait_ready("/api/v1/opportunity?limit=1", headers=headers)
            reader = Client(server.port, headers=headers)

            def read_one() -> float:
                status, _, seconds = reader.request("GET", "/api/v1/opportunity/1")
                assert status == 200, status
                return seconds

            out["single_read_alone"] = summarize_ms([read_one() for _ in range(200)])
            for name, text in (("over_budget", OVER_BUDGET), ("within_budget", WITHIN_BUDGET)):
                answers: list[tuple[int, float]] = []

                path = f"/api/v1/opportunity?filter={quote(text)}"
                ask = (server.port, headers, path, rounds, answers)
                threads = [threading.Thread(target=_ask, args=ask) for _ in range(clients)]
                for t in threads:
                    t.start()
                during = []
                while any(t.is_alive() for t in threads):
                    during.append(read_one())
                for t in threads:
                    t.join()
                out[name] = {
                    "filter": text,
                    "statuses": dict(Counter(status for status, _ in answers)),
                    "filter_seconds": summarize_ms([s for _, s in answers]),
                    "single_read_meanwhile": summarize_ms(during),
                }
            reader.close()
        finally:
            server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--db", type=Path, default=None, help="SQLite file (default: a fresh temporary one)")
    ap.add_argument("--costly", action="store_true", help="also serve the file and send costly filters")
    args = ap.parse_args(argv)
    folder = None
    if args.db is None:
        folder = tempfile.TemporaryDirectory(prefix="bench_filter_")
        args.db = Path(folder.name) / "bench.db"
    store = open_store(args.db)
    try:
        loaded = load(store, args.rows)
        print(f"loaded {args.rows:,} opportunities in {loaded['seconds']} s", file=sys.stderr)
        with store.db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        result = {
            "rows": args.rows,
            "filter": FILTER,
            "load": loaded,
            **measure(store, args.reps, args.warmup),
        }
        if args.costly:
            result["costly"] = measure_costly(args.db)
        print(json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        store.db.dispose()
        if folder is not None:
            folder.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
