"""The permission matrix, continued: the leaks found by trying the API as an attacker (issue 8).

Same CRM world and oracle as tests/auth/test_permission_matrix.py, on SQLite and PostgreSQL:

1. a record shared with edit rights can be edited, but never given away, deleted or shared on;
2. collections and lookups inside `filter=` count and read only what the user may read;
3. a hidden child-table field hides its lines everywhere; a role's line condition narrows them;
5. updated lines get the same reference checks (and located errors) as new ones.
"""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from engine.blueprint.scope import collections_of
from tests.auth.matrix_support import CHILDREN, HOLDERS, TOP, exists, stored
from tests.auth.matrix_world import ACTORS, MISSING_ID, PEOPLE, ROLES, World

PEOPLE_ROLES = {key: role for key, role, _ in PEOPLE}


def _codes(r: httpx.Response) -> list[str]:
    return [e["code"] for e in r.json().get("errors", [])]


def _why(who: str, method: str, url: str, r: httpx.Response) -> str:
    return f"{who} ({PEOPLE_ROLES[who]}) {method} {url} -> {r.status_code} {r.text[:300]}"


# -- 1. a share lends a record; it never gives it away ------------------------------------------------------
def _share_cases() -> list[Any]:
    """(who, object): the user may update the object, but not every record of it (so a share matters)."""
    cases = []
    for who in ACTORS:
        role = PEOPLE_ROLES[who]
        for obj in TOP:
            perm = (ROLES[role] or {}).get(obj)
            if perm is not None and "update" in perm.actions and perm.scope != "all" and obj != "product":
                cases.append(pytest.param(who, obj, id=f"{who}({role})-{obj}"))
    return cases


@pytest.mark.parametrize(("who", "obj"), _share_cases())
def test_an_edit_share_never_gives_the_record_away(world: World, who: str, obj: str) -> None:
    owner = "director"
    status = "in_progress" if obj == "ticket" else None
    record_id = world.make(obj, owner, status=status)
    url = f"/api/v1/{obj}/{record_id}"
    assert world.call(who, "GET", url, obj).status_code == 404, "the record must start outside the user's scope"
    shared = world.call("admin", "POST", f"{url}/shares", obj, json={"user_id": world.uid(who), "can_edit": True})
    assert shared.status_code == 201, shared.text
    share_id = shared.json()["data"]["id"]

    # What the share lends: reading and editing.
    assert world.call(who, "GET", url, obj).status_code == 200
    r = world.call(who, "PATCH", url, obj, json={"name": f"{obj} {record_id} edited through a share"})
    assert r.status_code == 200, _why(who, "PATCH", url, r)

    # What it never gives: the owner, deleting, sharing on, unsharing.
    before = stored(world.store, obj, record_id)
    for new_owner in (who, "rep_north", "admin"):
        r = world.call(who, "PATCH", url, obj, json={"owner_id": world.uid(new_owner)})
        assert r.status_code == 403 and _codes(r) == ["permission.denied"], _why(who, "PATCH owner_id", url, r)
        assert "owner" in r.json()["errors"][0]["msg"]
    r = world.call(who, "DELETE", url, obj)
    assert r.status_code == 403 and _codes(r) == ["permission.denied"], _why(who, "DELETE", url, r)
    r = world.call(who, "POST", f"{url}/shares", obj, json={"user_id": world.uid("rep_north"), "can_edit": True})
    assert r.status_code == 403, _why(who, "POST", f"{url}/shares", r)
    r = world.call(who, "DELETE", f"{url}/shares/{share_id}", obj)
    assert r.status_code == 403, _why(who, "DELETE", f"{url}/shares/{share_id}", r)
    assert stored(world.store, obj, record_id) == before and exists(world.store, obj, record_id)
    shares = world.call("admin", "GET", f"{url}/shares", obj).json()["data"]
    assert [s["user_id"] for s in shares] == [world.uid(who)]
    # The owner still has it.
    assert world.call(owner, "GET", url, obj).status_code == 200
    # Unshared again: the oracle of the other tests knows nothing of shares.
    assert world.call("admin", "DELETE", f"{url}/shares/{share_id}", obj).status_code == 200


def test_a_read_share_lends_reading_only(world: World) -> None:
    record_id = world.make("opportunity", "rep_north")
    url = f"/api/v1/opportunity/{record_id}"
    r = world.call("admin", "POST", f"{url}/shares", "opportunity", json={"user_id": world.uid("rep_east")})
    assert r.status_code == 201, r.text
    assert world.call("rep_east", "GET", url, "opportunity").status_code == 200
    r = world.call("rep_east", "PATCH", url, "opportunity", json={"name": "not mine"})
    assert r.status_code == 403 and _codes(r) == ["permission.denied"], r.text
    share_id = world.call("admin", "GET", f"{url}/shares", "opportunity").json()["data"][0]["id"]
    assert world.call("admin", "DELETE", f"{url}/shares/{share_id}", "opportunity").status_code == 200


def test_the_owner_and_their_manager_still_reassign(world: World) -> None:
    """The fix takes nothing from those whose own scope holds the record."""
    record_id = world.make("opportunity", "rep_east")
    url = f"/api/v1/opportunity/{record_id}"
    r = world.call("manager", "PATCH", url, "opportunity", json={"owner_id": world.uid("rep_metro")})
    assert r.status_code == 200 and stored(world.store, "opportunity", record_id)["owner_id"] == world.uid("rep_metro")
    r = world.call("director", "PATCH", url, "opportunity", json={"owner_id": world.uid("rep_north")})
    assert r.status_code == 200 and stored(world.store, "opportunity", record_id)["owner_id"] == world.uid("rep_north")


# -- 2. filter= sees related records as the user sees them ------------------------------------------------
def _expected_counts(world: World, who: str, obj: str, item: str, back: str) -> dict[int, int]:
    """For each record of `obj` the user may read: how many `item` records pointing at it they may read."""
    person = world.person(who)
    rows, parents = world.rows(obj)
    visible = world.org.visible(person, obj, rows, parents)
    items, item_parents = world.rows(item)
    readable = world.org.visible(person, item, items, item_parents)
    table = world.store.tables[item]
    with world.store.db.read() as conn:
        links = conn.execute(sa.select(table.c.id, table.c[back])).all()
    targets = [int(target) for item_id, target in links if item_id in readable and target is not None]
    return {rid: targets.count(rid) for rid in visible}


@pytest.mark.parametrize("obj", TOP)
@pytest.mark.parametrize("who", ACTORS)
def test_filter_counts_only_related_records_the_user_may_read(world: World, who: str, obj: str) -> None:
    person = world.person(who)
    if not world.org.granted(person, obj, "read"):
        return  # the object itself is closed: the matrix shows the 403
    source = world.store.app.object(obj)
    wrong = []
    for name, (item_obj, back) in sorted(collections_of(world.store.app, source).items()):
        item = item_obj.name
        url = f"/api/v1/{obj}"
        holder_hidden = item in HOLDERS and HOLDERS[item] in world.org.hidden(person, obj)
        if not world.org.granted(person, item, "read") or holder_hidden:
            r = world.call(who, "GET", url, obj, params={"filter": f"count({name}) >= 0"})
            if not (r.status_code == 422 and _codes(r) == ["expr.forbidden"]):
                wrong.append(f"count({name}) of unreadable {item}: {r.status_code} {r.text[:200]}")
            continue
        expected = _expected_counts(world, who, obj, item, back)
        for n in sorted(set(expected.values())):
            want = {rid for rid, k in expected.items() if k == n}
            r = world.call(who, "GET", url, obj, params={"filter": f"count({name}) = {n}", "limit": 1000})
            got = {int(d["id"]) for d in r.json().get("data", [])} if r.status_code == 200 else None
            if got != want:
                extra, missing = (got or set()) - want, want - (got or set())
                wrong.append(f"count({name}) = {n}: {r.status_code} extra {extra} missing {missing}")
    assert not wrong, f"{who} ({person.role}) on {obj}:\n" + "\n".join(wrong)


def test_a_lookup_outside_the_scope_reads_as_empty(world: World) -> None:
    """A rep's deal on the director's account: through `account.name` the rep learns nothing of it."""
    account = world.make("account", "director")
    name = stored(world.store, "account", account)["name"]
    deal = int(
        world.store.create(
            "opportunity", {"name": "deal on a foreign account", "account_id": account}, actor=world.uid("rep_east")
        )["id"]
    )
    for who, found in (("rep_east", False), ("admin", True), ("director", True)):
        r = world.call(who, "GET", "/api/v1/opportunity", "opportunity", params={"filter": f"account.name = '{name}'"})
        assert r.status_code == 200, _why(who, "GET", "filter account.name", r)
        assert (deal in {d["id"] for d in r.json()["data"]}) is found, f"{who}: {r.text[:300]}"
    r = world.call("rep_east", "GET", "/api/v1/opportunity", "opportunity", params={"filter": "is_blank(account.name)"})
    assert deal in {d["id"] for d in r.json()["data"]}, r.text
    # Aggregates take the same filter.
    r = world.call(
        "rep_east",
        "GET",
        "/api/v1/opportunity/aggregate",
        "opportunity",
        params={"metrics": "count", "filter": f"account.name = '{name}'"},
    )
    assert r.json()["data"] == [{"count": 0}], r.text


@pytest.mark.parametrize(
    ("who", "obj", "expression"),
    [
        ("finance", "account", "count(opportunity) > 0"),
        ("finance", "account", "sum(opportunity, o.amount) > 0"),
        ("marketing", "account", "max(opportunity, o.amount) > 0"),
        ("service", "account", "count(lead) >= 0"),
        ("finance", "quote", "opportunity.amount > 0"),
        ("manager", "ticket", "count(notes) >= 0"),
    ],
)
def test_objects_the_role_cannot_read_cannot_be_named(world: World, who: str, obj: str, expression: str) -> None:
    for route in ("", "/aggregate"):
        url = f"/api/v1/{obj}{route}"
        r = world.call(who, "GET", url, obj, params={"filter": expression})
        assert r.status_code == 422 and _codes(r) == ["expr.forbidden"], _why(who, "GET", f"{url}?{expression}", r)
        assert r.json()["errors"][0]["loc"] == ["query", "filter"]
    r = world.call("admin", "GET", f"/api/v1/{obj}", obj, params={"filter": expression})
    assert r.status_code == 200, r.text


# -- 3. hidden child-table fields and line conditions -------------------------------------------------------
def test_a_hidden_child_field_hides_its_lines_on_every_path(world: World) -> None:
    assert "notes" in (ROLES["sales_manager"] or {})["ticket"].hidden, "roles.yaml: managers do not see ticket notes"
    ticket = world.make("ticket", "rep_east", status="assigned")
    note = int(world.store.get("ticket", ticket)["notes"][0]["id"])
    for url in ("/api/v1/ticket_note", f"/api/v1/ticket_note/{note}", "/api/v1/ticket_note/aggregate"):
        r = world.call("manager", "GET", url, "ticket_note")
        assert r.status_code == 403 and _codes(r) == ["permission.denied"], _why("manager", "GET", url, r)
    r = world.call("manager", "GET", f"/api/v1/ticket/{ticket}", "ticket")
    assert r.status_code == 200 and "notes" not in r.json()["data"], r.text
    assert "check stock" not in r.text and "Reply to the customer" not in r.text


def test_a_line_condition_narrows_the_lines_on_every_path(world: World) -> None:
    ticket = world.make("ticket", "rep_east", status="assigned")
    notes = world.store.get("ticket", ticket)["notes"]
    public = [n["id"] for n in notes if not n["internal"]]
    internal = [n["id"] for n in notes if n["internal"]]
    assert public and internal
    record = world.call("rep_east", "GET", f"/api/v1/ticket/{ticket}", "ticket").json()["data"]
    assert [n["id"] for n in record["notes"]] == public
    listed = world.call("rep_east", "GET", "/api/v1/ticket_note", "ticket_note", params={"ticket_id": ticket})
    assert [n["id"] for n in listed.json()["data"]] == public
    r = world.call("rep_east", "GET", f"/api/v1/ticket_note/{internal[0]}", "ticket_note")
    assert r.status_code == 404 and _codes(r) == ["record.not_found"], r.text
    r = world.call("rep_east", "GET", f"/api/v1/ticket_note/{internal[0]}/history", "ticket_note")
    assert r.status_code == 404, r.text
    r = world.call(
        "rep_east", "GET", "/api/v1/ticket", "ticket", params={"filter": f"id = {ticket} and count(notes) = 1"}
    )
    assert [d["id"] for d in r.json()["data"]] == [ticket], r.text
    r = world.call("rep_east", "GET", "/api/v1/ticket", "ticket", params={"filter": "count(notes, n.internal) > 0"})
    assert r.json()["data"] == [], r.text
    # The service agent, whose role gives no line condition, sees both.
    claimed = world.make("ticket", "service", status="in_progress")
    record = world.call("service", "GET", f"/api/v1/ticket/{claimed}", "ticket").json()["data"]
    assert sorted(n["internal"] for n in record["notes"]) == [False, True]


# -- 5. updated lines: the same reference checks as new ones ------------------------------------------------
@pytest.mark.parametrize("who", ["rep_east", "manager", "admin"])
def test_an_updated_line_pointing_nowhere_is_a_located_422(world: World, who: str) -> None:
    quote = world.make("quote", who)
    record = world.store.get("quote", quote)
    line = record["lines"][0]
    before = stored(world.store, "quote_line", line["id"])
    url = f"/api/v1/quote/{quote}"
    body = {"lines": [{"id": line["id"], "product_id": MISSING_ID}]}
    r = world.call(who, "PATCH", url, "quote", json=body)
    assert r.status_code == 422, _why(who, "PATCH", url, r)
    assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [
        (["body", "lines", 0, "product_id"], "field.not_found")
    ]
    assert stored(world.store, "quote_line", line["id"]) == before
    # The line object's own endpoint says the same.
    r = world.call(who, "PATCH", f"/api/v1/quote_line/{line['id']}", "quote_line", json={"product_id": MISSING_ID})
    assert r.status_code == 422 and [e["loc"] for e in r.json()["errors"]] == [["body", "product_id"]], r.text


def test_a_line_cannot_be_added_to_a_parent_the_user_may_only_read(world: World) -> None:
    """The director reads every ticket but may not change them: a note is a change of its ticket."""
    ticket = world.make("ticket", "rep_east", status="assigned")
    r = world.call("director", "POST", "/api/v1/ticket_note", "ticket_note", json={"ticket_id": ticket, "body": "x"})
    assert r.status_code == 403, r.text
    theirs = world.make("quote", "rep_north")
    r = world.call(
        "rep_east",
        "POST",
        "/api/v1/quote_line",
        "quote_line",
        json={"quote_id": theirs, "product_id": world.products[0], "quantity": "1", "unit_price": "100"},
    )
    assert r.status_code == 422 and [(e["loc"], e["code"]) for e in r.json()["errors"]] == [
        (["body", "quote_id"], "field.not_found")
    ], r.text
    assert CHILDREN["quote_line"] == "quote"
