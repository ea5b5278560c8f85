"""The benchmark tools: seeded generators, statistics, ground-truth checks (no timing assertions)."""

from __future__ import annotations

import statistics
import sys
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import generate, stats  # noqa: E402
from benchmarks.blueprint_gen import big_blueprint, write_big_blueprint  # noqa: E402
from benchmarks.workload_bench import (  # noqa: E402
    PEER,
    GroundTruthMismatch,
    check_aggregate,
    check_list,
    compare_with_peer,
    load_workload_module,
)

CRM = REPO / "blueprints" / "crm"
WORKLOAD_YAML = REPO / "benchmarks" / "blueprints" / "workload.yaml"


# -- statistics ---------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert stats.percentile(values, 0) == 10.0
    assert stats.percentile(values, 100) == 40.0
    assert stats.percentile(values, 50) == 25.0
    assert stats.percentile(values, 95) == pytest.approx(38.5)


def test_percentile_matches_statistics_inclusive_quantiles() -> None:
    values = [float((i * 37) % 101) for i in range(200)]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert stats.percentile(values, 50) == pytest.approx(cuts[49])
    assert stats.percentile(values, 95) == pytest.approx(cuts[94])


def test_percentile_ignores_input_order_and_handles_one_value() -> None:
    assert stats.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert stats.percentile([7.0], 95) == 7.0


@pytest.mark.parametrize(("values", "p"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_bad_input(values: list[float], p: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        stats.percentile(values, p)


def test_summarize_ms_converts_seconds() -> None:
    s = stats.summarize_ms([0.001, 0.002, 0.003, 0.004, 0.010])
    assert s["count"] == 5
    assert s["p50_ms"] == 3.0
    assert s["max_ms"] == 10.0
    assert s["mean_ms"] == 4.0
    assert stats.summarize_ms([]) == {"count": 0}


def test_ratio_direction() -> None:
    assert stats.ratio(10.0, 50.0, lower_is_better=True) == 5.0
    assert stats.ratio(8420.0, 842.0, lower_is_better=False) == 10.0


# -- CRM generator ---------------------------------------------------------------------------------


def _crm_sample(specs: dict[str, generate.ObjectSpec], seed: int = 7) -> dict[str, list[dict]]:
    refs = {"account": list(range(1, 11))}
    return {obj: list(generate.records(obj, 50, seed=seed, refs=refs, specs=specs)) for obj in generate.BUILTIN_OBJECTS}


def test_generator_is_deterministic_per_seed() -> None:
    a = _crm_sample(generate.BUILTIN_OBJECTS)
    b = _crm_sample(generate.BUILTIN_OBJECTS)
    c = _crm_sample(generate.BUILTIN_OBJECTS, seed=8)
    assert a == b
    assert a != c


def test_generator_counts_and_scale() -> None:
    scale = generate.CrmScale(1000)
    assert scale.counts() == {"account": 100, "contact": 200, "opportunity": 1000}
    refs = {"account": range(1, 101)}
    opps = list(generate.records("opportunity", 1000, refs=refs))
    assert len(opps) == 1000
    assert len({o["name"] for o in opps}) == 1000
    assert {o["stage"] for o in opps} == set(generate.STAGE_PROBABILITY)
    assert all(1 <= o["account_id"] <= 100 for o in opps)


def test_continuation_gives_fresh_names() -> None:
    refs = {"account": [1]}
    first = list(generate.records("opportunity", 5, refs=refs))
    more = list(generate.records("opportunity", 5, refs=refs, start=5))
    assert not {r["name"] for r in first} & {r["name"] for r in more}


def test_required_lookup_without_ids_is_an_error() -> None:
    with pytest.raises(ValueError, match="required lookup"):
        list(generate.records("contact", 1))


def test_batched_splits_and_keeps_the_rest() -> None:
    sizes = [len(b) for b in generate.batched(({"i": i} for i in range(25)), 10)]
    assert sizes == [10, 10, 5]
    with pytest.raises(ValueError, match="batch size"):
        list(generate.batched([], 0))


def _assert_valid(specs: dict[str, generate.ObjectSpec], sample: dict[str, list[dict]]) -> None:
    """Every generated value fits its field: known key, option ids, ranges, lengths, required present."""
    for obj, recs in sample.items():
        fields = {f.key: f for f in specs[obj].fields}
        for rec in recs:
            for f in fields.values():
                if f.required and f.type not in generate.SKIPPED_TYPES:
                    assert f.key in rec, f"{obj}.{f.key} is required"
            for key, value in rec.items():
                f = fields[key]
                if f.type == "select":
                    assert value in f.options
                elif f.type == "multi_select":
                    assert set(value) <= set(f.options)
                elif f.type in ("decimal", "currency", "percent"):
                    d = Decimal(value)
                    assert -d.as_tuple().exponent <= f.scale
                    assert f.min is None or d >= f.min
                    assert f.max is None or d <= f.max
                elif f.type in ("text", "email", "phone", "url", "long_text"):
                    assert isinstance(value, str)
                    assert f.max_length is None or len(value) <= f.max_length


def test_builtin_records_are_valid() -> None:
    _assert_valid(generate.BUILTIN_OBJECTS, _crm_sample(generate.BUILTIN_OBJECTS))


def test_records_are_valid_for_the_crm_blueprint() -> None:
    specs = generate.specs_from_blueprint(CRM)
    assert {"account", "contact", "opportunity"} <= set(specs)
    _assert_valid(specs, _crm_sample(specs))


def test_cli_writes_json_arrays(tmp_path: Path) -> None:
    import orjson

    assert generate.main(["--scale", "30", "--out", str(tmp_path)]) == 0
    opps = orjson.loads((tmp_path / "opportunitys.json").read_bytes())
    assert len(opps) == 30
    assert len(orjson.loads((tmp_path / "accounts.json").read_bytes())) == 3


# -- blueprints --------------------------------------------------------------------------------------


def test_big_blueprint_has_the_requested_objects_and_loads(tmp_path: Path) -> None:
    from engine.blueprint.load import load_blueprint
    from engine.types.registry import TypeRegistry

    assert len(big_blueprint(200)["objects"]) == 200
    app = load_blueprint(write_big_blueprint(tmp_path / "big.yaml", 12), TypeRegistry.with_builtins())
    assert len(app.objects) == 12


def test_workload_blueprint_mirrors_the_workload_schema() -> None:
    from engine.blueprint.load import load_blueprint
    from engine.types.registry import TypeRegistry

    opp = load_blueprint(WORKLOAD_YAML, TypeRegistry.with_builtins()).object("opportunity")
    assert [f.name for f in opp.fields] == ["name", "amount", "stage", "owner", "region", "close_date"]
    assert [o.id for o in opp.field("stage").options] == [
        "prospect",
        "qualify",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    assert opp.field("amount").settings["scale"] == 2
    assert ("stage", "amount") in [ix.fields for ix in opp.indexes]


# -- ground-truth checks -----------------------------------------------------------------------------


#: The shared workload's ground truth for its first 2,000 rows (`expected(gen_rows(2000))` of
#: ../shared/bench/workload.py), kept in the repo so these tests run on any clone.
TRUTH_2000 = Path(__file__).with_name("workload_truth_2000.json")


@pytest.fixture(scope="module")
def truth() -> dict:
    import orjson

    loaded: dict = orjson.loads(TRUTH_2000.read_bytes())
    return loaded


def test_the_workload_module_loads_from_a_folder_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "workload.py").write_text("LIST_STAGE = 'proposal'\n")
    assert load_workload_module(tmp_path).LIST_STAGE == "proposal"
    assert load_workload_module(tmp_path / "workload.py").LIST_STAGE == "proposal"


def test_check_list_accepts_the_truth_and_rejects_a_wrong_page(truth: dict) -> None:
    page = {
        "data": [{"amount": f"{a:.2f}"} for a in truth["list_first_page_amounts"]],
        "total": truth["list_filter_total"],
    }
    check_list(page, truth)
    with pytest.raises(GroundTruthMismatch, match="total"):
        check_list({**page, "total": page["total"] + 1}, truth)
    with pytest.raises(GroundTruthMismatch, match="amounts"):
        check_list({"data": page["data"][1:]}, truth)


def test_check_aggregate_accepts_the_truth_and_rejects_a_wrong_sum(truth: dict) -> None:
    data = [
        {"stage": s, "count": v["count"], "sum_amount": f"{v['sum_amount']:.2f}"} for s, v in truth["by_stage"].items()
    ]
    check_aggregate({"data": data}, truth)
    data[0] = {**data[0], "sum_amount": str(Decimal(data[0]["sum_amount"]) + Decimal("0.01"))}
    with pytest.raises(GroundTruthMismatch):
        check_aggregate({"data": data}, truth)


def test_compare_with_peer_marks_pass_and_fail() -> None:
    w = {
        "a": {"rows_per_s": 8420.0},
        "b": {"p50_ms": 9.0, "p95_ms": 20.0},
        "c": {"p50_ms": 5.0, "p95_ms": 6.0},
        "d": {"p50_ms": 10.0},
        "e": {"requests_per_s": 100.0, "latency": {"p50_ms": 50.0}},
        "f": {"total_mb": 100.0},
    }
    rows = {r["figure"]: r for r in compare_with_peer(w)}
    assert len(rows) == len(PEER)
    assert rows["a_rows_per_s"]["pass"]
    assert rows["b_p50_ms"]["pass"]
    assert not rows["b_p95_ms"]["pass"]
    assert not rows["e_requests_per_s"]["pass"]
