"""Virtual formulas (`stored: false`) work wherever a stored field does, on SQLite and PostgreSQL:
sort with keyset cursors across pages, `fields=`, field filters, `group_by` and metrics, each
compared with values computed in Python; a hidden one is refused everywhere like a hidden field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.web.pipeline_support import Pipeline, exact_average, ordered, pipeline, walk

VIRTUAL = ["weighted", "won_value", "third", "follow_up", "reminder", "label", "big", "net"]


@pytest.fixture
def world(db_url: str) -> Iterator[Pipeline]:
    yield from pipeline(db_url)


def _typed(name: str, raw: Any) -> Any:
    """A virtual formula's JSON value as the Python value the reference holds."""
    if raw is None or name in ("label", "big"):
        return raw
    if name == "follow_up":
        return date.fromisoformat(raw)
    if name == "reminder":
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return Decimal(raw)


@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
def test_sort_by_every_virtual_formula_pages_with_cursors(world: Pipeline, desc: bool) -> None:
    for name in VIRTUAL:
        sort = f"-{name}" if desc else name
        got = walk(world.admin, "/api/v1/deal", {"sort": sort, "limit": 7})
        expected = ordered(world.deals, lambda d, n=name: d[n], desc)
        assert [r["id"] for r in got] == expected, sort
        assert [_typed(name, r[name]) for r in got] == [
            next(d for d in world.deals if d["id"] == r["id"])[name] for r in got
        ]


def test_sort_by_a_virtual_formula_then_a_stored_field(world: Pipeline) -> None:
    got = walk(world.admin, "/api/v1/deal", {"sort": "-big,amount", "limit": 5, "fields": "big,amount"})
    by_amount = ordered(world.deals, lambda d: d["amount"], False)
    rank = {i: n for n, i in enumerate(by_amount)}
    expected = sorted(world.deals, key=lambda d: rank[d["id"]])
    expected = [d["id"] for d in expected if d["big"] is True] + [d["id"] for d in expected if d["big"] is False]
    expected += [d["id"] for d in sorted(world.deals, key=lambda d: rank[d["id"]]) if d["big"] is None]
    assert [r["id"] for r in got] == expected
    assert set(got[0]) == {"id", "big", "amount"}


def test_fields_selects_virtual_formulas(world: Pipeline) -> None:
    r = world.admin.get("/api/v1/deal", params={"fields": "weighted,third,follow_up", "limit": 1000})
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert len(rows) == len(world.deals)
    for row in rows:
        deal = next(d for d in world.deals if d["id"] == row["id"])
        assert set(row) == {"id", "weighted", "third", "follow_up"}
        assert {k: _typed(k, row[k]) for k in ("weighted", "third", "follow_up")} == {
            k: deal[k] for k in ("weighted", "third", "follow_up")
        }


_MARCH = datetime(2026, 3, 1, tzinfo=UTC)
FILTERS: list[tuple[str, str, Any]] = [
    ("won_value__gt", "150000", lambda d: d["won_value"] is not None and d["won_value"] > 150000),
    ("won_value", "0", lambda d: d["won_value"] == 0),
    ("won_value__ne", "0", lambda d: d["won_value"] != 0),
    ("weighted__gte", "20000.123456", lambda d: d["weighted"] is not None and d["weighted"] >= Decimal("20000.123456")),
    ("weighted__lt", "0", lambda d: d["weighted"] is not None and d["weighted"] < 0),
    ("weighted__isnull", "true", lambda d: d["weighted"] is None),
    ("third__lte", "333.3333333333", lambda d: d["third"] is not None and d["third"] <= Decimal("333.3333333333")),
    ("third", "333.3333333333", lambda d: d["third"] == Decimal("333.3333333333")),
    ("won_value__gt", "1000.001", lambda d: d["won_value"] is not None and d["won_value"] > Decimal("1000.001")),
    ("net__in", "900,-100.5", lambda d: d["net"] in (Decimal(900), Decimal("-100.5"))),
    ("follow_up__gte", "2026-06-01", lambda d: d["follow_up"] is not None and str(d["follow_up"]) >= "2026-06-01"),
    ("reminder__lt", "2026-03-01T08:00:00+08:00", lambda d: d["reminder"] is not None and d["reminder"] < _MARCH),
    ("big", "true", lambda d: d["big"] is True),
    ("big__ne", "true", lambda d: d["big"] is not True),
    ("label", "deal 004 / won", lambda d: d["label"] == "deal 004 / won"),
    ("label__in", "deal 001 / won,deal 002 / lost", lambda d: d["label"] in ("deal 001 / won", "deal 002 / lost")),
]


def test_field_filters_on_virtual_formulas_agree_with_python(world: Pipeline) -> None:
    mismatches = []
    for param, value, keep in FILTERS:
        r = world.admin.get("/api/v1/deal", params={param: value, "limit": 1000, "fields": "id"})
        assert r.status_code == 200, (param, r.text)
        got = sorted(row["id"] for row in r.json()["data"])
        expected = sorted(d["id"] for d in world.deals if keep(d))
        if got != expected:
            mismatches.append((param, value, sorted(set(got) ^ set(expected))))
    assert mismatches == []


def test_bad_values_for_virtual_formulas_are_located(world: Pipeline) -> None:
    r = world.admin.get("/api/v1/deal", params={"weighted__gt": "lots", "follow_up": "soon", "big": "maybe"})
    assert r.status_code == 422, r.text
    errors = {(tuple(e["loc"]), e["code"]) for e in r.json()["errors"]}
    assert errors == {
        (("query", "weighted__gt"), "query.bad_value"),
        (("query", "follow_up"), "query.bad_value"),
        (("query", "big"), "query.bad_value"),
    }


def test_group_by_and_metrics_over_virtual_formulas(world: Pipeline) -> None:
    r = world.admin.get(
        "/api/v1/deal/aggregate",
        params={
            "group_by": "big",
            "metrics": "count,sum:weighted,avg:third,min:won_value,max:weighted,max:follow_up,min:reminder,min:label",
        },
    )
    assert r.status_code == 200, r.text
    got = r.json()["data"]
    expected = []
    for big in (False, True, None):
        group = [d for d in world.deals if d["big"] is big]
        weighted = [d["weighted"] for d in group if d["weighted"] is not None]
        thirds = [d["third"] for d in group if d["third"] is not None]
        won = [d["won_value"] for d in group if d["won_value"] is not None]
        follow = [d["follow_up"] for d in group if d["follow_up"] is not None]
        reminders = [d["reminder"] for d in group if d["reminder"] is not None]
        expected.append(
            {
                "big": big,
                "count": len(group),
                "sum_weighted": sum(weighted, Decimal(0)) if weighted else None,
                "avg_third": exact_average(thirds, 2),
                "min_won_value": min(won) if won else None,
                "max_weighted": max(weighted) if weighted else None,
                "max_follow_up": max(follow).isoformat() if follow else None,
                "min_reminder": min(reminders).isoformat().replace("+00:00", "Z") if reminders else None,
                "min_label": min(d["label"] for d in group),
            }
        )
    for row in got:
        for k in ("sum_weighted", "min_won_value", "max_weighted"):
            row[k] = None if row[k] is None else Decimal(row[k])
    assert got == expected


def test_group_by_numeric_virtual_formulas(world: Pipeline) -> None:
    for name in ("won_value", "weighted", "third"):
        r = world.admin.get("/api/v1/deal/aggregate", params={"group_by": name, "metrics": "count"})
        assert r.status_code == 200, r.text
        got = [(None if row[name] is None else Decimal(row[name]), row["count"]) for row in r.json()["data"]]
        values = {d[name] for d in world.deals if d[name] is not None}
        expected = [(v, sum(1 for d in world.deals if d[name] == v)) for v in sorted(values)]
        nulls = sum(1 for d in world.deals if d[name] is None)
        assert got == expected + ([(None, nulls)] if nulls else []), name


HIDDEN_PROBES: list[tuple[str, dict[str, str]]] = [
    ("/api/v1/deal", {"sort": "net"}),
    ("/api/v1/deal", {"sort": "-net"}),
    ("/api/v1/deal", {"fields": "name,net"}),
    ("/api/v1/deal", {"net__gt": "1"}),
    ("/api/v1/deal", {"net__isnull": "true"}),
    ("/api/v1/deal/aggregate", {"group_by": "net"}),
    ("/api/v1/deal/aggregate", {"metrics": "sum:net"}),
    ("/api/v1/deal/aggregate", {"metrics": "count", "sort": "-max:net"}),
    ("/api/v1/deal/aggregate", {"metrics": "count", "net__lt": "0"}),
]


@pytest.mark.parametrize(("path", "params"), HIDDEN_PROBES, ids=[str(p) for _, p in HIDDEN_PROBES])
def test_a_hidden_virtual_formula_is_refused_everywhere(world: Pipeline, path: str, params: dict[str, str]) -> None:
    r = world.rep.get(path, params=params)
    assert r.status_code == 422, r.text
    assert [e["code"] for e in r.json()["errors"]] == ["query.forbidden_field"]
    # the same request by someone who may read it works
    assert world.admin.get(path, params=params).status_code == 200


def test_a_hidden_virtual_formula_is_left_out_of_records(world: Pipeline) -> None:
    rows = walk(world.rep, "/api/v1/deal", {"sort": "-weighted", "limit": 10})
    assert [r["id"] for r in rows] == ordered(world.deals_of("rep"), lambda d: d["weighted"], True)
    assert all("net" not in r and "weighted" in r for r in rows)


@pytest.mark.parametrize("sort", ["-weighted", "third", "-won_value", "follow_up", "-label"])
def test_a_scope_with_shares_pages_by_a_virtual_formula(
    world: Pipeline, sort: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Own plus shared records: on SQLite read per alternative and merged (engine.store.lists._merged)."""
    import sqlalchemy as sa

    from engine.store import lists

    merged: list[int] = []
    original = lists._merged

    def counted(*args: Any) -> Any:
        merged.append(1)
        return original(*args)

    monkeypatch.setattr(lists, "_merged", counted)

    others = [d for d in world.deals if d["owner_id"] != world.rep_id][:5]
    shares = world.store.metadata.tables["lw_share"]
    with world.store.db.write() as conn:
        rows = [{"object": "deal", "record_id": d["id"], "user_id": world.rep_id, "can_edit": False} for d in others]
        conn.execute(sa.insert(shares), rows)
    readable = world.deals_of("rep") + others
    name = sort.lstrip("-")
    got = walk(world.rep, "/api/v1/deal", {"sort": sort, "limit": 4})
    assert [r["id"] for r in got] == ordered(readable, lambda d: d[name], sort.startswith("-"))
    # PostgreSQL's text order is its collation's, not Python's: a text key is read in one query there
    assert bool(merged) == (world.store.db.is_sqlite or name != "label")
