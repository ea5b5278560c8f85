"""A record's timeline through the API, on SQLite and PostgreSQL: changes, comments and activities
merged newest first, within the reader's scope, paged, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from engine.auth.timeline import Timeline
from engine.blueprint.load import app_from_document, load_blueprint
from engine.types.registry import TypeRegistry
from tests.auth.comments_support import Org, build_org
from tests.helpers import CRM


@pytest.fixture
def org(db_url: str) -> Iterator[Org]:
    made = build_org(db_url)
    yield made
    made.close()


def _timeline(org: Org, who: str, record: int, obj: str = "opportunity", **params: Any) -> dict[str, Any]:
    r = org.api(who).get(f"/api/v1/{obj}/{record}/timeline", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _activity(org: Org, owner: str, name: str, at: str, **links: int) -> int:
    values = {"name": name, "type": "call", "occurred_at": at} | {f"{k}_id": v for k, v in links.items()}
    return org.create("activity", owner, values)


def test_changes_comments_and_activities_merge_newest_first(org: Org) -> None:
    _activity(org, "rep", "First call", "2020-01-05T09:00:00Z", opportunity=org.deal, account=org.account)
    org.store.update("opportunity", org.deal, {"amount": "1500", "next_step": "demo"}, actor=org.ids["manager"])
    comment = org.api("rep").post(f"/api/v1/opportunity/{org.deal}/comments", json={"body": org.mention("manager")})
    _activity(org, "rep", "Visit", "2099-06-01T02:30:00Z", opportunity=org.deal)
    _activity(org, "rep", "Account only", "2020-02-01T00:00:00Z", account=org.account)
    entries = _timeline(org, "rep", org.deal)["data"]
    assert [(e["kind"], e["summary"]) for e in entries] == [
        ("activity", "Activity: Visit"),
        ("comment", "@张伟"),
        ("change", "changed Amount, Next step"),
        ("change", "created"),
        ("activity", "Activity: First call"),
    ]
    visit, said, changed, created, first = entries
    assert visit["at"] == "2099-06-01T02:30:00Z"
    assert visit["actor"] == {"id": org.ids["rep"], "name": "Li Lei"}
    assert (visit["object"], visit["title"]) == ("activity", "Visit")
    assert said["comment"] == comment.json()["data"]
    assert said["actor"] == {"id": org.ids["rep"], "name": "Li Lei"}
    assert changed["action"] == "update"
    assert changed["actor"] == {"id": org.ids["manager"], "name": "张伟"}
    assert changed["changes"] == [
        {"field": "amount", "old": None, "new": "1500.00"},
        {"field": "next_step", "old": None, "new": "demo"},
    ]
    assert (created["action"], created["changes"]) == ("create", [])
    assert set(first) == {"kind", "at", "actor", "summary", "object", "record_id", "title"}
    account = [e["summary"] for e in _timeline(org, "rep", org.account, obj="account")["data"]]
    assert account == ["created", "Activity: Account only", "Activity: First call"]


def test_activities_the_reader_cannot_read_are_left_out(org: Org) -> None:
    org.api("rep").post(f"/api/v1/opportunity/{org.deal}/shares", json={"user_id": org.ids["other_rep"]})
    _activity(org, "other_rep", "North's call on it", "2026-01-02T00:00:00Z", opportunity=org.deal)
    _activity(org, "rep", "Rep's call", "2026-01-01T00:00:00Z", opportunity=org.deal)

    def activities(who: str) -> list[str]:
        return [e["title"] for e in _timeline(org, who, org.deal)["data"] if e["kind"] == "activity"]

    assert activities("director") == ["North's call on it", "Rep's call"]
    assert activities("rep") == ["Rep's call"]  # the other rep's activity is theirs
    assert activities("manager") == ["Rep's call"]  # North is not the manager's team
    assert activities("other_rep") == ["North's call on it"]  # the shared deal, not the rep's activity


def test_changes_of_hidden_fields_are_left_out(org: Org) -> None:
    product = org.create("product", "director", {"name": "P-1", "list_price": "100", "floor_price": "80"})
    org.store.update("product", product, {"floor_price": "85"}, actor=org.ids["director"])
    org.store.update("product", product, {"floor_price": "90", "list_price": "120"}, actor=org.ids["director"])
    seen = _timeline(org, "rep", product, obj="product")["data"]
    assert [(e["summary"], e["changes"]) for e in seen] == [
        ("changed List price", [{"field": "list_price", "old": "100.00", "new": "120.00"}]),
        ("created", []),
    ]
    assert not {"floor_price", "80.00", "85.00", "90.00"} & {v for e in seen for c in e["changes"] for v in c.values()}
    director = _timeline(org, "director", product, obj="product")["data"]
    assert [e["summary"] for e in director] == ["changed Floor price, List price", "changed Floor price", "created"]


def test_pages_walk_the_whole_timeline_once(org: Org) -> None:
    for i in range(4):
        _activity(org, "rep", f"call {i}", f"2026-01-0{i + 1}T00:00:00Z", opportunity=org.deal)
        org.api("rep").post(f"/api/v1/opportunity/{org.deal}/comments", json={"body": f"comment {i}"})
        org.store.update("opportunity", org.deal, {"next_step": f"step {i}"}, actor=org.ids["rep"])
    whole = _timeline(org, "rep", org.deal, limit=200)
    assert whole["next_cursor"] is None
    assert len(whole["data"]) == 13
    seen: list[Any] = []
    cursor = None
    for _ in range(20):
        page = _timeline(org, "rep", org.deal, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole["data"]


def test_a_timeline_costs_the_same_queries_for_few_and_many_entries(org: Org) -> None:
    service = Timeline(org.store)
    access = org.access("rep")
    service.entries("opportunity", org.deal, access)  # the access's own probes, once
    few = _count(org, lambda: service.entries("opportunity", org.deal, access))
    for i in range(30):
        _activity(org, "rep", f"call {i}", "2026-01-01T00:00:00Z", opportunity=org.deal, account=org.account)
        org.api("rep").post(f"/api/v1/opportunity/{org.deal}/comments", json={"body": f"{org.mention('manager')} {i}"})
        org.store.update("opportunity", org.deal, {"next_step": f"step {i}"}, actor=org.ids[("rep", "manager")[i % 2]])
    many = _count(org, lambda: service.entries("opportunity", org.deal, access, limit=200))
    assert len(service.entries("opportunity", org.deal, access, limit=200).entries) == 91
    assert many == few


def test_out_of_scope_deleted_and_bad_requests(org: Org) -> None:
    assert org.api("other_rep").get(f"/api/v1/opportunity/{org.deal}/timeline").status_code == 404
    assert org.api("finance").get(f"/api/v1/opportunity/{org.deal}/timeline").status_code == 403
    for params, code in (
        ({"limit": "0"}, "query.bad_value"),
        ({"limit": "201"}, "query.bad_value"),
        ({"cursor": "yesterday"}, "query.bad_cursor"),
        ({"cursor": "1.2"}, "query.bad_cursor"),
        ({"cursor": "999999999999999999.0.1"}, "query.bad_cursor"),  # past the year 9999
        ({"cursor": "-1.0.1"}, "query.bad_cursor"),
    ):
        r = org.api("rep").get(f"/api/v1/opportunity/{org.deal}/timeline", params=params)
        assert r.status_code == 422, (params, r.text)
        assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [(["query", next(iter(params))], code)]
    org.store.delete("opportunity", org.deal, actor=org.ids["rep"])
    assert org.api("rep").get(f"/api/v1/opportunity/{org.deal}/timeline").status_code == 404


def _count(org: Org, run: Any) -> int:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(org.store.db.engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        sa.event.remove(org.store.db.engine, "before_cursor_execute", count)
    return len(statements)


# -- the blueprint's `timeline:` -------------------------------------------------------------------------------
def test_the_crm_activity_is_on_timelines_at_when_it_happened() -> None:
    app = load_blueprint(CRM, TypeRegistry.with_builtins())
    marked = [(o.name, o.timeline_at) for o in app.objects if o.timeline]
    assert marked == [("activity", "occurred_at")]


def test_timeline_true_places_records_when_they_were_created() -> None:
    types = TypeRegistry.with_builtins()
    document = {
        "app": {"name": "t"},
        "objects": {
            "deal": {"fields": {"name": {"type": "text"}}},
            "visit": {"timeline": True, "fields": {"deal": {"type": "lookup", "object": "deal"}}},
            "note": {"timeline": False, "fields": {"deal": {"type": "lookup", "object": "deal"}}},
        },
    }
    app = app_from_document(document, types)
    assert [(o.name, o.timeline, o.timeline_at) for o in app.objects] == [
        ("deal", False, None),
        ("visit", True, None),
        ("note", False, None),
    ]
