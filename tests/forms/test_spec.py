"""The form spec: sections and fields from the layout, widgets from the type registry, conditions,
read-only and hidden fields exactly as the policy says, child lines, and the Other section."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.auth.policy import Subject, decide
from engine.blueprint.load import load_blueprint
from engine.blueprint.model import App, Label
from engine.errors import NotFound
from engine.forms.spec import OTHER_LABEL, FieldSpec, FormSpec, form_spec
from engine.types.registry import TypeRegistry

HERE = Path(__file__).resolve().parents[1]
CONDITIONAL = HERE / "store" / "blueprints" / "conditional.yaml"
CRM = HERE.parent / "blueprints" / "crm"
TYPES = TypeRegistry.with_builtins()
OMITTED = ["amount", "lost_reason", "lost_detail", "big_deal_note", "region", "opened_on", "follow_up", "rep"]


@pytest.fixture(scope="module")
def app() -> App:
    return load_blueprint(CONDITIONAL, TYPES)


@pytest.fixture(scope="module")
def crm() -> App:
    return load_blueprint(CRM, TYPES)


def names(spec: FormSpec) -> list[list[str]]:
    return [[f.name for f in s.fields] for s in spec.sections]


def test_sections_follow_the_layout_with_their_conditions(app: App) -> None:
    spec = form_spec(app, TYPES, "deal")
    assert (spec.object, spec.mode, spec.layout, spec.label) == ("deal", "create", "default", Label(en="Deal"))
    assert names(spec) == [
        ["name", "stage", "amount", "big_deal_note", "region", "opened_on", "follow_up", "rep", "priority"],
        ["lost_reason", "lost_detail"],
        ["east_code", "east_only", "margin"],
        ["lines"],
    ]
    assert [(s.index, s.columns, s.visible_if, s.required_if, s.other) for s in spec.sections] == [
        (0, 2, None, None, False),
        (1, 1, None, None, False),
        (2, 1, "user.region = 'east'", "stage = 'won'", False),
        (3, 1, None, None, False),
    ]
    assert spec.sections[0].label == Label(en="Deal")


def test_a_field_carries_what_its_widget_needs(app: App) -> None:
    spec = form_spec(app, TYPES, "deal")
    reason = spec.field("lost_reason")
    assert reason == FieldSpec(
        name="lost_reason",
        key="lost_reason",
        type="select",
        widget="select",
        label=Label(en="Lost reason"),
        help=None,
        required=False,
        required_if="stage = 'lost'",
        visible_if="stage = 'lost'",
        read_only=False,
        options=app.object("deal").field("lost_reason").options,
        settings=app.object("deal").field("lost_reason").settings,
    )
    assert [o.id for o in reason.options] == ["price", "competitor", "timing"]
    assert (spec.field("stage").default, spec.field("stage").required) == ("open", False)
    assert (spec.field("name").required, spec.field("name").widget) == (True, "input")
    rep = spec.field("rep")
    assert (rep.key, rep.widget, rep.default_expr, rep.target) == ("rep_id", "user", "user.id", None)
    assert spec.field("opened_on").default_expr == "today()"
    assert (spec.field("amount").widget, spec.field("lost_detail").widget) == ("number", "textarea")
    assert (spec.field("margin").widget, spec.field("margin").read_only) == ("readonly", True)


def test_child_tables_are_nested_line_specs(app: App) -> None:
    lines = form_spec(app, TYPES, "deal").field("lines").lines
    assert lines is not None
    assert lines.object == "deal_line"
    assert [f.name for f in lines.fields] == ["product", "quantity", "free", "free_reason"]
    assert lines.field("free_reason").visible_if == "free"
    assert lines.field("quantity").default == 1
    assert lines.field("free").widget == "checkbox"


def test_a_lookup_names_its_target_and_options_keep_labels_and_colours(crm: App) -> None:
    spec = form_spec(crm, TYPES, "opportunity")
    account = spec.field("account")
    assert (account.key, account.widget, account.target) == ("account_id", "lookup", "account")
    won = next(o for o in spec.field("stage").options if o.id == "won")
    assert (won.label, won.color) == (Label(en="Won", zh="赢单"), "#22c55e")


def test_the_policy_hides_and_locks_fields(app: App) -> None:
    rep = Subject(7, frozenset({"rep"}), attributes={"region": "east"})
    spec = form_spec(app, TYPES, "deal", decide(app, rep, "deal", "create"))
    assert "east_only" not in [f.name for f in spec.fields]
    assert spec.field("priority").read_only and not spec.field("stage").read_only
    assert names(spec)[2] == ["east_code", "margin"]


def test_a_section_whose_fields_are_all_hidden_is_left_out(crm: App) -> None:
    rep = Subject(7, frozenset({"sales_rep"}))
    spec = form_spec(crm, TYPES, "product", decide(crm, rep, "product", "read"), mode="view")
    shown = [f.name for f in spec.fields]
    assert "floor_price" not in shown and "cost_price" not in shown
    assert all(s.fields for s in spec.sections)


def test_view_mode_is_read_only_and_shows_only_the_layout(app: App) -> None:
    spec = form_spec(app, TYPES, "deal", mode="view")
    assert all(f.read_only for f in spec.fields)
    assert not any(s.other for s in spec.sections)


def test_writable_fields_a_layout_omits_go_to_an_other_section(app: App) -> None:
    spec = form_spec(app, TYPES, "deal", layout="short", mode="edit")
    assert spec.layout == "short"
    assert names(spec) == [
        ["name", "stage"],
        [*OMITTED[:8], "priority", "east_code", "east_only", "lines"],
    ]
    other = spec.sections[-1]
    assert (other.index, other.label, other.other, other.columns) == (1, OTHER_LABEL, True, 1)
    rep = Subject(7, frozenset({"rep"}))
    spec = form_spec(app, TYPES, "deal", decide(app, rep, "deal", "update"), layout="short", mode="create")
    assert names(spec)[1] == [*OMITTED[:8], "east_code", "lines"]  # east_only hidden, priority read-only
    assert names(form_spec(app, TYPES, "deal", layout="short", mode="view")) == [["name", "stage"]]


def test_without_a_layout_one_section_holds_every_field_in_blueprint_order(app: App) -> None:
    spec = form_spec(app, TYPES, "deal_line", mode="edit")
    assert spec.layout is None
    assert [(s.label, s.columns, s.other) for s in spec.sections] == [(None, 1, False)]
    assert names(spec) == [["product", "quantity", "free", "free_reason"]]


def test_an_unknown_object_layout_or_mode_is_refused(app: App) -> None:
    with pytest.raises(NotFound) as exc:
        form_spec(app, TYPES, "nope")
    assert exc.value.code == "object.unknown"
    with pytest.raises(NotFound) as exc:
        form_spec(app, TYPES, "deal", layout="wide")
    assert exc.value.code == "layout.unknown"
    with pytest.raises(ValueError, match="mode must be one of create, edit, view"):
        form_spec(app, TYPES, "deal", mode="print")  # type: ignore[arg-type]


def test_the_requests_access_masks_fields_as_the_store_enforces_them(db_url: str) -> None:
    from engine.auth.access import PolicyAccess, subject_for
    from engine.auth.directory import AuthDb
    from engine.auth.users import Users
    from tests.helpers import make_store

    store = make_store(db_url, CONDITIONAL)
    try:
        auth = AuthDb(store.db)
        user = Users(auth).create_user("rep@example.com", "Rep", "rep", region="east")
        access = PolicyAccess(store, subject_for(auth, user))
        spec = form_spec(store.app, store.types, "deal", access, mode="edit", conditions=store.conditions)
        assert "east_only" not in [f.name for f in spec.fields]
        assert [f.name for f in spec.fields if f.read_only] == ["priority", "margin"]
        assert spec.conditions is store.conditions["deal"]
        lines = spec.field("lines").lines
        assert lines is not None and lines.conditions is store.conditions["deal_line"]
        assert [f.name for f in lines.fields] == ["product", "quantity", "free", "free_reason"]
    finally:
        store.db.dispose()
