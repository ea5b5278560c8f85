"""Run every Loomwork benchmark and write the results as JSON (see docs/benchmarks.md).

    python benchmarks/run.py [--n 100000] [--scale 1000000] [--quick] [--out benchmarks/results/latest.json]

1. the shared workload (../shared/bench/WORKLOAD.md, figures a-f) at N rows, beside the peer's figures;
2. scale figures at --scale opportunities: list page p95, create throughput vs a bare
   FastAPI + SQLAlchemy Core endpoint on the same table, server RSS;
3. `loomwork check` wall clock on a generated 200-object blueprint;
4. only with `--only policy`: the permission policy's cost at --scale opportunities (a rep's and a
   manager's lists vs the admin's same query, in process; benchmarks/bench_policy.py).

Every server runs as a subprocess on a free 127.0.0.1 port against a fresh SQLite database in a
temporary folder. Results that disagree with the workload's ground truth abort the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.scale_bench import run_scale, time_check  # noqa: E402
from benchmarks.server import Server, admin_headers, migrate  # noqa: E402
from benchmarks.workload_bench import compare_with_peer, load_workload_module, run_workload  # noqa: E402

WORKLOAD_BLUEPRINT = REPO / "benchmarks" / "blueprints" / "workload.yaml"
CRM_BLUEPRINT = REPO / "blueprints" / "crm"
DEFAULT_WORKLOAD = REPO.parent / "shared" / "bench"
TARGETS = {"list_page_p95_ms": 30.0, "create_ratio": 0.5, "check_s": 1.0}


def log(message: str) -> None:
    print(message, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Loomwork benchmarks (writes JSON, prints a table).")
    p.add_argument("--n", type=int, default=100_000, help="workload rows for figures a-f (default 100,000)")
    p.add_argument("--scale", type=int, default=None, help="opportunities for the scale figures (default 1,000,000)")
    p.add_argument("--quick", action="store_true", help="scale figures at 100,000 opportunities")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "latest.json")
    p.add_argument("--workload", type=Path, default=DEFAULT_WORKLOAD, help="folder or file of workload.py")
    p.add_argument(
        "--crm-blueprint",
        type=Path,
        default=CRM_BLUEPRINT,
        help="blueprint for the scale data (falls back to the workload blueprint if missing)",
    )
    p.add_argument("--workers", type=int, default=1, help="loomwork serve --workers (default 1)")
    p.add_argument("--batch", type=int, default=10_000, help="records per bulk request (max 10,000)")
    p.add_argument("--header", action="append", default=[], help="extra request header 'Name: value'")
    p.add_argument(
        "--only",
        choices=["workload", "scale", "check", "policy"],
        action="append",
        help="run only these parts (repeatable; policy runs only when named)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, server logs)")
    args = p.parse_args(argv)
    if args.scale is None:
        args.scale = 100_000 if args.quick else 1_000_000
    return args


def has_blueprint(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.glob("*.y*ml")))


def workload_part(tmp: Path, args: argparse.Namespace, headers: dict[str, str], out: dict[str, Any]) -> None:
    wl = load_workload_module(args.workload)
    db = f"sqlite:///{tmp / 'workload.db'}"
    migrate(WORKLOAD_BLUEPRINT, db)
    headers = {**headers, **admin_headers(db)}
    server = Server.loomwork(WORKLOAD_BLUEPRINT, db, log=tmp / "workload-server.log", workers=args.workers)
    try:
        server.wait_ready("/api/v1/opportunity?limit=1", headers=headers)
        log(f"workload: N = {args.n:,} (WORKLOAD.md, seed {wl.SEED}), server on port {server.port}")
        run_workload(server, wl, args.n, batch=args.batch, headers=headers, log=log, out=out)
    finally:
        server.stop()
        out["vs_peer"] = compare_with_peer(out)


def print_summary(results: dict[str, Any]) -> None:
    w = results.get("workload")
    if w:
        log(f"\nShared workload, N = {w['n']:,} (ratio > 1 means better than the peer)")
        log(f"{'figure':<20}{'ours':>12}{'peer':>10}  {'unit':<7}{'ratio':>8}{'target':>8}  result")
        for r in w["vs_peer"]:
            verdict = "PASS" if r["pass"] else "FAIL"
            ours = "-" if r["ours"] is None else f"{r['ours']:,}"
            got = "-" if r["ratio"] is None else str(r["ratio"])
            need = f">={r['target_ratio']}"
            log(f"{r['label']:<20}{ours:>12}{r['peer']:>10,}  {r['unit']:<7}{got:>8}{need:>8}  {verdict}")
    s = results.get("scale")
    if s:
        lp, ok = s["list_page"]["p95_ms"], s["list_page"]["p95_ms"] <= TARGETS["list_page_p95_ms"]
        log(f"\nScale: {s['scale']:,} opportunities ({s['data']} data)")
        log(f"  list page p95       {lp:>10} ms   target <= 30 ms   {'PASS' if ok else 'FAIL'}")
        ratio_ok = s["create_ratio"] >= TARGETS["create_ratio"]
        ours, bare = s["create_loomwork"]["creates_per_s"], s["create_baseline"]["creates_per_s"]
        log(
            f"  creates/s           {ours:>10} vs bare {bare}"
            f"  ratio {s['create_ratio']} (target >= 0.5)  {'PASS' if ratio_ok else 'FAIL'}"
        )
        log(f"  server RSS          {s['rss']['total_mb']:>10} MB")
    pol = results.get("policy")
    if pol:
        worst = max(r for q in pol["queries"].values() for k, r in q["ratios"].items() if not k.startswith("system"))
        verdict = "PASS" if pol["pass"] else "FAIL"
        log(f"  policy: worst rep/manager vs admin ratio {worst} (target <= {pol['target_ratio']})  {verdict}")
    c = results.get("check")
    if c:
        ok = c["median_s"] < TARGETS["check_s"]
        log(f"  loomwork check ({c['objects']} objects) {c['median_s']} s (target < 1 s)  {'PASS' if ok else 'FAIL'}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    parts = set(args.only or ["workload", "scale", "check"])
    headers = dict(h.split(": ", 1) for h in args.header)
    tmp = Path(tempfile.mkdtemp(prefix="loomwork-bench-"))
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"n": args.n, "scale": args.scale, "workers": args.workers, "batch": args.batch},
    }
    t0 = time.perf_counter()
    try:
        if "workload" in parts:
            workload_part(tmp, args, headers, results.setdefault("workload", {}))
        if "scale" in parts:
            crm = has_blueprint(args.crm_blueprint)
            blueprint = args.crm_blueprint if crm else WORKLOAD_BLUEPRINT
            if not crm:
                log(f"note: no CRM blueprint at {args.crm_blueprint}; scale figures use the workload blueprint")
            results["scale"] = run_scale(
                tmp,
                blueprint,
                args.scale,
                crm=crm,
                workload_path=args.workload,
                workers=args.workers,
                batch=args.batch,
                headers=headers,
                log=log,
            )
        if "check" in parts:
            results["check"] = time_check(tmp)
        if "policy" in parts:
            from benchmarks.bench_policy import main as bench_policy

            results["policy"] = bench_policy(["--rows", str(args.scale)])
    finally:
        results["wall_s"] = round(time.perf_counter() - t0, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_summary(results)
    log(f"\nwrote {args.out} ({results['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
