"""Aggregates on SQLite and PostgreSQL, each answer compared with a Python reference computed from
the seeded records: group_by a linked record's field (through lookups, within the reader's field
mask and row scope), date buckets, sort and limit on groups, exact sums and averages, and the cut at
10,000 groups said with `truncated`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.store import aggregates
from engine.store.query import AggregateQuery
from tests.helpers import api_client, make_store
from tests.web.pipeline_support import PIPELINE, Pipeline, bucket, exact_average, pipeline

Row = dict[str, Any]


@pytest.fixture
def world(db_url: str) -> Iterator[Pipeline]:
    yield from pipeline(db_url)


def _get(client: Any, params: dict[str, str], path: str = "/api/v1/deal/aggregate") -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, (params, r.text)
    body = r.json()
    assert body["ok"] is True
    return body


def _sorted_groups(groups: dict[Any, list[Row]]) -> list[tuple[Any, list[Row]]]:
    """Groups in the API's default order: key ascending (text by code point), empty last."""

    def key(k: Any) -> Any:
        parts = k if isinstance(k, tuple) else (k,)
        return tuple((p is None, p if p is not None else 0) for p in parts)

    return sorted(groups.items(), key=lambda item: key(item[0]))


def _group(records: list[Row], key: Callable[[Row], Any]) -> list[tuple[Any, list[Row]]]:
    out: dict[Any, list[Row]] = {}
    for r in records:
        out.setdefault(key(r), []).append(r)
    return _sorted_groups(out)


def _summary(rows: list[Row]) -> dict[str, Any]:
    """count, sum:amount and avg:amount of a group as the API writes them."""
    amounts = [r["amount"] for r in rows if r["amount"] is not None]
    return {
        "count": len(rows),
        "sum_amount": str(sum(amounts, Decimal("0.00"))) if amounts else None,
        "avg_amount": exact_average(amounts, 2),
    }


# -- group_by a linked record's field ------------------------------------------------------------------
LINKED: list[tuple[str, Callable[[Pipeline, Row, str], Any]]] = [
    ("account.industry", lambda w, d, who: (w.account_of(d, who) or {}).get("industry")),
    ("account.region", lambda w, d, who: (w.account_of(d, who) or {}).get("region")),
    ("account.name", lambda w, d, who: (w.account_of(d, who) or {}).get("name")),
    ("account.parent_id", lambda w, d, who: (w.account_of(d, who) or {}).get("parent_id")),
    ("account.parent.industry", lambda w, d, who: _parent(w, d, who, "industry")),
    ("account.parent.region", lambda w, d, who: _parent(w, d, who, "region")),
]


def _parent(w: Pipeline, d: Row, who: str, name: str) -> Any:
    account = w.account_of(d, who)
    if account is None or account["parent_id"] is None:
        return None
    parent = w.accounts[account["parent_id"]]
    if who == "rep" and parent["owner_id"] != w.rep_id:
        return None
    return parent[name]


@pytest.mark.parametrize("who", ["admin", "rep"])
def test_group_by_a_linked_records_field(world: Pipeline, who: str) -> None:
    client = world.admin if who == "admin" else world.rep
    deals = world.deals_of(who)
    for path, value in LINKED:
        body = _get(client, {"group_by": path, "metrics": "count,sum:amount,avg:amount"})
        expected = [{path: k, **_summary(rows)} for k, rows in _group(deals, lambda d, v=value: v(world, d, who))]
        assert body["data"] == expected, (who, path)
        assert body["truncated"] is False


def test_linked_keys_combine_with_own_fields_and_buckets(world: Pipeline) -> None:
    body = _get(world.admin, {"group_by": "stage,account.industry,account.founded:year", "metrics": "count"})

    def key(d: Row) -> tuple[Any, ...]:
        account = world.account_of(d, "admin") or {}
        return d["stage"], account.get("industry"), bucket(account.get("founded"), "year")

    expected = [
        {"stage": k[0], "account.industry": k[1], "account.founded:year": k[2] and k[2].isoformat(), "count": len(rows)}
        for k, rows in _group(world.deals, key)
    ]
    assert body["data"] == expected


def test_a_linked_record_outside_the_scope_groups_as_empty(world: Pipeline) -> None:
    mine = world.deals_of("rep")
    outside = [d for d in mine if d["account_id"] and world.accounts[d["account_id"]]["owner_id"] != world.rep_id]
    assert outside, "the seed gives the rep deals on accounts they may not read"
    body = _get(world.rep, {"group_by": "account.name", "metrics": "count"})
    empty = next(g for g in body["data"] if g["account.name"] is None)
    assert empty["count"] == sum(1 for d in mine if world.account_of(d, "rep") is None)
    names = {g["account.name"] for g in body["data"]} - {None}
    assert names == {a["name"] for a in world.accounts.values() if a["owner_id"] == world.rep_id} & {
        world.accounts[d["account_id"]]["name"] for d in mine if d["account_id"]
    }


@pytest.mark.parametrize(
    ("who", "group_by", "code"),
    [
        ("rep", "account.secret", "query.forbidden_field"),
        ("rep", "account.parent.secret", "query.forbidden_field"),
        ("dealer", "account.industry", "query.forbidden_field"),
        ("admin", "account.nosuch", "query.unknown_field"),
        ("admin", "name.industry", "query.unknown_field"),
        ("admin", "stage.name", "query.unknown_field"),
        ("admin", "account.parent.parent.parent.industry", "query.unknown_field"),
        ("admin", "account..industry", "query.unknown_field"),
        ("admin", "account.tags", "query.unknown_field"),
    ],
)
def test_linked_keys_that_are_refused(world: Pipeline, who: str, group_by: str, code: str) -> None:
    client = {"admin": world.admin, "rep": world.rep, "dealer": world.dealer}[who]
    r = client.get("/api/v1/deal/aggregate", params={"group_by": group_by})
    assert r.status_code == 422, r.text
    assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [(["query", "group_by"], code)]


def test_three_lookups_deep_is_allowed(world: Pipeline) -> None:
    body = _get(world.admin, {"group_by": "account.parent.parent.name"})
    assert body["data"] == [{"account.parent.parent.name": None, "count": len(world.deals)}]


def test_group_lines_by_their_parents_field(db_url: str) -> None:
    store = make_store(db_url)
    for i, stage in enumerate(["new", "won", "won"]):
        store.create("deal", {"name": f"d{i}", "stage": stage, "lines": [{"product": "p", "price": "1.50"}] * (i + 1)})
    with api_client(store) as client:
        body = _get(client, {"group_by": "deal.stage", "metrics": "count,sum:price"}, "/api/v1/deal_line/aggregate")
    store.db.dispose()
    assert body["data"] == [
        {"deal.stage": "new", "count": 1, "sum_price": "1.50"},
        {"deal.stage": "won", "count": 5, "sum_price": "7.50"},
    ]


# -- date buckets ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", aggregates.BUCKETS)
def test_date_buckets_on_dates_and_moments(world: Pipeline, unit: str) -> None:
    for name in ("close_date", "signed_at", "follow_up", "created_at"):
        key = f"{name}:{unit}"
        body = _get(world.admin, {"group_by": key, "metrics": "count,sum:amount"})

        def start(d: Row, n: str = name) -> date | None:
            return bucket(d[n], unit)

        expected = [
            {key: k and k.isoformat(), "count": len(rows), "sum_amount": _summary(rows)["sum_amount"]}
            for k, rows in _group(world.deals, start)
        ]
        assert body["data"] == expected, key


def test_week_buckets_are_iso_weeks_and_moments_are_bucketed_in_utc(world: Pipeline) -> None:
    body = _get(world.admin, {"group_by": "close_date:week", "metrics": "count", "close_date__lte": "2026-01-01"})
    weeks = [g["close_date:week"] for g in body["data"]]
    assert "2025-12-22" in weeks and "2025-12-29" in weeks  # Sunday the 28th and Monday the 29th part
    assert all(date.fromisoformat(w).isoweekday() == 1 for w in weeks if w)
    # 2026-03-31T23:30Z is April 1 in Beijing, March 31 (first quarter) in UTC
    body = _get(world.admin, {"group_by": "signed_at:quarter", "signed_at": "2026-03-31T23:30:00Z"})
    late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    count = sum(d["signed_at"] == late for d in world.deals)
    assert count > 0 and body["data"] == [{"signed_at:quarter": "2026-01-01", "count": count}]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_moments_fall_on_the_days_of_the_apps_time_zone(db_url: str, tmp_path: Path, zone: str) -> None:
    blueprint = tmp_path / "pipeline.yaml"
    blueprint.write_text(PIPELINE.read_text(encoding="utf-8").replace('version: "1"', f"timezone: {zone}"))
    with contextmanager(pipeline)(db_url, blueprint) as w:
        for unit in aggregates.BUCKETS:
            for name in ("signed_at", "reminder", "close_date"):
                key = f"{name}:{unit}"
                body = _get(w.admin, {"group_by": key, "metrics": "count"})
                expected = [
                    {key: k and k.isoformat(), "count": len(rows)}
                    for k, rows in _group(w.deals, lambda d, n=name, u=unit: bucket(d[n], u, zone))
                ]
                assert body["data"] == expected, key
        quarters = _get(w.admin, {"group_by": "signed_at:quarter", "signed_at": "2026-03-31T23:30:00Z"})["data"]
        assert quarters[0]["signed_at:quarter"] == "2026-04-01"  # in UTC: 2026-01-01 (see above)


# -- sort and limit ----------------------------------------------------------------------------------------
def _ranked(groups: list[Row], key: str, desc: bool, by: Callable[[Row], Any]) -> list[Row]:
    present = sorted((g for g in groups if by(g) is not None), key=by, reverse=desc)
    return present + [g for g in groups if by(g) is None]


def test_sort_and_limit_groups_by_a_metric(world: Pipeline) -> None:
    everything = _get(world.admin, {"group_by": "account.name", "metrics": "count,sum:amount"})["data"]
    assert len(everything) == 9
    top = _get(
        world.admin, {"group_by": "account.name", "metrics": "count,sum:amount", "sort": "-sum:amount", "limit": "3"}
    )
    ranked = _ranked(
        everything, "sum_amount", True, lambda g: None if g["sum_amount"] is None else Decimal(g["sum_amount"])
    )
    assert top["data"] == ranked[:3]
    assert top["truncated"] is True
    bottom = _get(
        world.admin, {"group_by": "account.name", "metrics": "count,sum:amount", "sort": "sum_amount", "limit": "9"}
    )
    assert bottom["data"] == _ranked(
        everything, "sum_amount", False, lambda g: None if g["sum_amount"] is None else Decimal(g["sum_amount"])
    )
    assert bottom["truncated"] is False


def test_sort_by_count_then_key_and_by_a_key_descending(world: Pipeline) -> None:
    everything = _get(world.admin, {"group_by": "account.region", "metrics": "count"})["data"]
    by_count = _get(world.admin, {"group_by": "account.region", "metrics": "count", "sort": "-count,-account.region"})
    present = [g for g in everything if g["account.region"] is not None]
    expected = sorted(present, key=lambda g: (g["count"], g["account.region"]), reverse=True)
    expected += [g for g in everything if g["account.region"] is None]
    expected = sorted(expected, key=lambda g: -g["count"])  # stable: count first, region descending within
    assert by_count["data"] == expected
    regions = _get(world.admin, {"group_by": "account.region", "sort": "-account.region"})["data"]
    names = [g["account.region"] for g in regions]
    assert names == [*sorted((n for n in names if n is not None), reverse=True), None]
    assert names[:2] == ["Ärger", "north"]  # code point order on both databases: 'W' < 'e' < 'n' < 'Ä'


def test_sort_by_a_metric_that_is_not_returned(world: Pipeline) -> None:
    body = _get(world.admin, {"group_by": "stage", "metrics": "count", "sort": "-avg:amount"})
    averages = {
        stage: Decimal(
            exact_average([d["amount"] for d in world.deals if d["stage"] == stage and d["amount"] is not None], 2) or 0
        )
        for stage in ("new", "won", "lost")
    }
    assert [g["stage"] for g in body["data"]] == sorted(averages, key=lambda s: averages[s], reverse=True)
    assert all(set(g) == {"stage", "count"} for g in body["data"])


def test_sort_by_a_virtual_formula_key_and_metric(world: Pipeline) -> None:
    body = _get(world.admin, {"group_by": "stage", "metrics": "max:weighted", "sort": "-max:weighted"})
    tops = {
        s: max(d["weighted"] for d in world.deals if d["stage"] == s and d["weighted"] is not None)
        for s in ("new", "won", "lost")
    }
    assert [(g["stage"], Decimal(g["max_weighted"])) for g in body["data"]] == sorted(
        tops.items(), key=lambda kv: kv[1], reverse=True
    )


# -- exact numbers -----------------------------------------------------------------------------------------
def test_sums_and_averages_are_exact(world: Pipeline) -> None:
    body = _get(
        world.admin,
        {
            "group_by": "stage",
            "metrics": "sum:amount,avg:amount,sum:quantity,avg:quantity,avg:probability,min:probability",
        },
    )
    expected = []
    for stage, rows in _group(world.deals, lambda d: d["stage"]):
        quantities = [d["quantity"] for d in rows if d["quantity"] is not None]
        probabilities = [d["probability"] for d in rows if d["probability"] is not None]
        expected.append(
            {
                "stage": stage,
                "sum_amount": _summary(rows)["sum_amount"],
                "avg_amount": _summary(rows)["avg_amount"],
                "sum_quantity": sum(quantities),
                "avg_quantity": exact_average(quantities, 0),
                "avg_probability": exact_average(probabilities, 4),
                "min_probability": str(min(probabilities)),
            }
        )
    assert body["data"] == expected
    assert any(len(g["avg_amount"].split(".")[1]) > 4 for g in body["data"])  # not cut at 4 places


def test_sums_past_64_bits_stay_exact(db_url: str) -> None:
    store = make_store(db_url)
    big = Decimal("9999999999999999.99")
    store.create_many("deal", [{"name": f"d{i}", "amount": str(big), "stage": "won"} for i in range(12)])
    store.create("deal", {"name": "x", "amount": "0.01", "stage": "new"})
    groups = store.aggregate("deal", AggregateQuery(group_by=["stage"], metrics=["count", "sum:amount", "avg:amount"]))
    store.db.dispose()
    assert groups.rows == [
        {"stage": "new", "count": 1, "sum_amount": Decimal("0.01"), "avg_amount": Decimal("0.01")},
        {"stage": "won", "count": 12, "sum_amount": big * 12, "avg_amount": big},
    ]


def test_a_group_without_values_has_no_sum(world: Pipeline) -> None:
    body = _get(
        world.admin,
        {"group_by": "amount", "metrics": "count,sum:amount,avg:amount,sum:weighted", "amount__isnull": "true"},
    )
    assert body["data"] == [
        {
            "amount": None,
            "count": sum(1 for d in world.deals if d["amount"] is None),
            "sum_amount": None,
            "avg_amount": None,
            "sum_weighted": None,
        }
    ]


# -- limits ------------------------------------------------------------------------------------------------
def test_more_than_10000_groups_are_cut_and_say_so(db_url: str) -> None:
    store = make_store(db_url)
    for start in (0, 6000):
        store.create_many("note", [{"name": f"n{i:05d}"} for i in range(start, start + 6000 - (start and 1999))])
    with api_client(store) as client:
        cut = _get(client, {"group_by": "name"}, "/api/v1/note/aggregate")
        whole = _get(client, {"group_by": "name", "name__gte": "n00001"}, "/api/v1/note/aggregate")
    store.db.dispose()
    assert len(cut["data"]) == 10_000 and cut["truncated"] is True
    assert cut["data"][0] == {"name": "n00000", "count": 1} and cut["data"][-1]["name"] == "n09999"
    assert len(whole["data"]) == 10_000 and whole["truncated"] is False


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"group_by": "stage,name,hot,close_date,amount"}, "query.bad_group_by"),
        ({"group_by": "stage,stage"}, "query.bad_group_by"),
        ({"group_by": "close_date:fortnight"}, "query.bad_group_by"),
        ({"group_by": "name:month"}, "query.bad_group_by"),
        ({"group_by": "tags"}, "query.not_sortable"),
        ({"metrics": "count,count"}, "query.bad_metric"),
        ({"metrics": "sum:amount,count,sum:amount"}, "query.bad_metric"),
        (
            {"metrics": ",".join(["count"] + [f"min:{f}" for f in ("amount", "name", "close_date")] * 7)},
            "query.bad_metric",
        ),
        ({"group_by": "stage", "sort": "nosuch"}, "query.bad_sort"),
        ({"group_by": "stage", "sort": "sum:name"}, "query.bad_metric"),
        ({"group_by": "stage", "limit": "0"}, "query.bad_limit"),
        ({"group_by": "stage", "limit": "10001"}, "query.bad_limit"),
        ({"group_by": "stage", "limit": "ten"}, "query.bad_value"),
    ],
)
def test_bad_aggregate_requests_are_located(world: Pipeline, params: dict[str, str], code: str) -> None:
    r = world.admin.get("/api/v1/deal/aggregate", params=params)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [e["code"] for e in errors] == [code]
    assert errors[0]["loc"][0] == "query"


def test_four_group_by_keys_are_allowed(world: Pipeline) -> None:
    body = _get(world.admin, {"group_by": "stage,hot,account.industry,close_date:year"})
    assert sum(g["count"] for g in body["data"]) == len(world.deals)


def test_openapi_describes_the_aggregate_and_virtual_formula_parameters() -> None:
    from engine.blueprint.load import load_blueprint
    from engine.types.registry import TypeRegistry
    from engine.web.openapi import openapi_document
    from tests.web.pipeline_support import PIPELINE

    types = TypeRegistry.with_builtins()
    doc = openapi_document(load_blueprint(PIPELINE, types), types, version="1")
    shared = doc["components"]["parameters"]  # field filters are kept once per object there

    def resolved(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in params]

    aggregate = doc["paths"]["/api/v1/deal/aggregate"]["get"]
    aggregate["parameters"] = resolved(aggregate["parameters"])
    names = {p["name"] for p in aggregate["parameters"]}
    assert {"group_by", "metrics", "sort", "limit", "filter", "stage__in", "weighted__gt", "follow_up__lte"} <= names
    assert "close_date:month" in next(p for p in aggregate["parameters"] if p["name"] == "group_by")["description"]
    ok = aggregate["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["truncated"] == {"type": "boolean", "description": "more groups matched than were returned"}
    listed = {p["name"] for p in resolved(doc["paths"]["/api/v1/deal"]["get"]["parameters"])}
    assert {"won_value__gt", "label__in", "big__isnull", "sort", "fields"} <= listed
