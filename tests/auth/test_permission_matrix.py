"""The permission matrix over the CRM blueprint, through the REST API, on SQLite and PostgreSQL.

For every role x object x action x record scope, list / get / history / create / update / delete /
count and filters or sorts on hidden fields give exactly what roles.yaml allows. The expected
answers come from `matrix_support.Org`, an oracle written in plain Python from roles.yaml and the
stored rows, independent of `engine.auth.policy`. One org and one token per user are built per
database (module scope); tests that change or delete records work on records made for them, and
the oracle re-reads the stored rows, so the tests do not depend on their order.
"""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from tests.auth.matrix_support import (
    CHILDREN,
    HOLDERS,
    OBJECTS,
    TOP,
    Person,
    Row,
    count_rows,
    exists,
    stored,
)
from tests.auth.matrix_world import (
    ACTORS,
    MISSING_ID,
    NAME_FIELD,
    PEOPLE,
    ROLES,
    SALES,
    World,
    owners,
)


def _codes(r: httpx.Response) -> list[str]:
    try:
        return [e["code"] for e in r.json().get("errors", [])]
    except ValueError:
        return []


def _why(who: str, w: World, method: str, url: str, r: httpx.Response) -> str:
    return f"{who} ({w.person(who).role}) {method} {url} -> {r.status_code} {r.text[:300]}"


def _status_ok(expected: int, r: httpx.Response) -> bool:
    """`expected` 200 means success (200, or 201 on create); 403/404 carry the contract's codes."""
    if expected == 403:
        return r.status_code == 403 and "permission.denied" in _codes(r)
    if expected == 404:
        return r.status_code == 404 and "record.not_found" in _codes(r)
    return r.status_code == expected


# -- authentication ----------------------------------------------------------------------------------
ROUTES = (
    ("GET", "/api/v1/opportunity"),
    ("GET", "/api/v1/opportunity/aggregate?metrics=count"),
    ("GET", "/api/v1/opportunity/{id}"),
    ("GET", "/api/v1/opportunity/{id}/history"),
    ("POST", "/api/v1/opportunity"),
    ("PATCH", "/api/v1/opportunity/{id}"),
    ("DELETE", "/api/v1/opportunity/{id}"),
)


@pytest.mark.parametrize("token", ["none", "unknown"])
def test_every_route_needs_a_token(world: World, token: str) -> None:
    record_id = world.by_owner["opportunity"]["rep_east"]
    headers = {} if token == "none" else {"Authorization": "Bearer lw_" + "x" * 43}
    # No token: `auth.required`; an unknown one may say so more precisely (`auth.bad_token`).
    wanted = ["auth.required"] if token == "none" else ["auth.required", "auth.bad_token"]
    before = count_rows(world.store, "opportunity")
    wrong = []
    for method, path in ROUTES:
        url = path.format(id=record_id)
        body = {"name": "x"} if method in ("POST", "PATCH") else None
        r = world.client.request(method, url, headers=headers, json=body)
        if not (r.status_code == 401 and len(_codes(r)) == 1 and _codes(r)[0] in wanted):
            wrong.append(f"{method} {url} -> {r.status_code} {r.text[:200]}")
    assert not wrong, f"token {token}:\n" + "\n".join(wrong)
    assert count_rows(world.store, "opportunity") == before
    assert stored(world.store, "opportunity", record_id)["name"] != "x"


def _scope(world: World, person: Person, obj: str) -> str | None:
    perm = world.org.perm(person, CHILDREN.get(obj, obj))
    return None if perm is None else perm.scope


def _checked_rows(world: World, person: Person, obj: str, action: str) -> tuple[list[Row], dict[int, Row]]:
    """The fixed records to try `action` on: all of them when the role may do it on the object;
    else (a 403 whatever the record) one the user can read and one they cannot, where there are such."""
    rows, parents = world.base_rows(obj)
    if world.org.granted(person, obj, action):
        if _scope(world, person, obj) == "all":  # every record alike: the list test checks them all
            return rows[:1] + rows[-1:], parents
        return rows, parents
    sample = {world.org.in_scope(person, CHILDREN.get(obj, obj), parents.get(r.parent_id or 0, r)): r for r in rows}
    return list(sample.values()), parents


# -- reads: list, total, count, get, history -------------------------------------------------------------
@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("who", ACTORS)
def test_list_total_and_count(world: World, who: str, obj: str) -> None:
    """The list (with its total) and the count aggregate hold exactly the rows of the read scope."""
    person = world.person(who)
    url = f"/api/v1/{obj}"
    listed = world.call(who, "GET", url, obj, params={"limit": 1000, "with_total": "1"})
    counted = world.call(who, "GET", f"{url}/aggregate", obj, params={"metrics": "count"})
    if not world.org.granted(person, obj, "read"):
        assert _status_ok(403, listed), _why(who, world, "GET", url, listed)
        assert _status_ok(403, counted), _why(who, world, "GET", f"{url}/aggregate", counted)
        return
    assert listed.status_code == 200, _why(who, world, "GET", url, listed)
    rows, parents = world.rows(obj)
    expected = world.org.visible(person, obj, rows, parents)
    got = [int(d["id"]) for d in listed.json()["data"]]
    assert len(got) == len(set(got)), f"{who}: duplicate rows in {url}"
    assert set(got) == expected, (
        f"{who} ({person.role}) list {obj}: extra {set(got) - expected}, missing {expected - set(got)}"
    )
    assert listed.json()["total"] == len(expected), f"{who} ({person.role}) list {obj}: {listed.json()['total']}"
    assert counted.status_code == 200, _why(who, world, "GET", f"{url}/aggregate", counted)
    assert counted.json()["data"] == [{"count": len(expected)}], f"{who} ({person.role}) count {obj}: {counted.text}"
    if obj in TOP:
        r = world.call(who, "GET", f"{url}/aggregate", obj, params={"metrics": "count", "group_by": "owner_id"})
        assert r.status_code == 200, _why(who, world, "GET", f"{url}/aggregate?group_by=owner_id", r)
        by_owner: dict[Any, int] = {}
        for x in rows:
            if x.id in expected:
                by_owner[x.owner_id] = by_owner.get(x.owner_id, 0) + 1
        got_groups = {g["owner_id"]: g["count"] for g in r.json()["data"]}
        assert got_groups == by_owner, f"{who} ({person.role}) count {obj} by owner: {got_groups} != {by_owner}"


@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("who", ACTORS)
def test_get_and_history(world: World, who: str, obj: str) -> None:
    person = world.person(who)
    rows, parents = _checked_rows(world, person, obj, "read")
    wrong = []
    sampled: set[int] = set()  # the history of one record per expected answer is enough
    for row in rows:
        expected = world.org.expected(person, obj, "read", row, parents)
        urls = [f"/api/v1/{obj}/{row.id}"]
        if expected not in sampled:
            sampled.add(expected)
            urls.append(f"/api/v1/{obj}/{row.id}/history")
        for url in urls:
            r = world.call(who, "GET", url, obj)
            if not _status_ok(expected, r):
                wrong.append(f"GET {url} owner={row.owner_id}: expected {expected}, got {r.status_code} {r.text[:200]}")
            elif expected == 200 and url.endswith(str(row.id)):
                assert int(r.json()["data"]["id"]) == row.id
    assert not wrong, f"{who} ({person.role}) on {obj}:\n" + "\n".join(wrong)


# -- comments, mentions and the timeline: the record's read scope, exactly -----------------------------------
@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("who", ACTORS)
def test_comments_and_timeline_follow_the_read_scope(world: World, who: str, obj: str) -> None:
    """Listing and posting comments and reading the timeline answer as reading the record does (a
    comment is made where it is read); a mention of the user by the administrator is taken exactly
    when the user may read the record, and only then are they notified."""
    person = world.person(who)
    rows, parents = _checked_rows(world, person, obj, "read")
    wrong = []
    sampled: set[int] = set()  # posting and the timeline: one record per expected answer
    for row in rows:
        expected = world.org.expected(person, obj, "read", row, parents)
        calls: list[tuple[str, str, Any]] = [("GET", "comments", None)]
        if expected not in sampled:
            sampled.add(expected)
            calls += [("POST", "comments", {"body": f"from {who}"}), ("GET", "timeline", None)]
        for method, suffix, body in calls:
            url = f"/api/v1/{obj}/{row.id}/{suffix}"
            r = world.call(who, method, url, obj, json=body)
            want = 201 if method == "POST" and expected == 200 else expected
            if not _status_ok(want, r):
                wrong.append(f"{method} {url}: expected {want}, got {r.status_code} {r.text[:200]}")
        mention = {"body": f"@[{person.key}](user:{person.id}) please look"}
        before = _notified(world, person.id)
        r = world.call("admin", "POST", f"/api/v1/{obj}/{row.id}/comments", obj, json=mention)
        want = 201 if expected == 200 or who == "admin" else 422
        if r.status_code != want or (want == 422 and _codes(r) != ["comment.mention_cannot_read"]):
            wrong.append(
                f"admin mentioning {who} on {obj} {row.id}: expected {want}, got {r.status_code} {r.text[:200]}"
            )
        told = _notified(world, person.id) - before
        if told != (1 if want == 201 and who != "admin" else 0):
            wrong.append(f"admin mentioning {who} on {obj} {row.id} ({r.status_code}) notified them {told} times")
    assert not wrong, f"{who} ({person.role}) on {obj}:\n" + "\n".join(wrong)


def _notified(world: World, user_id: int) -> int:
    t = world.store.metadata.tables["lw_notification"]
    with world.store.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(t.c.recipient_id == user_id)).scalar_one())


# -- writes: update, create, delete ---------------------------------------------------------------------
@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("who", ACTORS)
def test_update(world: World, who: str, obj: str) -> None:
    person = world.person(who)
    rows, parents = _checked_rows(world, person, obj, "update")
    wrong = []
    for row in rows:
        expected = world.org.expected(person, obj, "update", row, parents)
        before = stored(world.store, obj, row.id)
        name = f"{obj} {row.id} renamed by {who}"
        url = f"/api/v1/{obj}/{row.id}"
        key = NAME_FIELD.get(obj, "name")
        r = world.call(who, "PATCH", url, obj, json={key: name})
        after = stored(world.store, obj, row.id)
        if not _status_ok(expected, r):
            wrong.append(f"PATCH {url} owner={row.owner_id}: expected {expected}, got {r.status_code} {r.text[:200]}")
        elif expected == 200:
            assert after[key] == name and r.json()["data"][key] == name
        elif after != before:
            wrong.append(f"PATCH {url} was refused ({r.status_code}) but the record changed")
    assert not wrong, f"{who} ({person.role}) on {obj}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("who", ACTORS)
def test_create(world: World, who: str, obj: str) -> None:
    person = world.person(who)
    body = world.body(obj, who, f"{obj} created by {who} {next(world.seq)}")
    url = f"/api/v1/{obj}"
    before = count_rows(world.store, obj)
    r = world.call(who, "POST", url, obj, json=body)
    if not world.org.granted(person, obj, "create"):
        assert _status_ok(403, r), _why(who, world, "POST", url, r)
        assert count_rows(world.store, obj) == before
        return
    assert r.status_code == 201, _why(who, world, "POST", url, r)
    data = r.json()["data"]
    assert count_rows(world.store, obj) == before + 1
    if obj in TOP:
        assert data["owner_id"] == person.id
    # What was created can be read back by its creator.
    r = world.call(who, "GET", f"{url}/{data['id']}", obj)
    assert r.status_code == 200, _why(who, world, "GET", f"{url}/{data['id']}", r)


@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("who", ACTORS)
def test_delete(world: World, who: str, obj: str) -> None:
    person = world.person(who)
    if not world.org.granted(person, obj, "delete"):
        # Refused for the object: the same 403 for a record in scope, one out of it and a missing id.
        rows, _ = _checked_rows(world, person, obj, "delete")
        for record_id in (*(r.id for r in rows), MISSING_ID):
            url = f"/api/v1/{obj}/{record_id}"
            r = world.call(who, "DELETE", url, obj)
            assert _status_ok(403, r), _why(who, world, "DELETE", url, r)
            assert record_id == MISSING_ID or exists(world.store, obj, record_id)
        return
    doomed = _doomed(obj, who)
    if _scope(world, person, obj) == "all":
        doomed = doomed[:1] + doomed[-1:]
    made = [world.make(obj, owner, status=status) for owner, status in doomed]
    rows, parents = world.rows(obj)
    wrong = []
    for row in (r for r in rows if r.id in made):
        expected = world.org.expected(person, obj, "delete", row, parents)
        url = f"/api/v1/{obj}/{row.id}"
        r = world.call(who, "DELETE", url, obj)
        if not _status_ok(expected, r):
            wrong.append(f"DELETE {url} owner={row.owner_id}: expected {expected}, got {r.status_code} {r.text[:200]}")
        elif exists(world.store, obj, row.id) != (expected != 200):
            wrong.append(f"DELETE {url} -> {r.status_code} but the record {'stayed' if expected == 200 else 'went'}")
    assert not wrong, f"{who} ({person.role}) on {obj}:\n" + "\n".join(wrong)


def _doomed(obj: str, who: str) -> list[tuple[str | None, str | None]]:
    """Owners (and ticket statuses) of records made to be deleted: the actor's, their team's, others'."""
    if CHILDREN.get(obj, obj) == "ticket":
        return [("rep_east", "assigned"), ("rep_north", "new"), ("service", "in_progress"), (None, "new")]
    if obj == "product":
        return [("admin", None), ("director", None)]
    keys = ["rep_east", "rep_metro", "rep_north", "manager"]
    if who in owners(obj) and who not in keys:
        keys.append(who)
    return [(k, None) for k in keys]


# -- hidden fields: never shown, never usable in filters, sorts, selections or aggregates ---------------------
def _hidden_cases() -> list[Any]:
    cases = []
    for who in ACTORS:
        role = dict(PEOPLE_ROLES)[who]
        grants = ROLES[role] or {}
        for obj, perm in grants.items():
            # A hidden child-table field hides its lines: tests/auth/test_permission_leaks.py.
            for f in sorted(perm.hidden - set(HOLDERS.values())):
                cases.append(pytest.param(who, obj, f, id=f"{who}({role})-{obj}-{f}"))
    return cases


PEOPLE_ROLES = tuple((key, role) for key, role, _ in PEOPLE)
PROBES: tuple[tuple[str, str, dict[str, str], str], ...] = (
    ("list", "filter_eq", {"{f}": "1"}, "query.forbidden_field"),
    ("list", "filter_gt", {"{f}__gt": "1"}, "query.forbidden_field"),
    ("list", "filter_lte", {"{f}__lte": "100000"}, "query.forbidden_field"),
    ("list", "filter_isnull", {"{f}__isnull": "true"}, "query.forbidden_field"),
    ("list", "filter_in", {"{f}__in": "80,85"}, "query.forbidden_field"),
    ("list", "sort", {"sort": "{f}"}, "query.forbidden_field"),
    ("list", "sort_desc", {"sort": "-{f}"}, "query.forbidden_field"),
    ("list", "sort_second", {"sort": "name,{f}"}, "query.forbidden_field"),
    ("list", "fields", {"fields": "{f}"}, "query.forbidden_field"),
    ("list", "fields_with_name", {"fields": "name,{f}"}, "query.forbidden_field"),
    ("list", "filter_total", {"{f}__gt": "1", "with_total": "1"}, "query.forbidden_field"),
    ("list", "expr", {"filter": "{f} > 1"}, "expr.forbidden"),
    ("list", "expr_function", {"filter": "is_blank({f})"}, "expr.forbidden"),
    ("list", "expr_nested", {"filter": "name != '' and ({f} >= 0 or {f} < 0)"}, "expr.forbidden"),
    ("aggregate", "group_by", {"group_by": "{f}", "metrics": "count"}, "query.forbidden_field"),
    ("aggregate", "sum", {"metrics": "sum:{f}"}, "query.forbidden_field"),
    ("aggregate", "min", {"metrics": "count,min:{f}"}, "query.forbidden_field"),
    ("aggregate", "max", {"metrics": "max:{f}"}, "query.forbidden_field"),
    ("aggregate", "avg", {"metrics": "avg:{f}"}, "query.forbidden_field"),
    ("aggregate", "filter_gt", {"metrics": "count", "{f}__gt": "1"}, "query.forbidden_field"),
    ("aggregate", "expr", {"metrics": "count", "filter": "{f} > 1"}, "expr.forbidden"),
)


def _probe(hidden: str, route: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    query = {k.format(f=hidden): v.format(f=hidden) for k, v in params.items()}
    return ("/aggregate" if route == "aggregate" else ""), query


@pytest.mark.parametrize(("who", "obj", "hidden"), _hidden_cases())
def test_hidden_field_cannot_be_queried(world: World, who: str, obj: str, hidden: str) -> None:
    wrong = []
    for route, probe, params, code in PROBES:
        suffix, query = _probe(hidden, route, params)
        r = world.call(who, "GET", f"/api/v1/{obj}{suffix}", obj, params=query)
        if not (r.status_code == 422 and code in _codes(r)):
            wrong.append(f"{probe}: GET /api/v1/{obj}{suffix}?{query} -> {r.status_code} {r.text[:200]} (want {code})")
    assert not wrong, f"{who} ({world.person(who).role}) on {obj}.{hidden}:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("obj", "hidden"), sorted({(c.values[1], c.values[2]) for c in _hidden_cases()}))
def test_hidden_field_probes_are_valid_queries(world: World, obj: str, hidden: str) -> None:
    """The probes above are fine for an administrator: the refusal is the field mask, not the query."""
    wrong = []
    for route, probe, params, _code in PROBES:
        suffix, query = _probe(hidden, route, params)
        r = world.call("admin", "GET", f"/api/v1/{obj}{suffix}", obj, params=query)
        if r.status_code != 200:
            wrong.append(f"{probe}: GET /api/v1/{obj}{suffix}?{query} -> {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("who", "obj", "hidden"), _hidden_cases())
def test_hidden_field_absent_from_reads(world: World, who: str, obj: str, hidden: str) -> None:
    """Checked on every response by `World.call`; here the reads that would carry it, made once more."""
    record_id = world.base[obj][0]
    for url in (
        f"/api/v1/{obj}",
        f"/api/v1/{obj}/{record_id}",
        f"/api/v1/{obj}/{record_id}/history",
        f"/api/v1/{obj}/{record_id}/timeline",
    ):
        r = world.call(who, "GET", url, obj)
        assert r.status_code == 200 and hidden not in r.text, _why(who, world, "GET", url, r)
    # The administrator sees it (and its change in the history), so the test looks at the right place.
    for suffix in ("history", "timeline"):
        r = world.call("admin", "GET", f"/api/v1/{obj}/{world.products[0]}/{suffix}", obj)
        assert hidden in r.text


@pytest.mark.parametrize(
    ("who", "obj", "expression"),
    [
        ("rep_east", "quote_line", "product.floor_price > 1"),
        ("rep_east", "quote_line", "product.cost_price > 1"),
        ("rep_east", "lead", "product_interest.floor_price > 1"),
        ("marketing", "lead", "product_interest.cost_price > 1"),
        ("manager", "quote_line", "product.cost_price > 1"),
    ],
)
def test_hidden_field_not_reachable_through_a_lookup(world: World, who: str, obj: str, expression: str) -> None:
    for route in ("", "/aggregate"):
        url = f"/api/v1/{obj}{route}"
        r = world.call(who, "GET", url, obj, params={"filter": expression})
        assert r.status_code == 422 and "expr.forbidden" in _codes(r), _why(who, world, "GET", f"{url}?{expression}", r)


# -- writes of hidden and read-only fields ------------------------------------------------------------------
def _locked_cases() -> list[Any]:
    cases = []
    for who in ACTORS:
        role = dict(PEOPLE_ROLES)[who]
        for obj, perm in (ROLES[role] or {}).items():
            if not perm.actions & {"create", "update"}:
                continue
            for f in sorted(perm.hidden | perm.read_only):
                cases.append(pytest.param(who, obj, f, id=f"{who}({role})-{obj}-{f}"))
    return cases


def _value_for(world: World, obj: str, name: str, current: Any) -> Any:
    fdef = world.store.app.object(obj).field(name)
    if fdef.options:
        return next(o.id for o in fdef.options if o.id != current)
    by_type = {"percent": "0.55", "currency": "12345.00", "decimal": "12.5", "integer": 3, "boolean": not current}
    return by_type.get(fdef.type, "changed")


@pytest.mark.parametrize(("who", "obj", "locked"), _locked_cases())
def test_locked_field_cannot_be_written(world: World, who: str, obj: str, locked: str) -> None:
    person = world.person(who)
    perm = (ROLES[person.role] or {})[obj]
    if "update" in perm.actions:
        record_id = world.make(obj, who)
        before = stored(world.store, obj, record_id)
        url = f"/api/v1/{obj}/{record_id}"
        r = world.call(who, "PATCH", url, obj, json={locked: _value_for(world, obj, locked, before.get(locked))})
        assert r.status_code == 422, _why(who, world, "PATCH", url, r)
        assert {"loc": ["body", locked], "code": "field.read_only"} in [
            {"loc": e["loc"], "code": e["code"]} for e in r.json()["errors"]
        ], r.text
        assert stored(world.store, obj, record_id) == before
    if "create" in perm.actions:
        body = world.body(obj, who, f"{obj} with {locked} {next(world.seq)}")
        body[locked] = _value_for(world, obj, locked, None)
        before_count = count_rows(world.store, obj)
        r = world.call(who, "POST", f"/api/v1/{obj}", obj, json=body)
        assert r.status_code == 422, _why(who, world, "POST", f"/api/v1/{obj}", r)
        assert ["body", locked] in [e["loc"] for e in r.json()["errors"]], r.text
        assert "field.read_only" in _codes(r)
        assert count_rows(world.store, obj) == before_count


# -- the record scope holds for writes: owner_id cannot move a record out of reach ----------------------------
def _scope_cases() -> list[Any]:
    cases = []
    for who in ACTORS:
        role = dict(PEOPLE_ROLES)[who]
        grants = ROLES[role]
        for obj in TOP:
            perm = None if grants is None else grants.get(obj)
            if grants is None or (perm is not None and perm.actions & {"create", "update"}):
                cases.append(pytest.param(who, obj, id=f"{who}({role})-{obj}"))
    return cases


@pytest.mark.parametrize(("who", "obj"), _scope_cases())
def test_owner_change_stays_in_scope(world: World, who: str, obj: str) -> None:
    person = world.person(who)
    org = world.org
    status = "in_progress" if obj == "ticket" else None

    def in_scope(key: str) -> bool:
        return org.in_scope(person, obj, Row(0, world.uid(key), status))

    others = [k for k in world.org.people if k != who]
    outside = [k for k in others if not in_scope(k)]
    inside = [k for k in others if in_scope(k)]
    if org.granted(person, obj, "update"):
        record_id = world.make(obj, who, status=status)
        url = f"/api/v1/{obj}/{record_id}"
        for key in outside[:2]:
            before = stored(world.store, obj, record_id)
            r = world.call(who, "PATCH", url, obj, json={"owner_id": world.uid(key)})
            assert r.status_code == 422, _why(who, world, "PATCH", f"{url} owner_id={key}", r)
            errors = [{"loc": e["loc"], "code": e["code"]} for e in r.json()["errors"]]
            assert {"loc": ["body", "owner_id"], "code": "permission.out_of_scope"} in errors, r.text
            assert stored(world.store, obj, record_id) == before
        if inside:
            key = inside[0]
            r = world.call(who, "PATCH", url, obj, json={"owner_id": world.uid(key)})
            assert r.status_code == 200, _why(who, world, "PATCH", f"{url} owner_id={key}", r)
            assert stored(world.store, obj, record_id)["owner_id"] == world.uid(key)
    if org.granted(person, obj, "create"):
        for key in outside[:2]:
            body = world.body(obj, who, f"{obj} for {key} {next(world.seq)}") | {"owner_id": world.uid(key)}
            if status:
                body["status"] = status
            before_count = count_rows(world.store, obj)
            r = world.call(who, "POST", f"/api/v1/{obj}", obj, json=body)
            assert r.status_code == 422, _why(who, world, "POST", f"/api/v1/{obj} owner_id={key}", r)
            errors = [{"loc": e["loc"], "code": e["code"]} for e in r.json()["errors"]]
            assert {"loc": ["body", "owner_id"], "code": "permission.out_of_scope"} in errors, r.text
            assert count_rows(world.store, obj) == before_count
        if inside:
            key = inside[0]
            body = world.body(obj, who, f"{obj} for {key} {next(world.seq)}") | {"owner_id": world.uid(key)}
            r = world.call(who, "POST", f"/api/v1/{obj}", obj, json=body)
            assert r.status_code == 201 and r.json()["data"]["owner_id"] == world.uid(key), _why(
                who, world, "POST", f"/api/v1/{obj} owner_id={key}", r
            )


def test_service_agent_claims_new_tickets_but_cannot_push_them_out_of_reach(world: World) -> None:
    me = world.uid("service")
    claim = world.make("ticket", None, status="new")
    r = world.call("service", "PATCH", f"/api/v1/ticket/{claim}", "ticket", json={"owner_id": me})
    assert r.status_code == 200 and stored(world.store, "ticket", claim)["owner_id"] == me, r.text
    unowned = world.make("ticket", None, status="new")
    before = stored(world.store, "ticket", unowned)
    r = world.call("service", "PATCH", f"/api/v1/ticket/{unowned}", "ticket", json={"status": "assigned"})
    assert r.status_code == 422 and "permission.out_of_scope" in _codes(r), r.text
    assert stored(world.store, "ticket", unowned) == before
    # A new ticket someone owns is not the agent's to see.
    taken = world.make("ticket", "rep_north", status="new")
    r = world.call("service", "GET", f"/api/v1/ticket/{taken}", "ticket")
    assert r.status_code == 404 and _codes(r) == ["record.not_found"], r.text


# -- the three acceptance points about reps and opportunities --------------------------------------------------
def test_rep_cannot_read_another_reps_opportunity_by_id(world: World) -> None:
    theirs = world.by_owner["opportunity"]["rep_north"]
    name = stored(world.store, "opportunity", theirs)["name"]
    for method, path in (
        ("GET", "/api/v1/opportunity/{id}"),
        ("GET", "/api/v1/opportunity/{id}/history"),
        ("PATCH", "/api/v1/opportunity/{id}"),
    ):
        body = {"name": "mine now"} if method == "PATCH" else None
        r = world.call("rep_east", method, path.format(id=theirs), "opportunity", json=body)
        missing = world.call("rep_east", method, path.format(id=MISSING_ID), "opportunity", json=body)
        assert r.status_code == 404, _why("rep_east", world, method, path.format(id=theirs), r)
        assert _codes(r) == ["record.not_found"]
        # Nothing tells an existing record from one that never was: same status, same body.
        assert r.text.replace(str(theirs), "ID") == missing.text.replace(str(MISSING_ID), "ID")
        assert name not in r.text and "rep_north" not in r.text.lower().replace(" ", "_")
    # Reps may not delete opportunities at all: the same 403 for every id, existing or not.
    r = world.call("rep_east", "DELETE", f"/api/v1/opportunity/{theirs}", "opportunity")
    missing = world.call("rep_east", "DELETE", f"/api/v1/opportunity/{MISSING_ID}", "opportunity")
    assert r.status_code == 403 and _codes(r) == ["permission.denied"], r.text
    assert r.text.replace(str(theirs), "ID") == missing.text.replace(str(MISSING_ID), "ID")
    assert stored(world.store, "opportunity", theirs)["name"] == name
    assert exists(world.store, "opportunity", theirs)


def test_rep_cannot_give_own_opportunity_to_another_rep(world: World) -> None:
    mine = world.make("opportunity", "rep_east")
    before = stored(world.store, "opportunity", mine)
    url = f"/api/v1/opportunity/{mine}"
    r = world.call("rep_east", "PATCH", url, "opportunity", json={"owner_id": world.uid("rep_north")})
    assert r.status_code == 422, _why("rep_east", world, "PATCH", url, r)
    assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [(["body", "owner_id"], "permission.out_of_scope")]
    assert stored(world.store, "opportunity", mine) == before
    # Nor take another rep's: that one is not even there for them.
    theirs = world.by_owner["opportunity"]["rep_north"]
    r = world.call(
        "rep_east", "PATCH", f"/api/v1/opportunity/{theirs}", "opportunity", json={"owner_id": world.uid("rep_east")}
    )
    assert r.status_code == 404 and stored(world.store, "opportunity", theirs)["owner_id"] == world.uid("rep_north")


def test_rep_cannot_write_read_only_probability(world: World) -> None:
    assert "probability" in (ROLES["sales_rep"] or {})["opportunity"].read_only, "roles.yaml: probability read_only"
    mine = world.make("opportunity", "rep_east")
    before = stored(world.store, "opportunity", mine)
    url = f"/api/v1/opportunity/{mine}"
    r = world.call("rep_east", "PATCH", url, "opportunity", json={"probability": "0.9", "name": "renamed"})
    assert r.status_code == 422, _why("rep_east", world, "PATCH", url, r)
    assert [(e["loc"], e["code"]) for e in r.json()["errors"]] == [(["body", "probability"], "field.read_only")]
    assert "probability" in r.json()["errors"][0]["msg"]
    assert stored(world.store, "opportunity", mine) == before
    # Read-only is not hidden: the rep still reads it.
    r = world.call("rep_east", "GET", url, "opportunity")
    assert r.status_code == 200 and "probability" in r.json()["data"]


# -- the oracle itself, against a few answers written out by hand ----------------------------------------------
def test_oracle_agrees_with_hand_written_answers(world: World) -> None:
    org = world.org

    def seen(who: str, obj: str) -> set[str | None]:
        rows, parents = world.base_rows(obj)
        visible = org.visible(world.person(who), obj, rows, parents)
        keys = {p.id: p.key for p in org.people.values()}
        return {None if r.owner_id is None else keys[r.owner_id] for r in rows if r.id in visible}

    assert seen("rep_east", "opportunity") == {"rep_east"}
    assert seen("rep_north", "opportunity") == {"rep_north"}
    # The East manager reaches East and East-Metro below it, not North nor the director.
    assert seen("manager", "opportunity") == {"manager", "rep_east", "rep_metro"}
    assert seen("director", "opportunity") == set(SALES)
    assert seen("finance", "quote") == set(SALES) and seen("finance", "opportunity") == set()
    assert seen("marketing", "lead") == {*SALES, "marketing"} and seen("marketing", "opportunity") == set()
    # Service: own tickets and new unowned ones; not a new ticket someone owns, not an assigned unowned one.
    rows, _ = world.base_rows("ticket")
    service = world.person("service")
    got = {(r.owner_id, r.status) for r in rows if org.in_scope(service, "ticket", r)}
    assert got == {(service.id, "in_progress"), (None, "new")}
    assert seen("rep_east", "quote_line") == {None}  # lines have no owner; they are rep_east's quote's
    quote_lines, parents = world.base_rows("quote_line")
    mine = {r.id for r in quote_lines if parents[r.parent_id or 0].owner_id == world.uid("rep_east")}
    assert org.visible(world.person("rep_east"), "quote_line", quote_lines, parents) == mine and len(mine) == 1
    assert org.hidden(world.person("rep_east"), "product") == {"floor_price", "cost_price"}
    assert org.hidden(world.person("manager"), "product") == {"cost_price"}
    assert org.hidden(world.person("finance"), "product") == frozenset()
