"""The shared workload (../shared/bench/WORKLOAD.md), figures a-f, checked against its ground truth."""

from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import orjson

from benchmarks.httpclient import Client, HttpError
from benchmarks.server import Server
from benchmarks.stats import ratio, summarize_ms

OBJECT = "opportunity"
CENT = Decimal("0.01")

#: Peer figures from WORKLOAD.md (NocoDB 0.301.3 on SQLite, N = 100,000, 2 cores), with our targets:
#: (key, label, peer value, unit, lower is better, required ratio).
PEER = [
    ("a_rows_per_s", "a bulk load", 842.0, "rows/s", False, 10.0),
    ("b_p50_ms", "b create p50", 18.7, "ms", True, 2.0),
    ("b_p95_ms", "b create p95", 23.8, "ms", True, 2.0),
    ("c_p50_ms", "c list p50", 54.0, "ms", True, 2.0),
    ("c_p95_ms", "c list p95", 63.0, "ms", True, 2.0),
    ("d_p50_ms", "d group-by p50", 123.0, "ms", True, 2.0),
    ("e_requests_per_s", "e 8 clients", 18.6, "req/s", False, 10.0),
    ("e_p50_ms", "e p50 under load", 431.0, "ms", True, 2.0),
    ("f_rss_mb", "f server RSS", 505.0, "MB", True, 2.0),
]


class GroundTruthMismatch(AssertionError):
    """The server's answer differs from expected(); the benchmark result is void."""


def load_workload_module(path: Path) -> ModuleType:
    """`workload.py` from the shared folder (gen_rows, expected, LIST_STAGE, ...)."""
    file = path / "workload.py" if path.is_dir() else path
    spec = importlib.util.spec_from_file_location("workload", file)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no workload.py at {file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def list_query(wl: ModuleType, *, total: bool) -> str:
    params = {"stage": wl.LIST_STAGE, "amount__gt": wl.LIST_MIN_AMOUNT, "sort": "-amount", "limit": wl.PAGE_SIZE}
    if total:
        params["with_total"] = "true"
    return f"/api/v1/{OBJECT}?{urlencode(params)}"


AGGREGATE_PATH = f"/api/v1/{OBJECT}/aggregate?group_by=stage&metrics=count,sum:amount"


def cents(value: Any) -> Decimal:
    """A money value (JSON string, or the workload's float) as an exact Decimal to the cent."""
    return Decimal(value if isinstance(value, str) else repr(value)).quantize(CENT)


def check_list(body: dict[str, Any], truth: dict[str, Any]) -> None:
    got = [cents(r["amount"]) for r in body["data"]]
    want = [cents(a) for a in truth["list_first_page_amounts"]]
    if got != want:
        raise GroundTruthMismatch(f"list (c) first page amounts differ:\n got  {got}\n want {want}")
    if "total" in body and body["total"] != truth["list_filter_total"]:
        raise GroundTruthMismatch(f"list (c) total {body['total']} != expected {truth['list_filter_total']}")


def check_aggregate(body: dict[str, Any], truth: dict[str, Any]) -> None:
    got = {g["stage"]: (int(g["count"]), cents(g["sum_amount"])) for g in body["data"]}
    want = {s: (v["count"], cents(v["sum_amount"])) for s, v in truth["by_stage"].items() if v["count"]}
    if got != want:
        raise GroundTruthMismatch(f"aggregate (d) differs:\n got  {got}\n want {want}")


def bulk_load(client: Client, obj: str, batches: Iterable[list[dict[str, Any]]]) -> tuple[list[int], float]:
    """POST every batch to the bulk endpoint; returns (all ids, seconds including client encoding)."""
    ids: list[int] = []
    t0 = time.perf_counter()
    for batch in batches:
        body, _ = client.json("POST", f"/api/v1/{obj}/bulk", orjson.dumps(batch), expect=201)
        if len(body["ids"]) != len(batch):
            raise GroundTruthMismatch(f"bulk returned {len(body['ids'])} ids for {len(batch)} records")
        ids.extend(body["ids"])
    return ids, time.perf_counter() - t0


def chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def timed(n: int, call: Callable[[], float]) -> list[float]:
    return [call() for _ in range(n)]


def run_loadgen(port: int, path: str, clients: int, seconds: float, headers: dict[str, str]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).with_name("loadgen.py")),
        "--port",
        str(port),
        "--path",
        path,
        "--clients",
        str(clients),
        "--seconds",
        str(seconds),
    ]
    for k, v in headers.items():
        cmd += ["--header", f"{k}: {v}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def run_workload(
    server: Server,
    wl: ModuleType,
    n: int,
    *,
    batch: int,
    headers: dict[str, str],
    log: Callable[[str], None],
    out: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Figures a-f against a started server on a freshly migrated workload database.

    Figures land in `out` as they are measured, so a failure later keeps the earlier ones.
    """
    rows = list(wl.gen_rows(n + 200))
    truth = wl.expected(rows)
    client = Client(server.port, headers=headers)
    out = {} if out is None else out
    out.update(n=n, ground_truth_sha256=truth["sha256"])

    ids, secs = bulk_load(client, OBJECT, chunks(rows[:n], batch))
    out["a"] = {"rows": len(ids), "seconds": round(secs, 3), "rows_per_s": round(n / secs, 1), "batch": batch}
    log(f"a bulk load: {n} rows in {secs:.2f} s = {n / secs:,.0f} rows/s")

    def create(row: dict[str, Any]) -> float:
        body, elapsed = client.json("POST", f"/api/v1/{OBJECT}", row, expect=201)
        if cents(body["data"]["amount"]) != cents(row["amount"]):
            raise GroundTruthMismatch(f"create returned {body['data']!r} for {row!r}")
        return elapsed

    out["b"] = summarize_ms([create(r) for r in rows[n : n + 200]])
    log(f"b 200 creates: p50 {out['b']['p50_ms']} ms, p95 {out['b']['p95_ms']} ms")

    count, _ = client.json("GET", f"/api/v1/{OBJECT}?limit=1&with_total=true")
    if count["total"] != n + 200:
        raise GroundTruthMismatch(f"table holds {count['total']} rows, expected {n + 200}")

    path_c = list_query(wl, total=True)
    first, _ = client.json("GET", path_c)
    check_list(first, truth)

    def list_once() -> float:
        body, elapsed = client.json("GET", path_c)
        check_list(body, truth)
        return elapsed

    out["c"] = summarize_ms(timed(100, list_once))
    out["c"]["query"] = path_c
    log(f"c list: p50 {out['c']['p50_ms']} ms, p95 {out['c']['p95_ms']} ms (checked)")

    def aggregate_once() -> float:
        body, elapsed = client.json("GET", AGGREGATE_PATH)
        check_aggregate(body, truth)
        return elapsed

    try:
        out["d"] = summarize_ms(timed(20, aggregate_once))
        out["d"]["query"] = AGGREGATE_PATH
        log(f"d group-by: p50 {out['d']['p50_ms']} ms, p95 {out['d']['p95_ms']} ms (checked)")
    except HttpError as exc:  # an API error is a failed figure, not a reason to lose e and f
        out["d"] = {"error": str(exc)}
        log(f"d group-by: FAILED {exc}")
    client.close()

    out["e"] = run_loadgen(server.port, path_c, 8, 20, headers)
    log(f"e 8 clients: {out['e']['requests_per_s']} req/s, p50 {out['e']['latency'].get('p50_ms')} ms")
    out["f"] = server.rss_mb()
    log(f"f RSS: {out['f']['total_mb']} MB")
    return out


def compare_with_peer(w: dict[str, Any]) -> list[dict[str, Any]]:
    """Our figure beside the peer's, the ratio (>1 = better) and pass/fail against the target ratio."""

    def get(*keys: str) -> float | None:
        node: Any = w
        for k in keys:
            if not isinstance(node, dict) or k not in node:
                return None
            node = node[k]
        return float(node)

    ours = {
        "a_rows_per_s": get("a", "rows_per_s"),
        "b_p50_ms": get("b", "p50_ms"),
        "b_p95_ms": get("b", "p95_ms"),
        "c_p50_ms": get("c", "p50_ms"),
        "c_p95_ms": get("c", "p95_ms"),
        "d_p50_ms": get("d", "p50_ms"),
        "e_requests_per_s": get("e", "requests_per_s"),
        "e_p50_ms": get("e", "latency", "p50_ms"),
        "f_rss_mb": get("f", "total_mb"),
    }
    rows = []
    for key, label, peer, unit, lower, need in PEER:
        value = ours[key]
        if value is None:
            rows.append(
                {
                    "figure": key,
                    "label": label,
                    "ours": None,
                    "peer": peer,
                    "unit": unit,
                    "ratio": None,
                    "target_ratio": need,
                    "pass": False,
                }
            )
            continue
        r = ratio(value, peer, lower_is_better=lower)
        rows.append(
            {
                "figure": key,
                "label": label,
                "ours": ours[key],
                "peer": peer,
                "unit": unit,
                "ratio": round(r, 2),
                "target_ratio": need,
                "pass": r >= need,
            }
        )
    return rows
