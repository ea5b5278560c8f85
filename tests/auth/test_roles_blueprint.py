"""The `roles:` section: the CRM roles load as SPEC-crm.md sections 7 and 8 say; model defaults;
scope expressions are type-checked with `user.<attribute>`. Invalid role blueprints live in
tests/blueprints/invalid/role_*.yaml with their expected problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.blueprint.load import load_blueprint
from engine.blueprint.model import App
from engine.blueprint.roles import USER_ATTRIBUTES
from engine.blueprint.shape import blueprint_schema
from engine.errors import BlueprintInvalid
from engine.types.registry import TypeRegistry

REPO = Path(__file__).resolve().parents[2]
CRM = REPO / "blueprints" / "crm"
SPEC_ROLES = ("admin", "sales_director", "sales_manager", "sales_rep", "finance", "service_agent", "marketing")
CHILD_OBJECTS = {"quote_line", "contract_line", "order_line", "order_milestone"}


@pytest.fixture(scope="module")
def crm() -> App:
    return load_blueprint(CRM, TypeRegistry.with_builtins())


def load_text(tmp_path: Path, text: str) -> App:
    path = tmp_path / "bp.yaml"
    path.write_text(text, encoding="utf-8")
    return load_blueprint(path, TypeRegistry.with_builtins())


BASE = """
app: {name: t}
objects:
  lead:
    fields:
      name: {type: text}
      region: {type: select, options: [east, north]}
      budget: {type: currency, currency: CNY}
  product:
    owned: false
    fields:
      name: {type: text}
"""


def test_the_crm_has_exactly_the_spec_roles_with_bilingual_labels(crm: App) -> None:
    assert tuple(r.name for r in crm.roles) == SPEC_ROLES
    for role in crm.roles:
        assert role.label.en and role.label.zh, role.name
        assert role.description is not None and role.description.zh, role.name


def test_only_admin_is_an_administrator(crm: App) -> None:
    assert [r.name for r in crm.roles if r.admin] == ["admin"]
    assert crm.role("admin").objects == ()


def test_crm_roles_list_no_child_objects_and_only_real_ones(crm: App) -> None:
    objects = {o.name for o in crm.objects}
    for role in crm.roles:
        listed = {p.object for p in role.objects}
        assert listed <= objects - CHILD_OBJECTS, role.name


def test_floor_and_cost_prices_are_hidden_from_reps(crm: App) -> None:
    product = crm.role("sales_rep").permission("product")
    assert product is not None
    assert product.hidden == {"floor_price", "cost_price"}
    manager = crm.role("sales_manager").permission("product")
    assert manager is not None and manager.hidden == {"cost_price"}


def test_finance_has_no_lead_and_marketing_no_deal_access(crm: App) -> None:
    assert crm.role("finance").permission("lead") is None
    assert crm.role("finance").permission("quote") is not None
    assert crm.role("finance").permission("contract") is not None
    assert crm.role("marketing").permission("opportunity") is None


def test_the_service_agent_scope_is_an_expression_over_user(crm: App) -> None:
    ticket = crm.role("service_agent").permission("ticket")
    assert ticket is not None and ticket.scope_is_expression
    assert "user.id" in ticket.scope


def test_defaults_no_action_and_own_scope_or_all_without_owner(tmp_path: Path) -> None:
    app = load_text(tmp_path, BASE + "roles:\n  r:\n    objects:\n      lead: {}\n      product: {read: true}\n")
    role = app.role("r")
    lead, product = role.permission("lead"), role.permission("product")
    assert lead is not None and product is not None
    assert (lead.create, lead.read, lead.update, lead.delete, lead.scope) == (False, False, False, False, "own")
    assert product.scope == "all"
    assert role.label.en == "R" and not role.admin
    assert role.permission("nothing") is None


def test_without_roles_the_app_still_has_its_administrator(tmp_path: Path) -> None:
    roles = load_text(tmp_path, BASE).roles
    assert [(r.name, r.admin, r.objects) for r in roles] == [("admin", True, ())]


def test_a_declared_admin_role_is_always_an_administrator(tmp_path: Path) -> None:
    app = load_text(tmp_path, BASE + "roles:\n  admin:\n    label: {en: Boss}\n")
    assert app.role("admin").admin and app.role("admin").label.en == "Boss"
    assert [r.name for r in app.roles] == ["admin"]


def test_admin_with_objects_is_accepted(tmp_path: Path) -> None:
    app = load_text(tmp_path, BASE + "roles:\n  boss:\n    admin: true\n    objects:\n      lead: {read: true}\n")
    assert app.role("boss").admin


@pytest.mark.parametrize("attribute", sorted(USER_ATTRIBUTES))
def test_every_user_attribute_type_checks_in_a_scope(tmp_path: Path, attribute: str) -> None:
    comparable = {"id": "owner_id", "team": "owner_id", "region": "region", "email": "name", "locale": "name"}
    scope = f"{comparable[attribute]} == user.{attribute}"
    app = load_text(tmp_path, BASE + f'roles:\n  r:\n    objects:\n      lead: {{read: true, scope: "{scope}"}}\n')
    perm = app.role("r").permission("lead")
    assert perm is not None and perm.scope == scope


def test_a_boolean_field_alone_is_an_expression_scope_not_a_scope_word(tmp_path: Path) -> None:
    text = BASE.replace("budget:", "hot: {type: boolean}\n      budget:")
    app = load_text(tmp_path, text + "roles:\n  r:\n    objects:\n      lead: {read: true, scope: hot}\n")
    perm = app.role("r").permission("lead")
    assert perm is not None and perm.scope_is_expression


def test_a_scope_expression_error_is_located_with_its_column(tmp_path: Path) -> None:
    with pytest.raises(BlueprintInvalid) as info:
        load_text(
            tmp_path, BASE + 'roles:\n  r:\n    objects:\n      lead: {read: true, scope: "budget == user.id2"}\n'
        )
    (problem,) = info.value.problems
    assert problem.path == "roles.r.objects.lead.scope"
    assert problem.code == "expr.unknown_name"
    assert "expression col 16: unknown field 'id2' on 'user'; did you mean 'id'?" in problem.message


def test_the_schema_publishes_roles_and_permissions() -> None:
    schema = blueprint_schema()
    assert "roles" in schema["properties"]
    permission = schema["$defs"]["permission"]["properties"]
    assert {"create", "read", "update", "delete", "scope", "fields"} <= set(permission)
    assert permission["fields"]["additionalProperties"] == {"enum": ["hidden", "read_only"]}
