"""`min` / `max` on date and datetime fields: blueprint, store (SQLite and PostgreSQL), API, schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.blueprint.load import app_from_document, load_blueprint
from engine.errors import InputInvalid
from engine.store.migrate.stored import document_text
from engine.store.query import ListQuery
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from engine.web.openapi import object_schemas
from tests.helpers import api_client, make_store

BLUEPRINT = """\
app:
  name: bounds
objects:
  project:
    fields:
      name: {type: text, required: true}
      starts_on: {type: date, min: 2000-01-01, max: "2030-12-31"}
      ends_on: {type: date, min: 2020-06-01, default: 2020-06-01}
      signed_at: {type: datetime, min: 2026-01-01T00:00:00+08:00, max: "2026-12-31T23:59:59Z"}
      budget: {type: decimal, min: 0, max: "1000.50"}
"""


@pytest.fixture
def blueprint(tmp_path: Path) -> Path:
    path = tmp_path / "bounds.yaml"
    path.write_text(BLUEPRINT, encoding="utf-8")
    return path


@pytest.fixture
def store(db_url: str, tmp_path: Path, blueprint: Path) -> Iterator[Store]:
    s = make_store(db_url, blueprint, files_dir=tmp_path / "files")
    yield s
    s.db.dispose()


def problems(err: pytest.ExceptionInfo[InputInvalid]) -> list[tuple[tuple[str | int, ...], str, str]]:
    return [(p.loc, p.code, p.msg) for p in err.value.problems]


def test_bounds_are_read_as_dates_and_utc_moments(blueprint: Path) -> None:
    obj = load_blueprint(blueprint, TypeRegistry.with_builtins()).object("project")
    assert (obj.field("starts_on").min, obj.field("starts_on").max) == (date(2000, 1, 1), date(2030, 12, 31))
    signed = obj.field("signed_at")
    assert signed.min == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert signed.max == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert obj.field("ends_on").default == date(2020, 6, 1)


def test_bounds_survive_the_stored_document(blueprint: Path) -> None:
    # A migration stores the blueprint as JSON (dates as text); rebuilding it gives the same bounds.
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    again = app_from_document(json.loads(document_text(app)), types)

    def bounds(a: Any) -> list[tuple[Any, ...]]:
        return [(f.name, f.min, f.max, f.default) for f in a.object("project").fields]

    assert bounds(again) == bounds(app)


def test_values_inside_the_bounds_are_stored(store: Store) -> None:
    rec = store.create(
        "project",
        {
            "name": "edge",
            "starts_on": "2000-01-01",
            "signed_at": "2026-01-01T00:00:00+08:00",  # exactly the minimum, written as in the blueprint
        },
    )
    got = store.get("project", rec["id"])
    assert got["starts_on"] == date(2000, 1, 1) and got["ends_on"] == date(2020, 6, 1)
    assert got["signed_at"] == datetime(2025, 12, 31, 16, tzinfo=UTC)
    store.update("project", rec["id"], {"starts_on": "2030-12-31", "signed_at": "2026-12-31T23:59:59Z"})
    assert store.get("project", rec["id"])["starts_on"] == date(2030, 12, 31)


def test_values_outside_are_refused_at_the_field_on_create(store: Store) -> None:
    with pytest.raises(InputInvalid) as err:
        store.create(
            "project",
            {"name": "p", "starts_on": "1999-12-31", "ends_on": "2031-01-01", "signed_at": "2025-12-31T15:59:59Z"},
        )
    assert problems(err) == [
        (("body", "starts_on"), "field.invalid", "must be at least 2000-01-01"),
        (("body", "signed_at"), "field.invalid", "must be at least 2025-12-31T16:00:00Z"),
    ]
    with pytest.raises(InputInvalid) as err:
        store.create("project", {"name": "p", "starts_on": "2031-01-01", "signed_at": "2027-01-01T08:00:00+08:00"})
    assert problems(err) == [
        (("body", "starts_on"), "field.invalid", "must be at most 2030-12-31"),
        (("body", "signed_at"), "field.invalid", "must be at most 2026-12-31T23:59:59Z"),
    ]
    assert store.find("project", ListQuery()).records == []


def test_values_outside_are_refused_on_update_and_bulk(store: Store) -> None:
    rec = store.create("project", {"name": "p", "starts_on": "2020-01-01"})
    with pytest.raises(InputInvalid) as err:
        store.update("project", rec["id"], {"ends_on": "2020-05-31"})
    assert problems(err) == [(("body", "ends_on"), "field.invalid", "must be at least 2020-06-01")]
    assert store.get("project", rec["id"])["ends_on"] == date(2020, 6, 1)
    with pytest.raises(InputInvalid) as err:
        store.create_many("project", [{"name": "a"}, {"name": "b", "signed_at": "2030-01-01T00:00:00Z"}])
    assert problems(err) == [(("body", 1, "signed_at"), "field.invalid", "must be at most 2026-12-31T23:59:59Z")]
    assert len(store.find("project", ListQuery()).records) == 1


def test_numeric_bounds_still_hold(store: Store) -> None:
    with pytest.raises(InputInvalid) as err:
        store.create("project", {"name": "p", "budget": "1000.51"})
    assert problems(err) == [(("body", "budget"), "field.invalid", "must be at most 1000.50")]


def test_the_api_answers_422_located_at_the_field(store: Store) -> None:
    with api_client(store) as client:
        r = client.post("/api/v1/project", json={"name": "p", "starts_on": "1999-12-31"})
        assert r.status_code == 422
        errors: list[dict[str, Any]] = r.json()["errors"]
        assert [(e["loc"], e["code"]) for e in errors] == [(["body", "starts_on"], "field.invalid")]
        ok = client.post("/api/v1/project", json={"name": "p", "starts_on": "2000-01-01"})
        assert ok.status_code == 201, ok.text
        url = f"/api/v1/project/{ok.json()['data']['id']}"
        r = client.patch(url, json={"signed_at": "2025-01-01T00:00:00Z"})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "signed_at"]
        r = client.post("/api/v1/project/bulk", json=[{"name": "a", "ends_on": "2019-01-01"}])
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", 0, "ends_on"]
        props = client.get("/openapi.json").json()["components"]["schemas"]["project_create"]["properties"]
    assert props["starts_on"]["format"] == "date"
    assert (props["starts_on"]["x-minimum"], props["starts_on"]["x-maximum"]) == ("2000-01-01", "2030-12-31")
    assert props["signed_at"]["x-minimum"] == "2025-12-31T16:00:00Z"


def test_the_json_schema_carries_the_bounds(blueprint: Path) -> None:
    types = TypeRegistry.with_builtins()
    obj = load_blueprint(blueprint, types).object("project")
    props = object_schemas(obj, types)["project"]["properties"]
    assert props["starts_on"] == {
        "type": ["string", "null"],
        "format": "date",
        "x-minimum": "2000-01-01",
        "x-maximum": "2030-12-31",
        "description": "a date on or after 2000-01-01 and on or before 2030-12-31",
        "title": "Starts on",
    }
    assert props["ends_on"]["x-minimum"] == "2020-06-01" and "x-maximum" not in props["ends_on"]
    assert props["signed_at"]["format"] == "date-time"
    assert props["signed_at"]["x-maximum"] == "2026-12-31T23:59:59Z"
    assert props["signed_at"]["description"] == (
        "a moment on or after 2025-12-31T16:00:00Z and on or before 2026-12-31T23:59:59Z"
    )
    assert props["name"].keys().isdisjoint({"x-minimum", "x-maximum"})
