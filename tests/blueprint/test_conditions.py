"""Conditions (visible_if, required_if) and computed defaults in the model, and their located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.blueprint.load import app_from_document, load_blueprint
from engine.blueprint.model import LayoutSection
from engine.errors import BlueprintInvalid
from engine.types.registry import TypeRegistry

TYPES = TypeRegistry.with_builtins()
DEALS = """
app: {name: deals}
objects:
  deal:
    fields:
      stage: {type: select, options: [open, lost], default: open}
      lost_reason: {type: text, visible_if: "stage = 'lost'", required_if: "stage = 'lost'"}
      region: {type: text, default: {expr: "user.region"}}
      opened: {type: date, default: {expr: "today()"}}
      rep: {type: user, default: {expr: "user.id"}}
      owner_note: {type: text, visible_if: "owner_id = user.id"}
    layouts:
      default:
        sections:
          - {fields: [stage, region, opened, rep]}
          - {fields: [lost_reason, owner_note], visible_if: "stage != 'open'", required_if: "user.team = 3"}
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "deals.yaml"
    path.write_text(text, encoding="utf-8")
    return load_blueprint(path, TYPES, display_root=tmp_path)


def test_conditions_and_computed_defaults_are_in_the_model(tmp_path: Path) -> None:
    app = load(tmp_path, DEALS)
    deal = app.object("deal")  # type: ignore[attr-defined]
    reason = deal.field("lost_reason")
    assert (reason.visible_if, reason.required_if, reason.default_expr) == ("stage = 'lost'", "stage = 'lost'", None)
    assert (deal.field("region").default_expr, deal.field("region").default) == ("user.region", None)
    assert deal.field("opened").default_expr == "today()" and deal.field("rep").default_expr == "user.id"
    assert deal.field("stage").default == "open" and not deal.field("stage").conditional
    assert reason.conditional and deal.has_conditions
    assert deal.layout("default").sections[1] == LayoutSection(
        None, ("lost_reason", "owner_note"), 1, "stage != 'open'", "user.team = 3"
    )
    # the stored document builds the same model (a server reloading its blueprint)
    assert app_from_document(app.document, TYPES).object("deal") == deal  # type: ignore[attr-defined]


def test_an_object_without_conditions_has_none(tmp_path: Path) -> None:
    app = load(tmp_path, "app: {name: a}\nobjects:\n  note:\n    fields:\n      name: {type: text}\n")
    assert not app.object("note").has_conditions  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            '{type: text, visible_if: "account.name = \'x\'"}',
            "6:37 objects.deal.fields.bad.visible_if: expression col 1: a condition reads the record's own fields "
            "and user.*; 'account.name' reads another record [condition.not_local]",
        ),
        (
            '{type: text, required_if: "count(deal) > 1"}',
            "6:38 objects.deal.fields.bad.required_if: expression col 1: a condition reads the record's own fields "
            "and user.*; it cannot aggregate over 'deal' [condition.not_local]",
        ),
        (
            '{type: text, visible_if: "user.age > 3"}',
            "6:37 objects.deal.fields.bad.visible_if: expression col 6: unknown field 'age' on 'user' "
            "[expr.unknown_name]",
        ),
        (
            '{type: integer, default: {expr: "user.region"}}',
            "6:37 objects.deal.fields.bad.default: expression col 1: expected number, got text [expr.type]",
        ),
        (
            '{type: autonumber, default: {expr: "today()"}}',
            "6:40 objects.deal.fields.bad.default: an autonumber field cannot have a default [field.bad_default]",
        ),
        (
            '{type: child_table, object: line, required_if: "name = \'x\'"}',
            "6:46 objects.deal.fields.bad.required_if: required_if does not apply to a child_table field "
            "(nobody fills it in) [field.option_not_applicable]",
        ),
    ],
)
def test_mistakes_are_located_at_the_expression(tmp_path: Path, field: str, message: str) -> None:
    text = (
        "app: {name: deals}\nobjects:\n  deal:\n    fields:\n      name: {type: text}\n"
        f"      bad: {field}\n      account: {{type: lookup, object: deal}}\n"
        "  line:\n    fields:\n      name: {type: text}\n"
    )
    with pytest.raises(BlueprintInvalid) as exc:
        load(tmp_path, text)
    assert [str(p) for p in exc.value.problems if "fields.bad" in str(p)] == [f"deals.yaml:{message}"]
