"""The shipped CRM blueprint: loads, and holds the stable identifiers of SPEC-crm.md section 8."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.blueprint.load import load_blueprint
from engine.blueprint.model import App, Label
from engine.types.registry import TypeRegistry

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"

#: SPEC-crm.md section 8, objects.
SPEC_OBJECTS = [
    "lead",
    "account",
    "contact",
    "opportunity",
    "activity",
    "product",
    "quote",
    "quote_line",
    "contract",
    "order",
    "ticket",
]
#: SPEC-crm.md section 8, key fields (besides `name` on every object), with the type each must have.
SPEC_KEY_FIELDS = [
    ("opportunity", "amount", "currency"),
    ("opportunity", "stage", "select"),
    ("opportunity", "close_date", "date"),
    ("opportunity", "probability", "percent"),
    ("opportunity", "lost_reason", "select"),
    ("product", "list_price", "currency"),
    ("product", "floor_price", "currency"),
    ("quote", "total", "formula"),
    ("quote", "discount", "formula"),
    ("quote_line", "product", "lookup"),
    ("quote_line", "quantity", "decimal"),
    ("quote_line", "unit_price", "currency"),
    ("quote_line", "discount", "percent"),
    ("quote_line", "line_total", "formula"),
    ("lead", "source", "select"),
    ("lead", "score", "formula"),
    ("lead", "status", "select"),
    ("lead", "region", "select"),
]
#: SPEC-crm.md section 3 and 8: stage ids, Chinese labels, default probabilities (section 3).
SPEC_STAGES = [
    ("initial_contact", "初步接触"),
    ("needs_confirmed", "需求确认"),
    ("proposal", "方案报价"),
    ("negotiation", "商务谈判"),
    ("won", "赢单"),
    ("lost", "输单"),
]
#: Objects that have an owner (`owner_id`) according to section 8 ("every owned object").
OWNED = ["lead", "account", "contact", "opportunity", "activity", "quote", "contract", "order", "ticket"]


@pytest.fixture(scope="module")
def app() -> App:
    return load_blueprint(CRM, TypeRegistry.with_builtins())


def test_loads_as_the_crm_app(app: App) -> None:
    assert app.name == "crm"
    assert app.label.zh == "销售管理"


@pytest.mark.parametrize("name", SPEC_OBJECTS)
def test_spec_object_exists_with_a_name_field(app: App, name: str) -> None:
    assert app.has_object(name), f"object '{name}' of SPEC section 8 is missing"
    obj = app.object(name)
    assert obj.has_field("name"), f"'{name}' has no 'name' field"
    assert obj.field("name").type == "text"


@pytest.mark.parametrize(("obj", "field", "ftype"), SPEC_KEY_FIELDS)
def test_spec_key_field(app: App, obj: str, field: str, ftype: str) -> None:
    assert app.object(obj).has_field(field), f"{obj}.{field} is missing"
    assert app.object(obj).field(field).type == ftype


def test_lookups_are_stored_as_id_columns(app: App) -> None:
    opp = app.object("opportunity")
    assert opp.field("account").type == "lookup"
    assert opp.field("account").target == "account"
    assert opp.field("account").column == "account_id"
    assert app.object("quote_line").field("product").column == "product_id"


def test_stage_options_in_order_with_labels_and_colours(app: App) -> None:
    stage = app.object("opportunity").field("stage")
    assert [(o.id, o.label.zh) for o in stage.options] == SPEC_STAGES
    assert all(o.color and o.label.en for o in stage.options)
    assert stage.default == "initial_contact"
    assert stage.required


def test_quote_line_is_the_child_table_of_quote(app: App) -> None:
    lines = app.object("quote").field("lines")
    assert lines.type == "child_table"
    assert lines.target == "quote_line"
    line = app.object("quote_line")
    assert line.parent == "quote"
    assert line.parent_column == "quote_id"
    assert not line.owned


def test_other_line_objects_have_their_parents(app: App) -> None:
    assert app.object("contract_line").parent == "contract"
    assert app.object("order_line").parent == "order"
    assert app.object("order_milestone").parent == "order"


@pytest.mark.parametrize("name", OWNED)
def test_business_objects_are_owned(app: App, name: str) -> None:
    assert app.object(name).owned
    assert not app.object(name).has_field("owner")


def test_autonumbers(app: App) -> None:
    assert app.object("quote").field("number").settings["format"] == "Q-{YYYY}-{0000}"
    for name in ("contract", "order", "ticket"):
        assert app.object(name).field("number").type == "autonumber"


def test_money_is_cny(app: App) -> None:
    money = [(o.name, f) for o in app.objects for f in o.fields if f.type == "currency"]
    assert money
    assert all(f.settings.get("currency") == "CNY" for _, f in money), [
        f"{o}.{f.name}" for o, f in money if f.settings.get("currency") != "CNY"
    ]


def test_percentages_are_fractions_between_0_and_1(app: App) -> None:
    for o in app.objects:
        for f in o.fields:
            if f.type == "percent":
                assert (f.min, f.max) == (0, 1), f"{o.name}.{f.name}"


def test_duplicate_detection_and_listing_indexes(app: App) -> None:
    lead = {ix.fields for ix in app.object("lead").indexes}
    assert {("phone",), ("email",), ("company",), ("status",), ("region",)} <= lead
    opp = {ix.fields for ix in app.object("opportunity").indexes}
    assert {("stage", "amount"), ("close_date",)} <= opp


def _labels(app: App) -> list[tuple[str, Label]]:
    out: list[tuple[str, Label]] = [("app", app.label)]
    for o in app.objects:
        out += [(o.name, o.label), (f"{o.name} (plural)", o.plural)]
        for f in o.fields:
            out.append((f"{o.name}.{f.name}", f.label))
            out += [(f"{o.name}.{f.name}:{opt.id}", opt.label) for opt in f.options]
        for layout in o.layouts:
            out += [(f"{o.name} layout {layout.name}", s.label) for s in layout.sections if s.label]
    return out


def test_every_label_is_bilingual(app: App) -> None:
    missing = [where for where, label in _labels(app) if not label.en or not label.zh]
    assert missing == []


def test_chinese_labels_are_chinese(app: App) -> None:
    no_han = [where for where, label in _labels(app) if not any("\u4e00" <= ch <= "\u9fff" for ch in label.zh or "")]
    assert no_han == []


def test_every_object_has_a_default_layout_placing_its_fields(app: App) -> None:
    for o in app.objects:
        layout = next((lay for lay in o.layouts if lay.name == "default"), None)
        assert layout is not None, o.name
        placed = {n for s in layout.sections for n in s.fields}
        assert placed == {f.name for f in o.fields}, o.name


def test_demo_folder_is_not_part_of_the_blueprint(app: App) -> None:
    assert (CRM / "demo").is_dir()
    assert "users" not in app.document
