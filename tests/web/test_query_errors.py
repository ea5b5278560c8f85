"""Query parameters that used to be server errors are located 422s with the envelope, the same on
SQLite and PostgreSQL: a true/false that is neither, a NUL character in any list or aggregate parameter,
and a metric the field's type cannot take (which ones each type takes is pinned here)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.blueprint.load import load_blueprint
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from tests.helpers import EVERYTHING, api_client, make_store
from tests.web.pipeline_support import PIPELINE

NUL = "must not contain NUL characters"


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[TestClient, Store]]:
    store = make_store(db_url)
    with api_client(store) as client:
        yield client, store
    store.db.dispose()


def _only_error(r: Any, loc: list[Any], code: str, msg: str | None = None) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["ok"] is False
    assert [(e["loc"], e["code"]) for e in body["errors"]] == [(loc, code)]
    if msg is not None:
        assert body["errors"][0]["msg"] == msg


def test_isnull_takes_only_true_or_false_on_every_list(world: tuple[TestClient, Store]) -> None:
    client, store = world
    for obj in store.app.objects:
        for path in (f"/api/v1/{obj.name}", f"/api/v1/{obj.name}/aggregate"):
            _only_error(client.get(path, params={"id__isnull": "maybe"}), ["query", "id__isnull"], "query.bad_value")
        first = obj.stored_fields[0].column
        r = client.get(f"/api/v1/{obj.name}", params={f"{first}__isnull": "perhaps"})
        _only_error(r, ["query", f"{first}__isnull"], "query.bad_value", "expected true or false, got 'perhaps'")
    for flag in ("true", "1", "TRUE", "false", "0", "False"):
        assert client.get("/api/v1/deal", params={"name__isnull": flag}).status_code == 200
    for flag in ("yes", "no", "on", ""):
        r = client.get("/api/v1/deal", params={"name__isnull": flag})
        _only_error(r, ["query", "name__isnull"], "query.bad_value")


NOT_A_NUMBER = (
    "expected a number such as -1234.56 (ASCII digits, '.' before decimals, no thousands separators), got '%s'"
)


def test_a_number_past_any_field_is_a_bad_value(world: tuple[TestClient, Store]) -> None:
    client, _ = world
    for param in ("amount__gt", "amount"):
        r = client.get("/api/v1/deal", params={param: "1e999999999"})
        _only_error(r, ["query", param], "query.bad_value", f"amount: {NOT_A_NUMBER % '1e999999999'}")


def _cursor(values: list[Any]) -> str:
    raw = json.dumps({"s": ["name", "id"], "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


NUL_LIST: list[tuple[str, str]] = [
    ("q", "\x00"),
    ("filter", "name = '\x00'"),
    ("filter", "\x00"),
    ("name", "\x00"),
    ("name__contains", "a\x00"),
    ("name__startswith", "\x00"),
    ("name__in", "a,\x00"),
    ("amount__gt", "1\x00"),
    ("stage__ne", "\x00"),
    ("sort", "name,\x00"),
    ("fields", "\x00"),
    ("cursor", "\x00"),
    ("name\x00", "x"),
]
NUL_AGGREGATE: list[tuple[str, str]] = [
    ("group_by", "\x00"),
    ("group_by", "stage:\x00"),
    ("metrics", "sum:\x00"),
    ("sort", "\x00"),
    ("filter", "name = '\x00'"),
    ("name", "\x00"),
    ("stage__in", "won,\x00"),
]


@pytest.mark.parametrize(("param", "value"), NUL_LIST, ids=[repr(p) for p in NUL_LIST])
def test_a_nul_in_any_list_parameter_is_one_422(world: tuple[TestClient, Store], param: str, value: str) -> None:
    client, _ = world
    _only_error(client.get("/api/v1/deal", params={param: value}), ["query", param], "query.bad_value", NUL)


@pytest.mark.parametrize(("param", "value"), NUL_AGGREGATE, ids=[repr(p) for p in NUL_AGGREGATE])
def test_a_nul_in_any_aggregate_parameter_is_one_422(world: tuple[TestClient, Store], param: str, value: str) -> None:
    client, _ = world
    r = client.get("/api/v1/deal/aggregate", params={param: value})
    _only_error(r, ["query", param], "query.bad_value", NUL)


def test_a_nul_inside_a_cursor_is_refused(world: tuple[TestClient, Store]) -> None:
    client, _ = world
    r = client.get("/api/v1/deal", params={"sort": "name", "cursor": _cursor(["a\x00", 1])})
    _only_error(r, ["query", "cursor"], "query.bad_value", NUL)
    deeply_nested = base64.urlsafe_b64encode(b"[" * 5_000).decode()
    _only_error(client.get("/api/v1/deal", params={"cursor": deeply_nested}), ["query", "cursor"], "query.bad_cursor")


def test_a_nul_in_the_trash_filter_and_a_flag_that_is_neither_true_nor_false(world: tuple[TestClient, Store]) -> None:
    client, _ = world
    _only_error(client.get("/api/v1/trash", params={"object": "\x00"}), ["query", "object"], "query.bad_value", NUL)
    for raw in ("\x00", "maybe", "yes"):
        r = client.get("/api/v1/deal", params={"with_total": raw})
        _only_error(r, ["query", "with_total"], "query.bad_value")
    assert client.get("/api/v1/deal", params={"with_total": "true"}).json()["total"] == 0
    assert "total" not in client.get("/api/v1/deal", params={"with_total": "false"}).json()


def test_a_nul_in_an_upload_name_is_refused(world: tuple[TestClient, Store]) -> None:
    client, _ = world
    company = client.post("/api/v1/company", json={"name": "Acme"}).json()["data"]
    r = client.put(
        f"/api/v1/company/{company['id']}/files/contract",
        params={"name": "a\x00.pdf"},
        content=b"%PDF-1.4 x",
        headers={"Content-Type": "application/pdf"},
    )
    _only_error(r, ["query", "name"], "query.bad_value", NUL)
    assert client.get(f"/api/v1/company/{company['id']}").json()["data"]["contract"] is None


# -- which metrics each field type takes ------------------------------------------------------------------
ALL = {"sum", "avg", "min", "max"}
ORDERED = {"min", "max"}
#: The decision, per type: numbers are measured, text (by code point), dates and moments only compared;
#: choices, references, flags, long text, lists and files are counted and grouped, never measured.
METRICS_BY_TYPE: dict[str, set[str]] = {
    "text": ORDERED,
    "long_text": set(),
    "integer": ALL,
    "decimal": ALL,
    "currency": ALL,
    "percent": ALL,
    "boolean": set(),
    "date": ORDERED,
    "datetime": ORDERED,
    "select": set(),
    "multi_select": set(),
    "email": ORDERED,
    "phone": ORDERED,
    "url": ORDERED,
    "lookup": set(),
    "user": set(),
    "autonumber": ORDERED,
    "child_table": set(),
    "attachment": set(),
}
FORMULA_METRICS = {"number": ALL, "text": ORDERED, "date": ORDERED, "datetime": ORDERED, "boolean": set()}


def test_every_field_type_declares_its_metrics() -> None:
    types = TypeRegistry.with_builtins()
    assert set(types) == set(METRICS_BY_TYPE) | {"formula"}
    app = load_blueprint(EVERYTHING, types)
    for obj in app.objects:
        for f in obj.fields:
            assert types[f.type].metrics_for(f) == METRICS_BY_TYPE[f.type], f.type
    pipeline = load_blueprint(PIPELINE, types)
    formulas = pipeline.object("deal").formula_fields
    assert {types["formula"].result(f) for f in formulas} == set(FORMULA_METRICS)
    for f in formulas:
        assert types["formula"].metrics_for(f) == FORMULA_METRICS[types["formula"].result(f)], f.name


COMPANIES: list[dict[str, Any]] = [
    {
        "name": "Zeta",
        "notes": "n",
        "employees": 5,
        "rating": "4.125",
        "revenue": "10.50",
        "margin": "0.1",
        "founded": "1999-12-31",
        "last_contact": "2026-01-31T09:30:00+08:00",
        "size": "large",
        "email": "b@x.io",
        "phone": "+86 21 5555",
        "website": "https://b.example",
    },
    {
        "name": "alpha",
        "employees": 7,
        "rating": "1.5",
        "revenue": "-3.25",
        "margin": "0.35",
        "founded": "2010-05-01",
        "last_contact": "2025-12-31T23:00:00Z",
        "email": "a@x.io",
        "website": "https://a.example",
    },
    {"name": "Ärger"},
]


def test_each_metric_answers_or_is_refused_as_its_type_says(world: tuple[TestClient, Store]) -> None:
    client, store = world
    for body in COMPANIES:
        assert client.post("/api/v1/company", json=body).status_code == 201
    rows = [store.get("company", i) for i in (1, 2, 3)]
    obj = store.object("company")
    for f in obj.stored_fields:
        for kind in ("sum", "avg", "min", "max"):
            r = client.get("/api/v1/company/aggregate", params={"metrics": f"{kind}:{f.column}"})
            if kind not in METRICS_BY_TYPE[f.type]:
                _only_error(r, ["query", "metrics"], "query.bad_metric")
                continue
            assert r.status_code == 200, (f.name, kind, r.text)
            got = r.json()["data"][0][f"{kind}_{f.column}"]
            values = [row[f.column] for row in rows if row[f.column] is not None]
            if kind in ("min", "max"):
                expected: Any = (min if kind == "min" else max)(values) if values else None
                expected = store.codec.value_json("company", str(f.column), expected)
            elif kind == "sum":
                expected = sum(values) if f.type == "integer" else str(sum(values, Decimal(0)))
            else:
                expected = None  # checked in tests/web/test_aggregates.py
            if kind != "avg":
                assert got == expected, (f.name, kind)
    # text by code point on both databases ('Z' < 'a' < 'Ä'), moments in UTC
    data = client.get("/api/v1/company/aggregate", params={"metrics": "min:name,max:name,max:last_contact"}).json()
    assert data["data"] == [{"min_name": "Zeta", "max_name": "Ärger", "max_last_contact": "2026-01-31T01:30:00Z"}]
    assert isinstance(rows[0]["founded"], date) and isinstance(rows[0]["last_contact"], datetime)
    assert rows[0]["last_contact"] == datetime(2026, 1, 31, 1, 30, tzinfo=UTC)
