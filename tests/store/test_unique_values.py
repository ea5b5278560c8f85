"""Unique values on every write path, on SQLite and PostgreSQL: one code (`field.unique`, a 422),
located at the field and the row (bulk index, line index, or the record put back from the trash)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.errors import InputInvalid
from engine.store import integrity
from engine.store.query import ListQuery
from engine.store.records import Store
from tests.helpers import api_client, make_store

BLUEPRINT = Path(__file__).parent / "blueprints" / "unique.yaml"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url, BLUEPRINT)
    yield s
    s.db.dispose()


def problems(err: pytest.ExceptionInfo[InputInvalid]) -> list[tuple[tuple[str | int, ...], str, str]]:
    return [(p.loc, p.code, p.msg) for p in err.value.problems]


def test_bulk_repeats_are_located_at_the_repeating_row(store: Store) -> None:
    rows: list[dict[str, Any]] = [
        {"name": "a", "email": "a@x.cn"},
        {"name": "b"},  # no email: rows without a value must not shift the index
        {"name": "c", "email": "c@x.cn"},
        {"name": "d", "email": "c@x.cn"},
        {"name": "e", "email": "a@x.cn"},
    ]
    with pytest.raises(InputInvalid) as err:
        store.create_many("contact", rows)
    assert problems(err) == [
        (("body", 3, "email"), "field.unique", "email 'c@x.cn' is given twice (at /2 and /3)"),
        (("body", 4, "email"), "field.unique", "email 'a@x.cn' is given twice (at /0 and /4)"),
    ]
    assert store.find("contact", ListQuery()).records == []


def test_bulk_rows_repeating_stored_values_are_each_located(store: Store) -> None:
    store.create("contact", {"name": "held", "email": "held@x.cn"})
    rows = [{"name": "a"}, {"name": "b", "email": "held@x.cn"}, {"name": "c"}, {"name": "d", "email": "held@x.cn"}]
    with pytest.raises(InputInvalid) as err:
        store.create_many("contact", rows)
    taken = "email 'held@x.cn' is already used by another contact"
    assert problems(err) == [
        (("body", 1, "email"), "field.unique", taken),
        (("body", 3, "email"), "field.unique", taken),
    ]


def test_a_two_field_unique_index_is_checked_on_create_bulk_and_update(store: Store) -> None:
    acme = store.create("account", {"name": "Acme"})["id"]
    other = store.create("account", {"name": "Other"})["id"]
    store.create("contact", {"name": "Li", "account_id": acme})
    taken = f"(account_id, name) ({acme}, 'Li') is already used by another contact"
    with pytest.raises(InputInvalid) as err:
        store.create("contact", {"name": "Li", "account_id": acme})
    assert problems(err) == [(("body", "account_id"), "field.unique", taken)]
    with pytest.raises(InputInvalid) as err:
        store.create_many("contact", [{"name": "Li", "account_id": other}, {"name": "Li", "account_id": acme}])
    assert problems(err) == [(("body", 1, "account_id"), "field.unique", taken)]
    moving = store.create("contact", {"name": "Li", "account_id": other})
    with pytest.raises(InputInvalid) as err:  # only one of the two fields changes
        store.update("contact", moving["id"], {"account_id": acme})
    assert problems(err) == [(("body", "account_id"), "field.unique", taken)]
    renamed = store.create("contact", {"name": "Wang", "account_id": acme})
    with pytest.raises(InputInvalid) as err:
        store.update("contact", renamed["id"], {"name": "Li"})
    assert problems(err) == [(("body", "name"), "field.unique", taken)]
    assert store.update("contact", renamed["id"], {"name": "Wang", "email": "w@x.cn"})["version"] == 2


def test_line_values_are_unique_on_insert_and_on_update(store: Store) -> None:
    first = store.create("order", {"title": "o1", "lines": [{"sku": "A"}, {"sku": "B"}]})
    with pytest.raises(InputInvalid) as err:
        store.create("order", {"title": "o2", "lines": [{"sku": "C"}, {"sku": "A"}]})
    assert problems(err) == [
        (("body", "lines", 1, "sku"), "field.unique", "sku 'A' is already used by another order_line")
    ]
    with pytest.raises(InputInvalid) as err:
        store.create("order", {"title": "o2", "lines": [{"sku": "D"}, {"sku": "D"}]})
    assert problems(err) == [
        (("body", "lines", 1, "sku"), "field.unique", "sku 'D' is given twice (at /lines/0 and /lines/1)")
    ]
    second = store.create("order", {"title": "o2", "lines": [{"sku": "C"}]})
    line = second["lines"][0]
    with pytest.raises(InputInvalid) as err:
        store.update("order", second["id"], {"lines": [{"id": line["id"], "sku": "B"}]})
    assert problems(err) == [
        (("body", "lines", 0, "sku"), "field.unique", "sku 'B' is already used by another order_line")
    ]
    with pytest.raises(InputInvalid) as err:
        store.create_many("order", [{"title": "x", "lines": [{"sku": "E"}]}, {"title": "y", "lines": [{"sku": "A"}]}])
    assert problems(err)[0][:2] == (("body", 1, "lines", 0, "sku"), "field.unique")
    with pytest.raises(InputInvalid) as err:
        store.create("order_line", {"order_id": first["id"], "sku": "C"})
    assert problems(err) == [(("body", "sku"), "field.unique", "sku 'C' is already used by another order_line")]
    assert [x["sku"] for x in store.get("order", first["id"])["lines"]] == ["A", "B"]


def test_restore_over_a_taken_value_is_located_at_the_restored_record(store: Store) -> None:
    gone = store.create("contact", {"name": "Li", "email": "li@x.cn"})
    store.delete("contact", gone["id"])
    store.create("contact", {"name": "Li 2", "email": "li@x.cn"})
    with pytest.raises(InputInvalid) as err:
        store.restore("contact", gone["id"])
    assert problems(err) == [
        (("contact", gone["id"], "email"), "field.unique", "email 'li@x.cn' is already used by another contact")
    ]
    order = store.create("order", {"title": "o", "lines": [{"sku": "A"}, {"sku": "B"}]})
    store.delete("order", order["id"])
    store.create("order", {"title": "p", "lines": [{"sku": "B"}]})
    with pytest.raises(InputInvalid) as err:
        store.restore("order", order["id"])
    line_b = order["lines"][1]["id"]
    assert problems(err) == [
        (("order_line", line_b, "sku"), "field.unique", "sku 'B' is already used by another order_line")
    ]


def test_restore_of_a_record_whose_lookup_target_is_gone_names_the_field(store: Store) -> None:
    acme = store.create("account", {"name": "Acme"})
    contact = store.create("contact", {"name": "Li", "account_id": acme["id"]})
    store.delete("contact", contact["id"])
    store.delete("account", acme["id"])
    with pytest.raises(InputInvalid) as err:
        store.restore("contact", contact["id"])
    assert problems(err) == [
        (("contact", contact["id"], "account_id"), "field.not_found", f"no account with id {acme['id']}")
    ]
    store.restore("account", acme["id"])
    assert store.restore("contact", contact["id"])["account_id"] == acme["id"]


def test_a_value_taken_after_the_check_gets_the_same_located_answer(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A concurrent writer storing the value between our check and our insert: the database's unique
    # index refuses it, and the answer is the one the check gives (found by checking again).
    store.create("contact", {"name": "held", "email": "held@x.cn"})
    monkeypatch.setattr(integrity, "check_rows", lambda *args, **kwargs: None)
    monkeypatch.setattr(integrity, "check_unique", lambda *args, **kwargs: None)
    with pytest.raises(InputInvalid) as err:
        store.create("contact", {"name": "Li", "email": "held@x.cn"})
    assert problems(err) == [
        (("body", "email"), "field.unique", "email 'held@x.cn' is already used by another contact")
    ]
    with pytest.raises(InputInvalid) as err:
        store.create_many("contact", [{"name": "a"}, {"name": "b", "email": "held@x.cn"}])
    assert problems(err) == [
        (("body", 1, "email"), "field.unique", "email 'held@x.cn' is already used by another contact")
    ]
    other = store.create("contact", {"name": "other"})
    with pytest.raises(InputInvalid) as err:
        store.update("contact", other["id"], {"email": "held@x.cn"})
    assert problems(err) == [
        (("body", "email"), "field.unique", "email 'held@x.cn' is already used by another contact")
    ]
    with pytest.raises(InputInvalid) as err:  # a line: not rechecked, located by the index the database names
        store.create("order", {"title": "o", "lines": [{"sku": "A"}, {"sku": "A"}]})
    assert problems(err) == [(("body", "lines"), "field.unique", "another order_line already has this sku")]


def test_the_api_answers_one_code_for_unique_values(store: Store) -> None:
    with api_client(store) as client:
        assert client.post("/api/v1/account", json={"name": "Acme"}).status_code == 201
        r = client.post("/api/v1/account", json={"name": "Acme"})
        assert r.status_code == 422
        assert r.json() == {
            "ok": False,
            "errors": [
                {
                    "loc": ["body", "name"],
                    "msg": "name 'Acme' is already used by another account",
                    "code": "field.unique",
                }
            ],
        }


def test_a_trash_entry_with_a_taken_value_stays_hidden_from_other_users(store: Store) -> None:
    with (
        api_client(store) as admin,
        api_client(store, "clerk", "li@example.com") as li,
        api_client(store, "clerk", "wang@example.com") as wang,
    ):
        mine = li.post("/api/v1/account", json={"name": "Acme"}).json()["data"]["id"]
        assert li.delete(f"/api/v1/account/{mine}").status_code == 200
        assert admin.post("/api/v1/account", json={"name": "Acme"}).status_code == 201
        r = wang.post(f"/api/v1/account/{mine}/restore")
        assert (r.status_code, r.json()["errors"][0]["code"]) == (404, "trash.not_found")
        r = li.post(f"/api/v1/account/{mine}/restore")
        assert r.status_code == 422
        assert r.json()["errors"] == [
            {
                "loc": ["account", mine, "name"],
                "msg": "name 'Acme' is already used by another account",
                "code": "field.unique",
            }
        ]
