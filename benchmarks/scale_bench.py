"""Scale figures: list page at N opportunities, create throughput vs the bare baseline, check time."""

from __future__ import annotations

import itertools
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks.blueprint_gen import write_big_blueprint
from benchmarks.generate import CrmScale, ObjectSpec, batched, records, specs_from_blueprint
from benchmarks.httpclient import Client
from benchmarks.server import Server, admin_headers, loomwork_cmd, migrate
from benchmarks.stats import summarize_ms
from benchmarks.workload_bench import bulk_load, load_workload_module

LIST_PARAMS = {"stage": "negotiation", "amount__gt": 50000, "sort": "-amount", "limit": 25}
CREATES = 1000
WARMUP = 20


def list_path(**extra: Any) -> str:
    return f"/api/v1/opportunity?{urlencode({**LIST_PARAMS, **extra})}"


def load_crm(
    client: Client, specs: dict[str, ObjectSpec], scale: int, batch: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Accounts, then contacts and opportunities pointing at them, through the bulk endpoint."""
    counts = CrmScale(scale).counts()
    out: dict[str, Any] = {}
    refs: dict[str, Sequence[int]] = {}
    for obj in ("account", "contact", "opportunity"):
        ids, secs = bulk_load(client, obj, batched(records(obj, counts[obj], refs=refs, specs=specs), batch))
        if obj == "account":
            refs["account"] = ids
        out[obj] = {"rows": len(ids), "seconds": round(secs, 2), "rows_per_s": round(len(ids) / secs, 1)}
        log(f"  loaded {len(ids):,} {obj} in {secs:.1f} s ({len(ids) / secs:,.0f} rows/s)")
    out["_refs"] = refs
    return out


def sequential_creates(client: Client, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """WARMUP untimed creates, then the rest timed back to back on one keep-alive connection."""
    for row in rows[:WARMUP]:
        client.json("POST", "/api/v1/opportunity", row, expect=201)
    lat = []
    t0 = time.perf_counter()
    for row in rows[WARMUP:]:
        lat.append(client.json("POST", "/api/v1/opportunity", row, expect=201)[1])
    wall = time.perf_counter() - t0
    return {"creates": len(lat), "creates_per_s": round(len(lat) / wall, 1), "latency": summarize_ms(lat)}


def measure_list(client: Client, path: str, n: int) -> dict[str, Any]:
    for _ in range(5):
        client.json("GET", path)
    lat = [client.json("GET", path)[1] for _ in range(n)]
    body, _ = client.json("GET", path)
    return {"query": path, **summarize_ms(lat), "rows": len(body["data"]), "total": body.get("total")}


def run_scale(
    tmp: Path,
    blueprint: Path,
    scale: int,
    *,
    crm: bool,
    workload_path: Path,
    workers: int,
    batch: int,
    headers: dict[str, str],
    log: Callable[[str], None],
) -> dict[str, Any]:
    db = f"sqlite:///{tmp / 'scale.db'}"
    migrate(blueprint, db)
    ours_headers = {**headers, **admin_headers(db)}
    out: dict[str, Any] = {"scale": scale, "blueprint": str(blueprint), "data": "crm" if crm else "workload"}
    server = Server.loomwork(blueprint, db, log=tmp / "scale-server.log", workers=workers)
    try:
        server.wait_ready("/api/v1/opportunity?limit=1", headers=ours_headers)
        client = Client(server.port, headers=ours_headers)
        log(f"scale: loading {scale:,} opportunities ({out['data']} data, bulk endpoint)")
        if crm:
            specs = specs_from_blueprint(blueprint)
            loaded = load_crm(client, specs, scale, batch, log)
            refs = loaded.pop("_refs")
            create_rows = list(records("opportunity", 2 * CREATES, refs=refs, specs=specs, start=scale))
        else:
            wl = load_workload_module(workload_path)
            rows = wl.gen_rows(scale + 2 * CREATES)
            ids, secs = bulk_load(client, "opportunity", batched(itertools.islice(rows, scale), batch))
            loaded = {
                "opportunity": {"rows": len(ids), "seconds": round(secs, 2), "rows_per_s": round(len(ids) / secs, 1)}
            }
            create_rows = list(rows)
            log(f"  loaded {len(ids):,} opportunity in {secs:.1f} s ({len(ids) / secs:,.0f} rows/s)")
        out["load"] = loaded
        out["list_page"] = measure_list(client, list_path(), 200)
        out["list_page_with_total"] = measure_list(client, list_path(with_total="true"), 50)
        log(
            f"  list page p50 {out['list_page']['p50_ms']} ms, p95 {out['list_page']['p95_ms']} ms "
            f"(with total: p95 {out['list_page_with_total']['p95_ms']} ms)"
        )
        agg = "/api/v1/opportunity/aggregate?group_by=stage&metrics=count,sum:amount"
        out["aggregate"] = summarize_ms([client.json("GET", agg)[1] for _ in range(10)])
        out["rss"] = server.rss_mb()
        out["create_loomwork"] = sequential_creates(client, create_rows[: CREATES + WARMUP])
        client.close()
    finally:
        server.stop()
    base = Server.baseline(blueprint, db, log=tmp / "baseline.log")
    try:
        base.wait_ready("/health")
        client = Client(base.port, headers=headers)
        out["create_baseline"] = sequential_creates(client, create_rows[CREATES + WARMUP : 2 * (CREATES + WARMUP)])
        client.close()
    finally:
        base.stop()
    ours, bare = out["create_loomwork"]["creates_per_s"], out["create_baseline"]["creates_per_s"]
    out["create_ratio"] = round(ours / bare, 3)
    log(f"  creates: loomwork {ours}/s, bare FastAPI+Core {bare}/s, ratio {out['create_ratio']}")
    return out


def time_check(tmp: Path, objects: int = 200, runs: int = 3) -> dict[str, Any]:
    """Wall clock of the whole `loomwork check` command on a generated blueprint of `objects` objects."""
    path = write_big_blueprint(tmp / f"big-{objects}.yaml", objects)
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run([*loomwork_cmd(), "check", str(path)], capture_output=True, text=True, timeout=120)
        walls.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"loomwork check failed on the generated blueprint:\n{proc.stderr[-2000:]}")
    return {
        "objects": objects,
        "runs_s": [round(w, 3) for w in walls],
        "median_s": round(statistics.median(walls), 3),
        "output": proc.stdout.strip(),
    }
