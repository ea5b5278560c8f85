"""Record store behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.auth.directory import AuthDb
from engine.auth.users import Users
from engine.errors import Conflict, InputInvalid, NotFound
from engine.store.query import AggregateQuery, Condition, ListQuery
from engine.store.records import Store
from tests.helpers import make_store


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    s = make_store(db_url, files_dir=tmp_path / "files")
    yield s
    s.db.dispose()


@pytest.fixture
def user(store: Store) -> int:
    return Users(AuthDb(store.db)).create_user("rep@example.com", "Rep", "admin").id


FULL = {
    "name": "Acme 华东",
    "code": "ACM",
    "notes": "line one\nline two",
    "employees": 1200,
    "rating": "4.125",
    "revenue": "12345678901234.56",
    "margin": "0.1875",
    "active": False,
    "founded": "1999-12-31",
    "last_contact": "2026-01-31T09:30:00+08:00",
    "size": "large",
    "tags": ["vip", "partner"],
    "email": "Sales@Acme.example",
    "phone": "+86 21 5555 0100",
    "website": "https://acme.example/about",
}


def test_every_field_type_round_trips(store: Store, user: int) -> None:
    created = store.create("company", {**FULL, "manager_id": user}, actor=user)
    got = store.get("company", created["id"])
    assert got["name"] == "Acme 华东"
    assert got["employees"] == 1200
    assert got["rating"] == Decimal("4.125")
    assert got["revenue"] == Decimal("12345678901234.56")
    assert got["margin"] == Decimal("0.1875")
    assert got["active"] is False
    assert got["founded"] == date(1999, 12, 31)
    assert got["last_contact"] == datetime(2026, 1, 31, 1, 30, tzinfo=UTC)
    assert got["size"] == "large"
    assert got["tags"] == ["vip", "partner"]
    assert got["email"] == "sales@acme.example"
    assert got["manager_id"] == user
    assert got["owner_id"] == user and got["created_by"] == user
    assert got["number"] == f"C-{datetime.now(UTC):%Y}-0001"
    assert got["version"] == 1
    as_json = store.codec.to_json("company", got)
    assert as_json["revenue"] == "12345678901234.56"
    assert as_json["last_contact"] == "2026-01-31T01:30:00Z"
    assert as_json["founded"] == "1999-12-31"


def test_defaults_fill_missing_fields(store: Store) -> None:
    got = store.create("company", {"name": "Beta"})
    assert got["active"] is True and got["size"] == "small"
    assert (
        store.create("deal_line" if False else "deal", {"name": "d", "lines": [{"product": "p"}]})["lines"][0][
            "quantity"
        ]
        == 1
    )


@pytest.mark.parametrize("amount", ["0.01", "-5.10", "99999999999999.99", 1e2, 42, 0.1])
def test_currency_is_exact(store: Store, amount: object) -> None:
    got = store.create("deal", {"name": "d", "amount": amount})
    assert got["amount"] == Decimal(str(amount)).quantize(Decimal("0.01"))


def test_currency_sum_is_exact(store: Store) -> None:
    store.create_many("deal", [{"name": f"d{i}", "amount": "0.10", "stage": "new"} for i in range(1000)])
    rows = store.aggregate("deal", AggregateQuery(group_by=["stage"], metrics=["count", "sum:amount"])).rows
    assert rows == [{"stage": "new", "count": 1000, "sum_amount": Decimal("100.00")}]


def test_invalid_values_are_reported_per_field(store: Store) -> None:
    with pytest.raises(InputInvalid) as err:
        store.create(
            "company",
            {
                "name": "x" * 81,
                "code": "abc",
                "employees": -1,
                "revenue": "1.234",
                "size": "huge",
                "tags": ["vip", "nope"],
                "email": "not-mail",
                "website": "ftp://x",
                "founded": "31/12",
                "last_contact": "2026-01-01T00:00:00",
                "active": "yes",
                "bogus": 1,
                "id": 5,
            },
        )
    locs = {p.loc[-1]: p.code for p in err.value.problems}
    assert locs == {
        "name": "field.invalid",
        "code": "field.invalid",
        "employees": "field.invalid",
        "revenue": "type.currency",
        "size": "field.invalid",
        "tags": "field.invalid",
        "email": "field.invalid",
        "website": "field.invalid",
        "founded": "type.date",
        "last_contact": "type.datetime",
        "active": "type.boolean",
        "bogus": "field.unknown",
        "id": "field.read_only",
    }
    assert store.find("company", ListQuery()).records == []


def test_required_and_missing_references(store: Store) -> None:
    with pytest.raises(InputInvalid) as err:
        store.create("deal", {"amount": "1"})
    assert [p.loc for p in err.value.problems] == [("body", "name")]
    with pytest.raises(InputInvalid) as err:
        store.create("deal", {"name": "d", "company_id": 999})
    assert err.value.problems[0].code == "field.not_found"


def test_unique_values_are_refused_without_naming_the_holder(store: Store) -> None:
    # The holder may be a record the writer cannot see: its id would leak that it exists.
    first = store.create("company", {"name": "A", "code": "AAA"})
    with pytest.raises(InputInvalid) as err:
        store.create("company", {"name": "B", "code": "AAA"})
    problem = err.value.problems[0]
    assert (problem.loc, problem.code) == (("body", "code"), "field.unique")
    assert "'AAA' is already used" in problem.msg and str(first["id"]) not in problem.msg


def test_update_records_history_and_versions(store: Store, user: int) -> None:
    rec = store.create("company", {"name": "A", "revenue": "10.00"}, actor=user)
    updated = store.update("company", rec["id"], {"revenue": "20.50", "name": "A2"}, version=1, actor=user)
    assert updated["version"] == 2 and updated["revenue"] == Decimal("20.50")
    unchanged = store.update("company", rec["id"], {"name": "A2"}, actor=user)
    assert unchanged["version"] == 2
    rows = store.history("company", rec["id"])
    assert [(r["action"], r["field"]) for r in rows] == [("create", None), ("update", "revenue"), ("update", "name")]
    change = rows[1]
    assert (change["old"], change["new"], change["actor_id"]) == ("10.00", "20.50", user)


def test_stale_version_conflicts_with_current_record(store: Store) -> None:
    rec = store.create("company", {"name": "A"})
    store.update("company", rec["id"], {"name": "B"}, version=1)
    with pytest.raises(Conflict) as err:
        store.update("company", rec["id"], {"name": "C"}, version=1)
    assert err.value.current["name"] == "B" and err.value.current["version"] == 2
    assert store.get("company", rec["id"])["name"] == "B"


def test_child_lines_are_replaced_as_a_set(store: Store) -> None:
    deal = store.create("deal", {"name": "d", "lines": [{"product": "a", "quantity": 2}, {"product": "b"}]})
    a, b = deal["lines"]
    after = store.update("deal", deal["id"], {"lines": [{"id": b["id"], "quantity": 5}, {"product": "c"}]})
    assert [(line["product"], line["quantity"], line["position"]) for line in after["lines"]] == [
        ("b", 5, 0),
        ("c", 1, 1),
    ]
    assert after["version"] == 2
    with pytest.raises(InputInvalid):
        store.update("deal", deal["id"], {"lines": [{"id": a["id"], "quantity": 1}]})
    with pytest.raises(InputInvalid) as err:
        store.update("deal", deal["id"], {"lines": [{"product": "x", "quantity": 0}]})
    assert err.value.problems[0].loc == ("body", "lines", 0, "quantity")


def test_delete_and_restore_with_cascade_and_set_null(store: Store, user: int) -> None:
    parent = store.create("company", {"name": "P", "code": "PPP"})
    child = store.create("company", {"name": "C", "parent_id": parent["id"]})
    deal = store.create("deal", {"name": "d", "company_id": parent["id"], "lines": [{"product": "a"}]})
    store.delete("company", parent["id"], actor=user)
    with pytest.raises(NotFound):
        store.get("company", parent["id"])
    with pytest.raises(NotFound):
        store.get("deal", deal["id"])
    assert store.get("company", child["id"])["parent_id"] is None
    restored = store.restore("company", parent["id"], actor=user)
    assert restored["code"] == "PPP" and restored["version"] == 1
    assert store.get("company", child["id"])["parent_id"] == parent["id"]
    back = store.get("deal", deal["id"])
    assert back["company_id"] == parent["id"] and [line["product"] for line in back["lines"]] == ["a"]
    actions = [r["action"] for r in store.history("company", parent["id"])]
    assert actions == ["create", "delete", "restore"]
    with pytest.raises(NotFound):
        store.restore("company", parent["id"])


def test_restrict_refuses_delete(store: Store) -> None:
    company = store.create("company", {"name": "P"})
    store.create("note", {"name": "n", "company_id": company["id"]})
    with pytest.raises(Conflict, match="referred to by 1 note"):
        store.delete("company", company["id"])
    assert store.get("company", company["id"])["name"] == "P"


def test_autonumber_is_unique_under_eight_concurrent_creators(store: Store) -> None:
    numbers: list[str] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def creator(n: int) -> None:
        try:
            for i in range(15):
                rec = store.create("company", {"name": f"c{n}-{i}"})
                with lock:
                    numbers.append(rec["number"])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=creator, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    year = datetime.now(UTC).year
    assert sorted(numbers) == [f"C-{year}-{i:04d}" for i in range(1, 121)]


def test_list_filters_sort_and_cursor(store: Store) -> None:
    rows = [
        {
            "name": f"c{i:02d}",
            "revenue": None if i % 5 == 0 else str(i * 100),
            "size": ["small", "large"][i % 2],
            "tags": ["vip"] if i % 3 == 0 else [],
        }
        for i in range(30)
    ]
    store.create_many("company", rows)
    page = store.find(
        "company",
        ListQuery(
            conditions=[Condition("size", "eq", "large"), Condition("revenue", "gt", "1000")],
            sort=["-revenue"],
            limit=3,
            total=True,
        ),
    )
    assert [r["name"] for r in page.records] == ["c29", "c27", "c23"]
    assert page.total == 8
    seen: list[str] = []
    cursor = None
    while True:
        page = store.find("company", ListQuery(sort=["-revenue"], limit=7, cursor=cursor))
        seen += [r["name"] for r in page.records]
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = sorted((r for r in rows if r["revenue"]), key=lambda r: -int(r["revenue"]))
    empties = [r["name"] for r in rows if not r["revenue"]]
    assert seen == [r["name"] for r in expected] + empties
    tagged = store.find("company", ListQuery(conditions=[Condition("tags", "contains", "vip")], limit=100))
    assert sorted(r["name"] for r in tagged.records) == [f"c{i:02d}" for i in range(0, 30, 3)]
    like = store.find("company", ListQuery(conditions=[Condition("name", "contains", "%")]))
    assert like.records == []


def test_datetime_filters_respect_timezones(store: Store) -> None:
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))
    store.create("company", {"name": "t", "last_contact": moment.isoformat()})
    hit = store.find("company", ListQuery(conditions=[Condition("last_contact", "gte", "2026-03-01T04:00:00Z")]))
    miss = store.find("company", ListQuery(conditions=[Condition("last_contact", "gt", "2026-03-01T04:00:00Z")]))
    assert len(hit.records) == 1 and miss.records == []


def test_bulk_create_is_all_or_nothing(store: Store) -> None:
    with pytest.raises(InputInvalid) as err:
        store.create_many("company", [{"name": "ok"}, {"name": "bad", "employees": "many"}])
    assert err.value.problems[0].loc == ("body", 1, "employees")
    assert store.find("company", ListQuery()).records == []
    ids = store.create_many("company", [{"name": f"n{i}"} for i in range(50)])
    assert len(ids) == 50 and ids == sorted(ids)
    numbers = [store.get("company", i)["number"] for i in (ids[0], ids[-1])]
    assert numbers[0].endswith("0001") and numbers[1].endswith("0050")


@pytest.mark.parametrize("sort", [["-revenue"], ["-employees", "-revenue"], ["-employees", "name"], ["revenue"]])
def test_keyset_pages_put_empty_values_last_in_both_directions(store: Store, sort: list[str]) -> None:
    # On PostgreSQL a descending nullable first key is read in two parts (values, then empties):
    # every page size must give the same order as one sort in Python.
    rows = [
        {
            "name": f"c{i:02d}",
            "revenue": None if i % 4 == 0 else str((i * 37) % 11 * 100),
            "employees": None if i % 3 == 0 else i % 5,
        }
        for i in range(26)
    ]
    store.create_many("company", rows)

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        out: list[Any] = []
        for item in sort:
            name, desc = item.lstrip("-"), item.startswith("-")
            value = r[name]
            if name == "revenue" and value is not None:
                value = int(value)
            empty = value is None
            if isinstance(value, str):
                out += [empty, value]
            else:
                out += [empty, 0 if empty else (-value if desc else value)]
        return (*out, int(r["name"][1:]))

    expected = [r["name"] for r in sorted(rows, key=key)]
    for limit in (1, 3, 5, 26, 100):
        seen: list[str] = []
        cursor = None
        while True:
            page = store.find("company", ListQuery(sort=sort, limit=limit, cursor=cursor))
            seen += [r["name"] for r in page.records]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected, (sort, limit)
