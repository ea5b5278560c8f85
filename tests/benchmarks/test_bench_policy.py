"""benchmarks/bench_policy.py at a tiny scale: the JSON it writes and what a rep sees (no timing assertions)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import bench_policy  # noqa: E402
from engine.auth.access import PolicyAccess  # noqa: E402

ROWS = 2_000


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Path]:
    tmp = tmp_path_factory.mktemp("bench_policy")
    out = tmp / "policy.json"
    argv = ["--rows", str(ROWS), "--reps", "3", "--warmup", "1", "--users", "3", "--shares", "0"]
    result = bench_policy.main([*argv, "--cache", str(tmp), "--out", str(out)])
    return result, out, tmp / f"policy-{ROWS}.db"


def test_writes_json_with_every_query_and_viewer(run: tuple[dict[str, Any], Path, Path]) -> None:
    result, out, _ = run
    written = json.loads(out.read_text())
    assert written["rows"] == ROWS
    assert written["database"] == "sqlite"
    assert written["target_ratio"] == 1.2
    assert isinstance(written["pass"], bool)
    assert written["visible_rows_ok"] == {"rep": True, "manager": True, "rep_shared": True}
    assert set(written["queries"]) == {"list", "total", "first_page"}
    for q in written["queries"].values():
        for viewer in bench_policy.VIEWERS:
            assert q[viewer]["count"] == 3
            assert 0 < q[viewer]["p50_ms"] <= q[viewer]["p95_ms"]
        viewers = ("rep", "manager", "rep_shared", "system")
        assert set(q["ratios"]) == {f"{v}_vs_admin_p{p}" for v in viewers for p in (50, 95)}
        assert set(q["plans"]) == {"admin", "rep", "manager", "rep_shared"}
        assert q["rows"]["admin"] == 50
    totals = written["queries"]["total"]["totals"]
    assert totals["system"] == totals["admin"] > totals["manager"] > totals["rep"] > 0
    assert result["queries"]["list"]["rows"] == written["queries"]["list"]["rows"]


def test_rep_sees_only_own_rows_and_the_cached_database_is_reused(run: tuple[dict[str, Any], Path, Path]) -> None:
    _, _, db = run
    store = bench_policy.open_store(f"sqlite:///{db}")
    try:
        assert bench_policy.is_loaded(store, ROWS)
        subs = bench_policy.subjects(store, 3)
        assert len(subs["rep"]) == 3 and len(subs["manager"]) == 3 and len(subs["admin"]) == 1
        seen = 0
        for rep in subs["rep"]:
            assert rep.roles == frozenset({"sales_rep"})
            find = bench_policy.finder(store, "opportunity", PolicyAccess(store, rep))
            assert len(find(bench_policy.QUERIES["first_page"]).records) == ROWS // 200  # owners round-robin
            for q in bench_policy.QUERIES.values():
                page = find(q)
                assert all(r["owner_id"] == rep.id for r in page.records)
                seen += len(page.records)
            total = find(bench_policy.QUERIES["total"]).total
            assert total is not None and total <= ROWS // 200
        assert seen > 3 * ROWS // 200
    finally:
        store.db.dispose()
