"""Notifications through the API, on SQLite and PostgreSQL: one's own only, unread first then newest,
the unread count, paging, marking read, and what is shown once the record is out of reach."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from engine.auth.notifications import Notifications
from tests.auth.comments_support import Org, build_org


@pytest.fixture
def org(db_url: str) -> Iterator[Org]:
    made = build_org(db_url)
    yield made
    made.close()


def _mention(org: Org, author: str, whom: str, text: str, record: int | None = None) -> int:
    """A comment by `author` on the rep's deal (or `record`) mentioning `whom`; its id."""
    r = org.api(author).post(
        f"/api/v1/opportunity/{record or org.deal}/comments", json={"body": f"{org.mention(whom)} {text}"}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["data"]["id"])


def _listed(org: Org, who: str, **params: Any) -> dict[str, Any]:
    r = org.api(who).get("/api/v1/notifications", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _excerpts(body: dict[str, Any]) -> list[str]:
    return [n["excerpt"].split(" ", 1)[1] for n in body["data"]]


def test_unread_come_first_newest_first_with_the_unread_count(org: Org) -> None:
    for i in range(1, 6):
        _mention(org, "rep", "manager", f"n{i}")
    first = _listed(org, "manager")
    ids = {n["excerpt"].split(" ", 1)[1]: n["id"] for n in first["data"]}
    assert _excerpts(first) == ["n5", "n4", "n3", "n2", "n1"]
    assert first["unread"] == 5
    for name in ("n2", "n4"):
        r = org.api("manager").post(f"/api/v1/notifications/{ids[name]}/read")
        assert r.status_code == 200
    assert r.json()["unread"] == 3
    assert r.json()["data"]["id"] == ids["n4"] and r.json()["data"]["read_at"] is not None
    again = org.api("manager").post(f"/api/v1/notifications/{ids['n4']}/read")  # again: unchanged
    assert again.json()["data"]["read_at"] == r.json()["data"]["read_at"]
    now = _listed(org, "manager")
    assert _excerpts(now) == ["n5", "n3", "n1", "n4", "n2"]
    assert now["unread"] == 3
    assert [n["read_at"] is None for n in now["data"]] == [True, True, True, False, False]
    assert _excerpts(_listed(org, "manager", unread="true")) == ["n5", "n3", "n1"]
    assert _listed(org, "manager", unread="true")["unread"] == 3


def test_paging_walks_every_notification_once_in_order(org: Org) -> None:
    for i in range(1, 8):
        _mention(org, "rep", "manager", f"n{i}")
    whole = _listed(org, "manager")
    for n in whole["data"][1::3]:
        org.api("manager").post(f"/api/v1/notifications/{n['id']}/read")
    expected = _excerpts(_listed(org, "manager"))
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = _listed(org, "manager", **params)
        seen += _excerpts(page)
        assert page["unread"] == 5
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert len(seen) == 7


def test_the_notification_says_who_where_and_what(org: Org) -> None:
    comment = _mention(org, "rep", "manager", "<i>call them</i> by Friday")
    n = _listed(org, "manager")["data"][0]
    assert n == {
        "id": n["id"],
        "kind": "mention",
        "object": "opportunity",
        "record_id": org.deal,
        "comment_id": comment,
        "actor": {"id": org.ids["rep"], "name": "Li Lei"},
        "created_at": n["created_at"],
        "read_at": None,
        "record_title": "Line terminals",
        "excerpt": "@张伟 <i>call them</i> by Friday",
    }


def test_one_reaches_only_ones_own_notifications(org: Org) -> None:
    _mention(org, "rep", "manager", "for the manager")
    _mention(org, "rep", "director", "for the director")
    theirs = _listed(org, "director")["data"][0]["id"]
    assert _excerpts(_listed(org, "rep")) == []
    assert _excerpts(_listed(org, "manager")) == ["for the manager"]
    for who in ("manager", "rep"):
        r = org.api(who).post(f"/api/v1/notifications/{theirs}/read")
        assert r.status_code == 404
        assert [e["code"] for e in r.json()["errors"]] == ["notification.not_found"]
    assert org.api("manager").post("/api/v1/notifications/987654321/read").status_code == 404
    marked = org.api("manager").post("/api/v1/notifications/read")
    assert marked.json() == {"ok": True, "marked": 1, "unread": 0}
    assert org.api("manager").post("/api/v1/notifications/read").json()["marked"] == 0
    assert _listed(org, "director")["unread"] == 1  # untouched by the manager's "mark all"
    assert _listed(org, "director")["data"][0]["read_at"] is None


def test_out_of_reach_the_notification_keeps_only_the_bare_fact(org: Org) -> None:
    share = org.api("rep").post(f"/api/v1/opportunity/{org.deal}/shares", json={"user_id": org.ids["other_rep"]})
    _mention(org, "rep", "other_rep", "shared secret")
    assert _listed(org, "other_rep")["data"][0]["record_title"] == "Line terminals"
    org.api("rep").delete(f"/api/v1/opportunity/{org.deal}/shares/{share.json()['data']['id']}")
    n = _listed(org, "other_rep")["data"][0]
    assert (n["record_title"], n["excerpt"], n["record_id"], n["actor"]["name"]) == (None, None, org.deal, "Li Lei")
    assert _listed(org, "other_rep")["unread"] == 1


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "query.bad_value"),
        ({"limit": "201"}, "query.bad_value"),
        ({"limit": "ten"}, "query.bad_value"),
        ({"cursor": "x1"}, "query.bad_cursor"),
        ({"cursor": "u"}, "query.bad_cursor"),
        ({"cursor": "u99999999999999999999"}, "query.bad_cursor"),
        ({"cursor": "u\u0661\u0662"}, "query.bad_cursor"),  # Arabic-Indic digits
        ({"unread": "maybe"}, "query.bad_value"),
    ],
)
def test_bad_parameters_are_located_422s(org: Org, params: dict[str, str], code: str) -> None:
    r = org.api("manager").get("/api/v1/notifications", params=params)
    assert r.status_code == 422
    assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [(["query", next(iter(params))], code)]


def test_listing_costs_the_same_queries_for_one_or_many(org: Org) -> None:
    _mention(org, "rep", "manager", "one")
    account_comment = org.api("rep").post(
        f"/api/v1/account/{org.account}/comments", json={"body": f"{org.mention('manager')} on the account"}
    )
    assert account_comment.status_code == 201
    service = Notifications(org.store, org.auth)
    access = org.access("manager")
    service.list_notifications(org.ids["manager"], access)  # the access's own probes, once
    few = _count(org, lambda: service.list_notifications(org.ids["manager"], access))
    for i in range(20):
        _mention(org, "rep", "manager", f"more {i}")
        org.api("rep").post(f"/api/v1/account/{org.account}/comments", json={"body": f"{org.mention('manager')} {i}"})
    many = _count(org, lambda: service.list_notifications(org.ids["manager"], access))
    assert len(service.list_notifications(org.ids["manager"], access).notifications) == 25
    assert many == few


def _count(org: Org, run: Any) -> int:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")):
            statements.append(statement)

    sa.event.listen(org.store.db.engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        sa.event.remove(org.store.db.engine, "before_cursor_execute", count)
    return len(statements)
