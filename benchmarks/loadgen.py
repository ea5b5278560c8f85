"""Concurrent GET load in a process of its own: N threads, one keep-alive connection each.

Prints one JSON object: requests, errors, requests/s, latency percentiles and the client's own
CPU use (to show the client was not the bottleneck).

    python benchmarks/loadgen.py --port 8000 --path '/api/v1/opportunity?stage=won' --clients 8 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.httpclient import Client
from benchmarks.stats import summarize_ms


def run_load(port: int, path: str, clients: int, seconds: float, headers: dict[str, str]) -> dict[str, object]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(k: int) -> None:
        client = Client(port, headers=headers)
        client.request("GET", path)  # connect and warm up outside the measured window
        start.wait()
        mine = latencies[k]
        while time.perf_counter() < deadline[0]:
            status, _body, elapsed = client.request("GET", path)
            if status == 200:
                mine.append(elapsed)
            else:
                errors[k] += 1
        client.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    flat = [x for lat in latencies for x in lat]
    return {
        "clients": clients,
        "seconds": round(wall, 3),
        "requests": len(flat),
        "errors": sum(errors),
        "requests_per_s": round(len(flat) / wall, 1),
        "latency": summarize_ms(flat),
        "client_cpu_s": round(cpu, 3),
        "client_cpu_share": round(cpu / wall, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Concurrent keep-alive GET load.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    args = parser.parse_args(argv)
    headers = dict(h.split(": ", 1) for h in args.header)
    print(json.dumps(run_load(args.port, args.path, args.clients, args.seconds, headers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
