"""Permissions on child lines (issue 8, items 3 and 5), on SQLite and PostgreSQL.

A service desk (tests/auth/blueprints/desk.yaml): tickets hold a conversation of comments, some
internal. A rep reaches only the customer-facing comments of their own tickets (a line condition)
and not their `minutes`; an auditor's role hides the `comments` field of tickets, which hides the
lines themselves on every path. Updated lines get the reference checks new lines get.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.auth.tokens import Tokens
from engine.auth.users import Users
from engine.blueprint.load import load_blueprint
from engine.errors import BlueprintInvalid
from engine.store.database import Database
from engine.store.migrate import apply_plan, plan_migration
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from engine.web.app import create_app
from tests.auth.conftest import FAST_HASHING

DESK = Path(__file__).parent / "blueprints" / "desk.yaml"


@dataclass
class Desk:
    store: Store
    clients: dict[str, TestClient]
    ids: dict[str, int]

    def as_(self, who: str) -> TestClient:
        return self.clients[who]

    def lines(self, ticket: int) -> list[dict[str, Any]]:
        table = self.store.tables["ticket_comment"]
        with self.store.db.read() as conn:
            rows = conn.execute(sa.select(table).where(table.c.ticket_id == ticket).order_by(table.c.id))
            return [dict(r) for r in rows.mappings()]


@pytest.fixture
def desk(db_url: str) -> Iterator[Desk]:
    types = TypeRegistry.with_builtins()
    app = load_blueprint(DESK, types)
    db = Database(db_url)
    apply_plan(db, plan_migration(db, app, types))
    store = Store(app, types, db)
    auth = AuthDb(db, hashing=FAST_HASHING)
    users, tokens = Users(auth), Tokens(auth)
    web = create_app(store, auth=auth)
    clients, ids = {}, {}
    for who, role in (("agent", "agent"), ("rep", "rep"), ("other_rep", "rep"), ("auditor", "auditor")):
        user = users.create_user(f"{who}@desk.test", who, role)
        ids[who] = user.id
        secret = tokens.create_token(user.id)[1]
        clients[who] = TestClient(web, raise_server_exceptions=False, headers={"Authorization": f"Bearer {secret}"})
    yield Desk(store, clients, ids)
    for c in clients.values():
        c.close()
    db.dispose()


def _ticket(desk: Desk, owner: str) -> int:
    customer = desk.store.create("customer", {"name": f"customer of {owner}"}, actor=desk.ids[owner])
    ticket = desk.store.create(
        "ticket",
        {
            "name": f"ticket of {owner}",
            "customer_id": customer["id"],
            "comments": [
                {"body": "We are on it", "minutes": 5},
                {"body": "Internal: the fault is ours", "internal": True, "minutes": 30},
                {"body": "Fixed, please confirm", "minutes": 10},
            ],
        },
        actor=desk.ids[owner],
    )
    return int(ticket["id"])


def _codes(r: Any) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["code"]) for e in r.json()["errors"]]


def test_a_line_condition_hides_and_protects_the_other_lines(desk: Desk) -> None:
    ticket = _ticket(desk, "rep")
    stored = desk.lines(ticket)
    public = [line["id"] for line in stored if not line["internal"]]
    rep = desk.as_("rep")

    got = rep.get(f"/api/v1/ticket/{ticket}").json()["data"]
    assert [c["id"] for c in got["comments"]] == public
    assert all("minutes" not in c for c in got["comments"])
    assert float(got["comment_count"]) == 3  # the blueprint's formula counts every line: it is the blueprint's number
    listed = rep.get("/api/v1/ticket_comment", params={"ticket_id": ticket}).json()["data"]
    assert [c["id"] for c in listed] == public and all("minutes" not in c for c in listed)
    assert rep.get("/api/v1/ticket", params={"filter": "count(comments) = 2"}).json()["data"][0]["id"] == ticket
    r = rep.get("/api/v1/ticket", params={"filter": "sum(comments, c.minutes) > 0"})
    assert r.status_code == 422 and _codes(r) == [(["query", "filter"], "expr.forbidden")]

    # Sending back the lines they see keeps the internal one: it is not theirs to drop.
    r = rep.patch(
        f"/api/v1/ticket/{ticket}",
        json={"comments": [{"id": public[0], "body": "We are on it (edited)"}, {"body": "Anything else?"}]},
    )
    assert r.status_code == 200, r.text
    after = desk.lines(ticket)
    assert [line["body"] for line in after] == [
        "We are on it (edited)",
        "Internal: the fault is ours",
        "Anything else?",
    ]
    assert [c["body"] for c in r.json()["data"]["comments"]] == ["We are on it (edited)", "Anything else?"]

    # Nor may they change it, or write a line they could not see afterwards.
    internal = next(line["id"] for line in after if line["internal"])
    r = rep.patch(f"/api/v1/ticket/{ticket}", json={"comments": [{"id": internal, "body": "x"}]})
    assert r.status_code == 422 and _codes(r) == [(["body", "comments"], "line.unknown")]
    r = rep.patch(f"/api/v1/ticket_comment/{internal}", json={"body": "x"})
    assert r.status_code == 404
    keep = [{"id": line["id"]} for line in after if not line["internal"]]
    r = rep.patch(f"/api/v1/ticket/{ticket}", json={"comments": [*keep, {"body": "secret", "internal": True}]})
    assert r.status_code == 422 and _codes(r) == [(["body", "comments", 2], "permission.out_of_scope")], r.text
    r = rep.post("/api/v1/ticket_comment", json={"ticket_id": ticket, "body": "secret", "internal": True})
    assert r.status_code == 422 and _codes(r) == [(["body"], "permission.out_of_scope")], r.text
    assert desk.lines(ticket) == after
    # The agent, whose role sets no condition, sees every line.
    assert len(desk.as_("agent").get(f"/api/v1/ticket/{ticket}").json()["data"]["comments"]) == 3


def test_a_hidden_child_field_hides_its_lines_on_every_path(desk: Desk) -> None:
    ticket = _ticket(desk, "rep")
    line = desk.lines(ticket)[0]["id"]
    auditor = desk.as_("auditor")
    r = auditor.get(f"/api/v1/ticket/{ticket}")
    assert r.status_code == 200 and "comments" not in r.json()["data"] and "fault" not in r.text
    for url in (
        "/api/v1/ticket_comment",
        "/api/v1/ticket_comment/aggregate",
        f"/api/v1/ticket_comment/{line}",
        f"/api/v1/ticket_comment/{line}/history",
    ):
        r = auditor.get(url)
        assert r.status_code == 403 and _codes(r) == [([], "permission.denied")], (url, r.text)
    for expression in ("count(comments) > 0", "count(comments, c.internal) > 0", "max(comments, c.minutes) > 1"):
        for route in ("/api/v1/ticket", "/api/v1/ticket/aggregate"):
            r = auditor.get(route, params={"filter": expression})
            assert r.status_code == 422 and _codes(r) == [(["query", "filter"], "expr.forbidden")], (route, r.text)


def test_an_updated_line_gets_the_reference_checks_of_a_new_one(desk: Desk) -> None:
    ticket = _ticket(desk, "rep")
    theirs = desk.store.create("customer", {"name": "not the rep's"}, actor=desk.ids["other_rep"])["id"]
    mine = desk.store.create("customer", {"name": "the rep's"}, actor=desk.ids["rep"])["id"]
    first = desk.lines(ticket)[0]
    rep = desk.as_("rep")
    before = desk.lines(ticket)
    for bad in (theirs, 987654):  # a customer the rep cannot read "does not exist" for them either
        for url, body, loc in (
            (f"/api/v1/ticket/{ticket}", {"comments": [{"id": first["id"], "about_id": bad}]}, ["body", "comments", 0]),
            (f"/api/v1/ticket_comment/{first['id']}", {"about_id": bad}, ["body"]),
        ):
            r = rep.patch(url, json=body)
            assert r.status_code == 422, r.text
            assert _codes(r) == [([*loc, "about_id"], "field.not_found")], r.text
            assert r.json()["errors"][0]["msg"] == f"no customer with id {bad}"
        r = rep.patch(f"/api/v1/ticket/{ticket}", json={"comments": [{"body": "new", "about_id": bad}]})
        assert _codes(r) == [(["body", "comments", 0, "about_id"], "field.not_found")], r.text
    assert desk.lines(ticket) == before
    r = rep.patch(f"/api/v1/ticket/{ticket}", json={"comments": [{"id": first["id"], "about_id": mine}]})
    assert r.status_code == 200, r.text
    # The agent reads every customer, so may point at any.
    r = desk.as_("agent").patch(f"/api/v1/ticket_comment/{first['id']}", json={"about_id": theirs})
    assert r.status_code == 200 and r.json()["data"]["about_id"] == theirs


def test_a_line_of_a_ticket_outside_the_scope_does_not_exist(desk: Desk) -> None:
    theirs = _ticket(desk, "other_rep")
    r = desk.as_("rep").post("/api/v1/ticket_comment", json={"ticket_id": theirs, "body": "hello"})
    assert r.status_code == 422 and _codes(r) == [(["body", "ticket_id"], "field.not_found")]
    assert len(desk.lines(theirs)) == 3


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (
            "ticket_comment: {read: true, scope: all}",
            "roles.rep.objects.ticket_comment.read: 'ticket_comment' is a child table of 'ticket': its lines follow "
            "the role's actions on 'ticket'; give only scope (which lines) and fields here [role.child_object]",
        ),
        ("ticket_comment: {scope: own}", "scope 'own' needs an owner"),
        ("ticket_comment: {scope: 'internal = nope'}", "expr."),
        ("ticket_comment: {fields: {bodyy: hidden}}", "did you mean 'body'?"),
    ],
)
def test_line_permissions_in_a_blueprint_are_checked(tmp_path: Path, roles: str, message: str) -> None:
    text = DESK.read_text(encoding="utf-8").replace(
        'ticket_comment: {scope: "internal = false", fields: {minutes: hidden}}', roles
    )
    path = tmp_path / "desk.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BlueprintInvalid) as caught:
        load_blueprint(path, TypeRegistry.with_builtins())
    assert message in str(caught.value)


def test_a_formula_that_reads_a_hidden_field_is_hidden_too(desk: Desk) -> None:
    """Reps may not see a comment's minutes, so neither `billed` (minutes * 2), the ticket's
    `total_minutes` (their sum) nor `hours` (from total_minutes); `comment_count` reads no
    hidden field and stays. The auditor, who may not see the comments at all, loses the count."""
    ticket = _ticket(desk, "rep")
    rep, auditor = desk.as_("rep"), desk.as_("auditor")
    record = rep.get(f"/api/v1/ticket/{ticket}").json()["data"]
    assert "total_minutes" not in record and "hours" not in record and float(record["comment_count"]) == 3
    assert all("billed" not in c for c in record["comments"])
    for params in (
        {"fields": "hours"},
        {"sort": "total_minutes"},
        {"filter": "hours > 0"},
        {"total_minutes__gt": "1"},
    ):
        r = rep.get("/api/v1/ticket", params=params)
        code = "expr.forbidden" if "filter" in params else "query.forbidden_field"
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == code, (params, r.text)
    r = rep.get("/api/v1/ticket/aggregate", params={"metrics": "sum:total_minutes"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "query.forbidden_field"
    r = rep.get("/api/v1/ticket_comment", params={"fields": "billed"})
    assert r.status_code == 422, r.text
    got = auditor.get(f"/api/v1/ticket/{ticket}").json()["data"]
    assert "comment_count" not in got and "total_minutes" not in got and got["name"] == "ticket of rep"
    agent = desk.as_("agent").get(f"/api/v1/ticket/{ticket}").json()["data"]
    assert float(agent["total_minutes"]) == 45 and float(agent["hours"]) == 0.75
