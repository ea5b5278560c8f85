"""The generated app's pages at scale: server time of a list page, a record page and the board.

    python -m benchmarks.bench_pages                      # 1,000,000 opportunities, SQLite
    python -m benchmarks.bench_pages --rows 100000        # quick

Uses the data set of `benchmarks.bench_policy` (the CRM blueprint, 200 users in 20 teams, N/10
accounts, N opportunities owned round-robin; cached under the same folder, so the two share one
build). Each page is requested in process through the ASGI app (`TestClient`, a signed-in API
token): the time is the server's, from the request to the last byte of HTML, without a network.
Pages, after warm-up, interleaved, for a sales rep (scope own: ~1/200 of the deals) and the admin
(every deal):

* `list`   - `/app/opportunity`: the default view (open deals, by close date), 25 rows with the
             account's title and the owner's name, and the total,
* `record` - `/app/opportunity/{id}`: highlights, layout, related lists, the timeline,
* `board`  - `/app/opportunity/board`: 6 stage columns with counts and sums, 25 cards each.

Targets (issue 9): list p95 <= 60 ms, record p95 <= 40 ms, board p95 <= 80 ms. Writes JSON to
benchmarks/results/pages-<N>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.bench_policy import RESULTS, Scratch, is_loaded, load, open_store
from benchmarks.stats import summarize_ms
from engine.auth.directory import AuthDb
from engine.auth.tokens import Tokens
from engine.store.records import Store

TARGETS_MS = {"list": 60.0, "record": 40.0, "board": 80.0}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def viewers(store: Store) -> dict[str, int]:
    users = store.users
    with store.db.read() as conn:
        admin = conn.execute(sa.select(users.c.id).where(users.c.email == "admin@example.com")).scalar_one()
        rep = (
            conn.execute(sa.select(users.c.id).where(users.c.role == "sales_rep").order_by(users.c.id))
            .scalars()
            .first()
        )
    return {"rep": int(admin if rep is None else rep), "admin": int(admin)}


def record_ids(store: Store, owner: int | None, how_many: int) -> list[int]:
    t = store.tables["opportunity"]
    stmt = sa.select(t.c.id)
    if owner is not None:
        stmt = stmt.where(t.c.owner_id == owner)
    with store.db.read() as conn:
        ids = [int(i) for i in conn.execute(stmt.limit(5000)).scalars()]
    random.Random(7).shuffle(ids)
    return ids[:how_many]


def measure(store: Store, reps: int, warmup: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from engine.web.app import create_app

    auth = AuthDb(store.db)
    web = create_app(store, auth=auth, token_ttl=60)
    who = viewers(store)
    clients = {
        name: TestClient(web, headers={"Authorization": f"Bearer {Tokens(auth).create_token(uid)[1]}"})
        for name, uid in who.items()
    }
    ids = {name: record_ids(store, uid if name == "rep" else None, reps + warmup) for name, uid in who.items()}
    urls = {
        "list": lambda name, i: "/app/opportunity",
        "record": lambda name, i: f"/app/opportunity/{ids[name][i % len(ids[name])]}",
        "board": lambda name, i: "/app/opportunity/board",
    }
    times: dict[str, dict[str, list[float]]] = {page: {name: [] for name in clients} for page in urls}
    sizes: dict[str, int] = {}
    for i in range(warmup + reps):
        for page, url in urls.items():
            for name, client in clients.items():
                started = time.perf_counter()
                r = client.get(url(name, i))
                took = time.perf_counter() - started
                if r.status_code != 200:
                    raise RuntimeError(f"{page} as {name}: {r.status_code} {r.text[:300]}")
                sizes[page] = len(r.content)
                if i >= warmup:
                    times[page][name].append(took)
    out: dict[str, Any] = {}
    for page, by_viewer in times.items():
        out[page] = {name: summarize_ms(values) for name, values in by_viewer.items()}
        out[page]["target_p95_ms"] = TARGETS_MS[page]
        out[page]["html_bytes"] = sizes[page]
    for client in clients.values():
        client.close()
    return out


def print_table(result: dict[str, Any]) -> None:
    log(f"\nGenerated app pages, {result['rows']:,} opportunities, {result['database']} (server time, in process)")
    log(f"{'page':<8}{'viewer':<8}{'p50 ms':>9}{'p95 ms':>9}{'target p95':>12}{'':>6}")
    for page, by_viewer in result["pages"].items():
        for viewer in ("rep", "admin"):
            s = by_viewer[viewer]
            ok = "ok" if s["p95_ms"] <= by_viewer["target_p95_ms"] else "MISS"
            log(f"{page:<8}{viewer:<8}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{by_viewer['target_p95_ms']:>12.0f}{ok:>6}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="opportunities (default 1,000,000)")
    ap.add_argument("--reps", type=int, default=100, help="timed requests per page and viewer")
    ap.add_argument("--warmup", type=int, default=5, help="untimed requests per page and viewer first")
    ap.add_argument("--db", default=None, help="database URL (default: a cached SQLite file under --cache)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "loomwork-bench-policy")
    ap.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/pages-<N>.json)")
    args = ap.parse_args(argv)
    scratch = Scratch(args.db, args.rows, args.cache)
    suffix = "" if scratch.kind == "sqlite" else f"-{scratch.kind}"
    out = args.out or RESULTS / f"pages-{args.rows}{suffix}.json"
    with scratch:
        store = open_store(scratch.url)
        try:
            if not is_loaded(store, args.rows):
                if scratch.kind == "sqlite":
                    store.db.dispose()
                    Path(scratch.url.split("///", 1)[1]).unlink(missing_ok=True)
                    store = open_store(scratch.url)
                log(f"loading {args.rows:,} opportunities into {scratch.url}")
                log(f"loaded in {load(store, args.rows, 2)['seconds']} s")
            pages = measure(store, args.reps, args.warmup)
        finally:
            store.db.dispose()
    result: dict[str, Any] = {
        "benchmark": "pages",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "rows": args.rows,
        "database": scratch.kind,
        "settings": {"reps": args.reps, "warmup": args.warmup},
        "pages": pages,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    log(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
