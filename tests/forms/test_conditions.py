"""Which fields and sections a form shows and requires now, for the values typed so far: the same
compiled conditions the store enforces, evaluated without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.auth.policy import Subject, decide
from engine.blueprint.load import load_blueprint
from engine.blueprint.model import App
from engine.forms.conditions import LineState, form_state, initial_values, parse_values, user_values
from engine.forms.spec import FormSpec, form_spec
from engine.types.registry import TypeRegistry

CONDITIONAL = Path(__file__).resolve().parents[1] / "store" / "blueprints" / "conditional.yaml"
TYPES = TypeRegistry.with_builtins()
ALWAYS = {"name", "stage", "amount", "big_deal_note", "region", "opened_on", "rep", "lines"}


@pytest.fixture(scope="module")
def app() -> App:
    return load_blueprint(CONDITIONAL, TYPES)


@pytest.fixture(scope="module")
def spec(app: App) -> FormSpec:
    return form_spec(app, TYPES, "deal")


def test_an_open_deal_shows_its_follow_up_and_hides_the_loss(spec: FormSpec) -> None:
    state = form_state(spec, {"stage": "open"}, {"region": "west"})
    assert state.visible_fields == ALWAYS | {"follow_up", "priority"}
    assert state.required_fields == {"name"}
    assert state.visible_sections == {0, 1, 3}  # the East section is for users in the east
    assert state.shows("follow_up") and not state.shows("lost_reason") and state.requires("name")


def test_a_lost_deal_shows_and_requires_its_reason(spec: FormSpec) -> None:
    state = form_state(spec, {"stage": "lost"}, {"region": "west"})
    assert state.visible_fields == ALWAYS | {"lost_reason", "lost_detail"}
    assert state.required_fields == {"name", "lost_reason"}


def test_form_text_is_read_as_a_post_gives_it_and_half_typed_values_count_as_empty(spec: FormSpec) -> None:
    assert form_state(spec, {"amount": "100000"}).required_fields == {"name", "big_deal_note"}
    assert form_state(spec, {"amount": 100000}).required_fields == {"name", "big_deal_note"}
    assert form_state(spec, {"amount": "99999.99"}).required_fields == {"name"}
    assert form_state(spec, {"amount": "1e"}).required_fields == {"name"}
    assert form_state(spec, {"stage": ""}).shows("follow_up") is False  # no stage: not open


def test_a_section_follows_the_users_attributes(spec: FormSpec) -> None:
    east = Subject(3, frozenset({"rep"}), attributes={"region": "east"})
    assert user_values(east) == {"id": 3, "team": None, "region": "east", "email": None, "locale": None}
    state = form_state(spec, {"stage": "won"}, east)
    assert 2 in state.visible_sections
    assert {"east_code", "east_only"} <= state.visible_fields
    assert state.required_fields == {"name", "east_code", "east_only"}  # margin is a formula: never required
    assert not form_state(spec, {"stage": "won"}, {"region": "west"}).shows("east_code")
    assert not form_state(spec, {"stage": "won"}).shows("east_code")  # no user: no region


def test_read_only_fields_are_never_required(app: App) -> None:
    rep = Subject(3, frozenset({"rep"}), attributes={"region": "east"})
    spec = form_spec(app, TYPES, "deal", decide(app, rep, "deal", "create"))
    state = form_state(spec, {"stage": "won"}, rep)
    assert state.required_fields == {"name", "east_code"}  # east_only is hidden from reps


def test_each_line_has_its_own_state(spec: FormSpec) -> None:
    state = form_state(spec, {"lines": [{"product": "p", "free": "true"}, {"product": "q"}, "junk"]})
    assert state.lines == {
        "lines": (
            LineState(frozenset({"product", "quantity", "free", "free_reason"}), frozenset({"product", "free_reason"})),
            LineState(frozenset({"product", "quantity", "free"}), frozenset({"product"})),
            LineState(frozenset(), frozenset()),
        )
    }


def test_values_are_parsed_by_key_or_name(app: App) -> None:
    deal = app.object("deal")
    parsed = parse_values(deal, {"rep": "7", "amount": "12.50", "opened_on": "2026-03-01", "stage": "nope"}, TYPES)
    assert {k: str(v) for k, v in parsed.items()} == {
        "rep_id": "7",
        "amount": "12.50",
        "opened_on": "2026-03-01",
    }  # an unknown option does not parse: it counts as empty


def test_a_new_form_starts_with_the_defaults_the_server_would_give(spec: FormSpec) -> None:
    today = datetime.now(UTC).date()
    east = Subject(3, frozenset({"rep"}), attributes={"region": "east"})
    assert initial_values(spec, east) == {
        "stage": "open",
        "region": "east",
        "opened_on": today,
        "follow_up": today + timedelta(days=7),
        "rep_id": 3,
        "priority": "low",
    }
    lost = initial_values(spec, {"id": 4}, {"stage": "lost", "name": "x"})
    assert lost == {"name": "x", "stage": "lost", "opened_on": today, "rep_id": 4}  # hidden: no default
