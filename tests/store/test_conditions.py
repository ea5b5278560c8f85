"""Conditional fields enforced by the store on every write path (create, update, lines, bulk),
with computed defaults; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.auth.access import PolicyAccess, subject_for
from engine.auth.directory import AuthDb
from engine.auth.users import Users
from engine.errors import InputInvalid
from engine.store.records import Store
from tests.helpers import make_store

CONDITIONAL = Path(__file__).parent / "blueprints" / "conditional.yaml"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = make_store(db_url, CONDITIONAL)
    yield s
    s.db.dispose()


def rep_access(store: Store, email: str = "rep@example.com", region: str | None = "east") -> PolicyAccess:
    auth = AuthDb(store.db)
    user = Users(auth).create_user(email, "Rep", "rep", region=region)
    return PolicyAccess(store, subject_for(auth, user))


def problems(exc: pytest.ExceptionInfo[InputInvalid]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.loc, p.code) for p in exc.value.problems]


def today() -> Any:
    return datetime.now(UTC).date()


def test_a_hidden_field_refuses_a_value_and_a_shown_required_one_must_be_filled(store: Store) -> None:
    with pytest.raises(InputInvalid) as exc:
        store.create("deal", {"name": "a", "lost_reason": "price", "lost_detail": "too dear"})
    assert problems(exc) == [
        (("body", "lost_reason"), "field.not_visible"),
        (("body", "lost_detail"), "field.not_visible"),
    ]
    assert exc.value.problems[0].msg == "'lost_reason' is not shown now and cannot be set"
    with pytest.raises(InputInvalid) as exc:
        store.create("deal", {"name": "a", "stage": "lost"})
    assert problems(exc) == [(("body", "lost_reason"), "field.required")]
    assert exc.value.problems[0].msg == "'lost_reason' is required"
    got = store.create("deal", {"name": "a", "stage": "lost", "lost_reason": "price", "lost_detail": None})
    assert (got["stage"], got["lost_reason"]) == ("lost", "price")
    assert store.create("deal", {"name": "b", "lost_reason": None})["lost_reason"] is None  # null is no value


def test_required_if_on_a_number_and_an_empty_text_counts_as_missing(store: Store) -> None:
    with pytest.raises(InputInvalid) as exc:
        store.create("deal", {"name": "a", "amount": "100000", "big_deal_note": ""})
    assert problems(exc) == [(("body", "big_deal_note"), "field.required")]
    assert store.create("deal", {"name": "a", "amount": "99999.99"})["big_deal_note"] is None


def test_updates_are_checked_on_the_stored_record_with_the_changes(store: Store) -> None:
    deal = store.create("deal", {"name": "a"})
    with pytest.raises(InputInvalid) as exc:
        store.update("deal", deal["id"], {"stage": "lost"})
    assert problems(exc) == [(("body", "lost_reason"), "field.required")]
    lost = store.update("deal", deal["id"], {"stage": "lost", "lost_reason": "timing"})
    assert lost["lost_reason"] == "timing"
    # changing another field keeps the condition: the stored reason still satisfies it
    assert store.update("deal", deal["id"], {"amount": "5"})["lost_reason"] == "timing"
    with pytest.raises(InputInvalid) as exc:
        store.update("deal", deal["id"], {"lost_reason": None})
    assert problems(exc) == [(("body", "lost_reason"), "field.required")]
    # reopened: the stored reason stays (not erased), but it cannot be changed while hidden
    reopened = store.update("deal", deal["id"], {"stage": "open"})
    assert reopened["lost_reason"] == "timing"
    with pytest.raises(InputInvalid) as exc:
        store.update("deal", deal["id"], {"lost_reason": "price"})
    assert problems(exc) == [(("body", "lost_reason"), "field.not_visible")]
    # sending the stored value back unchanged (a whole record PUT back) is no new value
    assert store.update("deal", deal["id"], {"lost_reason": "timing", "name": "b"})["name"] == "b"
    assert store.update("deal", deal["id"], {"lost_reason": None})["lost_reason"] is None


def test_computed_defaults_fill_absent_fields_on_create_only(store: Store) -> None:
    access = rep_access(store)
    got = store.create("deal", {"name": "a"}, access=access)
    assert got["region"] == "east"
    assert got["opened_on"] == today()
    assert got["follow_up"] == today() + timedelta(days=7)
    assert got["rep_id"] == access.actor_id
    assert got["priority"] == "low"  # a constant default of a field shown now
    given = store.create(
        "deal", {"name": "b", "region": "west", "opened_on": "2026-01-02", "rep_id": None}, access=access
    )
    assert (given["region"], str(given["opened_on"]), given["rep_id"]) == ("west", "2026-01-02", None)
    changed = store.update("deal", got["id"], {"name": "c"}, access=access)
    assert changed["follow_up"] == today() + timedelta(days=7) and changed["region"] == "east"


def test_a_hidden_field_gets_no_default(store: Store) -> None:
    got = store.create("deal", {"name": "a", "stage": "lost", "lost_reason": "price"})
    assert got["follow_up"] is None  # computed default, shown only while open
    assert got["priority"] is None  # constant default, shown only while not lost
    assert got["opened_on"] == today()


def test_the_system_acts_with_no_user_attributes_but_its_actor(store: Store) -> None:
    auth = AuthDb(store.db)
    actor = Users(auth).create_user("sys@example.com", "Sys", "admin").id
    got = store.create("deal", {"name": "a"}, actor=actor)
    assert got["region"] is None and got["rep_id"] == actor


def test_a_section_condition_reads_the_acting_user(store: Store) -> None:
    east = rep_access(store, "east@example.com", "east")
    west = rep_access(store, "west@example.com", "west")
    assert store.create("deal", {"name": "a", "east_code": "E1"}, access=east)["east_code"] == "E1"
    with pytest.raises(InputInvalid) as exc:
        store.create("deal", {"name": "a", "east_code": "E1"}, access=west)
    assert problems(exc) == [(("body", "east_code"), "field.not_visible")]
    # the section's required_if holds only where the section is shown
    with pytest.raises(InputInvalid) as exc:
        store.create("deal", {"name": "won", "stage": "won"}, access=east)
    assert problems(exc) == [(("body", "east_code"), "field.required")]
    assert store.create("deal", {"name": "won", "stage": "won"}, access=west)["east_code"] is None


def test_a_field_hidden_by_the_role_is_refused_before_its_condition(store: Store) -> None:
    east = rep_access(store)
    with pytest.raises(InputInvalid) as exc:
        store.create("deal", {"name": "a", "east_only": "x"}, access=east)
    assert problems(exc) == [(("body", "east_only"), "field.read_only")]
    # nor is it required of the user, though its section requires it now (they cannot fill it)
    won = store.create("deal", {"name": "won", "stage": "won", "east_code": "E"}, access=east)
    assert "east_only" not in won and store.get("deal", won["id"])["east_only"] is None


def test_lines_have_their_own_conditions_on_create_and_update(store: Store) -> None:
    with pytest.raises(InputInvalid) as exc:
        store.create(
            "deal",
            {
                "name": "a",
                "lines": [{"product": "p"}, {"product": "q", "free": True}, {"product": "r", "free_reason": "x"}],
            },
        )
    assert problems(exc) == [
        (("body", "lines", 1, "free_reason"), "field.required"),
        (("body", "lines", 2, "free_reason"), "field.not_visible"),
    ]
    deal = store.create("deal", {"name": "a", "lines": [{"product": "p", "free": True, "free_reason": "gift"}]})
    line = deal["lines"][0]
    with pytest.raises(InputInvalid) as exc:
        store.update("deal", deal["id"], {"lines": [{"id": line["id"], "free_reason": None}]})
    assert problems(exc) == [(("body", "lines", 0, "free_reason"), "field.required")]
    kept = store.update("deal", deal["id"], {"lines": [{"id": line["id"], "free": False}]})
    assert kept["lines"][0]["free_reason"] == "gift"  # stays, hidden


def test_a_line_created_on_its_own_is_checked(store: Store) -> None:
    deal = store.create("deal", {"name": "a"})
    with pytest.raises(InputInvalid) as exc:
        store.create("deal_line", {"deal_id": deal["id"], "product": "p", "free": True})
    assert problems(exc) == [(("body", "free_reason"), "field.required")]


def test_bulk_creates_locate_every_problem_by_row(store: Store) -> None:
    rows = [
        {"name": "ok"},
        {"name": "lost", "stage": "lost"},
        {"name": "hidden", "follow_up": None, "lost_detail": "x"},
        {"name": "line", "lines": [{"product": "p", "free": True}]},
    ]
    with pytest.raises(InputInvalid) as exc:
        store.create_many("deal", rows)
    assert problems(exc) == [
        (("body", 1, "lost_reason"), "field.required"),
        (("body", 2, "lost_detail"), "field.not_visible"),
    ]
    with pytest.raises(InputInvalid) as exc:  # lines are checked as they are written, after their records
        store.create_many("deal", [rows[0], rows[3]])
    assert problems(exc) == [(("body", 1, "lines", 0, "free_reason"), "field.required")]
    ids = store.create_many("deal", [rows[0], {**rows[1], "lost_reason": "price"}])
    assert [store.get("deal", i)["follow_up"] for i in ids] == [today() + timedelta(days=7), None]
