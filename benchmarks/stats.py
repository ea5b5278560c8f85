"""Latency statistics for benchmark results (pure functions, no timing)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between closest ranks.

    Same definition as numpy's default and `statistics.quantiles(method="inclusive")`.
    """
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile p={p!r} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def summarize_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """count, p50/p95/p99, mean and max of latencies given in seconds, reported in milliseconds."""
    if not seconds:
        return {"count": 0}
    ms = sorted(s * 1000 for s in seconds)
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "max_ms": round(ms[-1], 3),
    }


def ratio(ours: float, theirs: float, *, lower_is_better: bool) -> float:
    """How many times better `ours` is than `theirs` (>1 means better)."""
    if lower_is_better:
        return math.inf if ours == 0 else theirs / ours
    return math.inf if theirs == 0 else ours / theirs
