"""The permission policy: `decide()` over the CRM roles (a matrix written out from SPEC-crm.md
section 7), field masks, and row filters that select exactly the right rows on SQLite and
PostgreSQL (own, team with hierarchy, all, expression, shares, child objects)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.auth.policy import Decision, Subject, decide, share_table
from engine.blueprint.load import load_blueprint
from engine.blueprint.model import ACTIONS, App
from engine.store.computed import TableScope
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from tests.helpers import make_store

REPO = Path(__file__).resolve().parents[2]
CRM = REPO / "blueprints" / "crm"

# role -> object -> (actions as letters C R U D, scope). Objects not listed: no access at all.
# Written from SPEC-crm.md section 7: a rep sees own records, a manager the team's, finance sees
# quotes and contracts but not leads, service agents work tickets, marketing works leads.
MATRIX: dict[str, dict[str, tuple[str, str]]] = {
    "sales_director": {
        "lead": ("CRUD", "all"),
        "account": ("CRUD", "all"),
        "contact": ("CRUD", "all"),
        "opportunity": ("CRUD", "all"),
        "activity": ("CRUD", "all"),
        "product": ("RU", "all"),
        "quote": ("CRUD", "all"),
        "contract": ("CRU", "all"),
        "order": ("CRU", "all"),
        "ticket": ("R", "all"),
    },
    "sales_manager": {
        "lead": ("CRUD", "team"),
        "account": ("CRU", "team"),
        "contact": ("CRU", "team"),
        "opportunity": ("CRUD", "team"),
        "activity": ("CRUD", "team"),
        "product": ("R", "all"),
        "quote": ("CRUD", "team"),
        "contract": ("CRU", "team"),
        "order": ("R", "team"),
        "ticket": ("R", "team"),
    },
    "sales_rep": {
        "lead": ("CRU", "own"),
        "account": ("CRU", "own"),
        "contact": ("CRU", "own"),
        "opportunity": ("CRU", "own"),
        "activity": ("CRUD", "own"),
        "product": ("R", "all"),
        "quote": ("CRU", "own"),
        "contract": ("CRU", "own"),
        "order": ("R", "own"),
        "ticket": ("CR", "own"),
    },
    "finance": {
        "account": ("R", "all"),
        "contact": ("R", "all"),
        "product": ("RU", "all"),
        "quote": ("R", "all"),
        "contract": ("RU", "all"),
        "order": ("RU", "all"),
    },
    "service_agent": {
        "ticket": ("CRU", "expression"),
        "account": ("R", "all"),
        "contact": ("R", "all"),
        "order": ("R", "all"),
        "product": ("R", "all"),
        "activity": ("CRU", "own"),
    },
    "marketing": {
        "lead": ("CRUD", "all"),
        "account": ("R", "all"),
        "contact": ("R", "all"),
        "activity": ("CRU", "own"),
        "product": ("R", "all"),
    },
}
HIDDEN = {
    ("sales_rep", "product"): {"floor_price", "cost_price"},
    ("sales_manager", "product"): {"cost_price"},
    ("sales_manager", "ticket"): {"notes"},
    ("service_agent", "product"): {"floor_price", "cost_price"},
    ("marketing", "product"): {"floor_price", "cost_price"},
}
LETTER = {"create": "C", "read": "R", "update": "U", "delete": "D"}


@pytest.fixture(scope="module")
def crm() -> App:
    return load_blueprint(CRM, TypeRegistry.with_builtins())


def top_objects(app: App) -> list[str]:
    return [o.name for o in app.objects if not o.parent]


def who(role: str, user_id: int = 3, teams: frozenset[int] = frozenset({2}), **attributes: Any) -> Subject:
    return Subject(id=user_id, roles=frozenset({role}), team_ids=teams, attributes=attributes)


def matrix_cases() -> Iterator[tuple[str, str, str]]:
    app = load_blueprint(CRM, TypeRegistry.with_builtins())
    for role in MATRIX:
        for obj in top_objects(app):
            for action in ACTIONS:
                yield role, obj, action


@pytest.mark.parametrize(("role", "obj", "action"), list(matrix_cases()))
def test_every_role_object_action_of_the_crm(crm: App, role: str, obj: str, action: str) -> None:
    letters, scope = MATRIX[role].get(obj, ("", ""))
    decision = decide(crm, who(role), obj, action)
    assert decision.allowed is (LETTER[action] in letters), decision.explain()
    if decision.allowed:
        expected = scope if scope != "expression" else crm.role(role).permission(obj).scope  # type: ignore[union-attr]
        assert decision.scopes == (expected,)
        assert decision.hidden == HIDDEN.get((role, obj), set())


def test_the_matrix_covers_every_top_level_crm_object(crm: App) -> None:
    listed = {o for row in MATRIX.values() for o in row}
    assert listed <= set(top_objects(crm))
    assert set(MATRIX) | {"admin"} == {r.name for r in crm.roles}


@pytest.mark.parametrize("action", ACTIONS)
def test_admin_may_do_everything_and_sees_every_field(crm: App, action: str) -> None:
    for obj in crm.objects:
        decision = decide(crm, who("admin"), obj.name, action)
        assert decision.allowed and decision.unrestricted
        assert decision.hidden == frozenset() and decision.read_only == frozenset()


def test_finance_cannot_touch_leads_and_says_why(crm: App) -> None:
    decision = decide(crm, who("finance"), "lead", "read")
    assert not decision.allowed
    assert decision.explain() == ["read lead: denied", "  role 'finance' does not list 'lead'"]
    assert decide(crm, who("finance"), "lead", "create").allowed is False


def test_a_user_without_a_known_role_gets_nothing(crm: App) -> None:
    assert not decide(crm, Subject(id=1, roles=frozenset()), "opportunity", "read").allowed
    ghost = decide(crm, Subject(id=1, roles=frozenset({"ghost"})), "opportunity", "read")
    assert not ghost.allowed and "role 'ghost' is not in the blueprint" in ghost.explain()[1]


def test_child_objects_follow_the_parent(crm: App) -> None:
    rep_read = decide(crm, who("sales_rep"), "quote_line", "read")
    assert rep_read.allowed and rep_read.parent is not None and rep_read.parent.object == "quote"
    assert decide(crm, who("sales_rep"), "quote_line", "create").allowed  # rep may update own quotes
    assert decide(crm, who("finance"), "quote_line", "read").allowed
    assert not decide(crm, who("finance"), "quote_line", "update").allowed  # finance reads quotes only
    assert not decide(crm, who("marketing"), "quote_line", "read").allowed
    assert "child table of 'quote'" in decide(crm, who("finance"), "quote_line", "delete").explain()[1]


def test_roles_add_up(crm: App) -> None:
    both = Subject(id=3, roles=frozenset({"sales_rep", "finance"}), team_ids=frozenset({2}))
    quote = decide(crm, both, "quote", "read")
    assert sorted(quote.scopes) == ["all", "own"] and quote.unrestricted
    product = decide(crm, both, "product", "read")
    assert product.hidden == frozenset()  # finance sees the prices, so the user does
    marketing_rep = Subject(id=3, roles=frozenset({"sales_rep", "marketing"}))
    assert decide(crm, marketing_rep, "product", "read").hidden == {"floor_price", "cost_price"}


def test_read_only_fields_are_writable_when_another_role_may_write_them(tmp_path: Path) -> None:
    path = tmp_path / "bp.yaml"
    path.write_text(
        """
app: {name: t}
objects:
  deal:
    fields: {name: {type: text}, amount: {type: integer}, secret: {type: text}}
roles:
  a: {objects: {deal: {read: true, update: true, fields: {amount: read_only, secret: hidden}}}}
  b: {objects: {deal: {read: true, update: true, fields: {amount: read_only, name: read_only}}}}
""",
        encoding="utf-8",
    )
    app = load_blueprint(path, TypeRegistry.with_builtins())
    only_a = decide(app, Subject(id=1, roles=frozenset({"a"})), "deal", "update")
    assert (only_a.hidden, only_a.read_only) == ({"secret"}, {"amount"})
    both = decide(app, Subject(id=1, roles=frozenset({"a", "b"})), "deal", "update")
    assert (both.hidden, both.read_only) == (frozenset(), {"amount"})
    assert "  read-only fields: amount" in only_a.explain()


def test_unknown_objects_and_actions_are_errors_not_denials(crm: App) -> None:
    with pytest.raises(KeyError):
        decide(crm, who("sales_rep"), "nothing", "read")
    with pytest.raises(KeyError):
        decide(crm, who("sales_rep"), "lead", "approve")


# -- row filters on a real database ---------------------------------------------------------------
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Teams: 1 East (managed by user 2) with 2 East-A below it; 3 North.
TEAMS = [(1, "East", None), (2, "East A", 1), (3, "North", None)]
# Users: id, name, team, region.
USERS = [(1, "director", None, None), (2, "manager", 1, "east"), (3, "rep_a", 2, "east"), (4, "rep_b", 2, "east")]
USERS += [(5, "rep_north", 3, "north"), (6, "agent", None, None)]
OPPORTUNITY_OWNERS = {1: 3, 2: 4, 3: 5, 4: 2, 5: None}
REP_A = who("sales_rep", user_id=3, teams=frozenset({2}), team=2, region="east")
MANAGER = who("sales_manager", user_id=2, teams=frozenset({1, 2}), team=1, region="east")
REP_NORTH = who("sales_rep", user_id=5, teams=frozenset({3}), team=3, region="north")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = make_store(db_url, CRM)
    share_table(store.metadata).create(store.db.engine, checkfirst=True)
    t = store.metadata.tables
    stamps = {"created_at": NOW, "updated_at": NOW, "version": 1}
    with store.db.engine.begin() as conn:
        conn.execute(
            sa.insert(t["lw_team"]), [{"id": i, "name": n, "parent_id": p, "created_at": NOW} for i, n, p in TEAMS]
        )
        conn.execute(
            sa.insert(t["lw_user"]),
            [
                {"id": i, "email": f"{n}@x.cn", "name": n, "locale": "zh", "active": True, "created_at": NOW}
                | {"team_id": team, "region": region}
                for i, n, team, region in USERS
            ],
        )
        opps = [{"id": i, "name": f"deal {i}", "owner_id": o} | stamps for i, o in OPPORTUNITY_OWNERS.items()]
        conn.execute(sa.insert(t["opportunity"]), opps)
        conn.execute(sa.insert(t["quote"]), [{"id": 1, "owner_id": 3} | stamps, {"id": 2, "owner_id": 4} | stamps])
        lines = [{"id": i, "quote_id": q, "position": i} | stamps for i, q in ((1, 1), (2, 1), (3, 2))]
        conn.execute(sa.insert(t["quote_line"]), lines)
        tickets = [(1, 6, "new"), (2, None, "new"), (3, None, "closed"), (4, 3, "new"), (5, 6, "closed")]
        conn.execute(sa.insert(t["ticket"]), [{"id": i, "owner_id": o, "status": s} | stamps for i, o, s in tickets])
        leads = [(1, 3, "east"), (2, 5, "north"), (3, 4, "north")]
        conn.execute(sa.insert(t["lead"]), [{"id": i, "owner_id": o, "region": r} | stamps for i, o, r in leads])
    yield store
    store.db.engine.dispose()


def rows(store: Store, decision: Decision) -> list[int]:
    table = store.tables[decision.object]
    where = decision.row_filter(table, lambda obj, t: TableScope(store, obj, t))
    query = sa.select(table.c.id).order_by(table.c.id)
    if where is not None:
        query = query.where(where)
    with store.db.engine.connect() as conn:
        return [int(r) for r in conn.execute(query).scalars()]


def share(
    store: Store, obj: str, record_id: int, *, user: int | None = None, team: int | None = None, edit: bool = False
) -> None:
    with store.db.engine.begin() as conn:
        values = {"object": obj, "record_id": record_id, "user_id": user, "team_id": team, "can_edit": edit}
        conn.execute(sa.insert(store.metadata.tables["lw_share"]), values)


def test_a_rep_reads_own_opportunities_only(store: Store) -> None:
    assert rows(store, decide(store.app, REP_A, "opportunity", "read")) == [1]
    assert rows(store, decide(store.app, REP_NORTH, "opportunity", "update")) == [3]


def test_a_manager_reads_the_team_and_the_teams_below(store: Store) -> None:
    assert rows(store, decide(store.app, MANAGER, "opportunity", "read")) == [1, 2, 4]


def test_the_director_and_admin_read_everything(store: Store) -> None:
    director = who("sales_director", user_id=1, teams=frozenset())
    assert decide(store.app, director, "opportunity", "read").row_filter(store.tables["opportunity"]) is None
    assert rows(store, decide(store.app, director, "opportunity", "read")) == [1, 2, 3, 4, 5]
    assert rows(store, decide(store.app, who("admin", user_id=1), "ticket", "delete")) == [1, 2, 3, 4, 5]


def test_a_denied_decision_selects_nothing(store: Store) -> None:
    assert rows(store, decide(store.app, who("finance", user_id=1), "opportunity", "read")) == []


def test_shares_add_records_and_edit_shares_allow_updates(store: Store) -> None:
    share(store, "opportunity", 3, user=3)
    share(store, "opportunity", 2, team=2, edit=True)
    share(store, "lead", 3, user=3)  # another object's share does not leak into opportunities
    assert rows(store, decide(store.app, REP_A, "opportunity", "read")) == [1, 2, 3]
    assert rows(store, decide(store.app, REP_A, "opportunity", "update")) == [1, 2]
    assert rows(store, decide(store.app, REP_A, "opportunity", "delete")) == []  # reps may not delete
    assert rows(store, decide(store.app, REP_NORTH, "opportunity", "read")) == [3]


def test_child_rows_follow_the_parent_rows(store: Store) -> None:
    assert rows(store, decide(store.app, REP_A, "quote_line", "read")) == [1, 2]
    assert rows(store, decide(store.app, MANAGER, "quote_line", "update")) == [1, 2, 3]
    assert rows(store, decide(store.app, who("finance"), "quote_line", "read")) == [1, 2, 3]
    assert rows(store, decide(store.app, who("marketing"), "quote_line", "read")) == []


def test_an_expression_scope_selects_by_the_users_attributes(store: Store) -> None:
    agent = who("service_agent", user_id=6, teams=frozenset())
    assert rows(store, decide(store.app, agent, "ticket", "read")) == [1, 2, 5]


def test_user_values_are_bound_parameters_never_inlined(store: Store) -> None:
    agent = who("service_agent", user_id=987654, teams=frozenset())
    table = store.tables["ticket"]
    where = decide(store.app, agent, "ticket", "read").row_filter(table, lambda obj, t: TableScope(store, obj, t))
    assert where is not None
    compiled = sa.select(table.c.id).where(where).compile(store.db.engine)
    assert "987654" not in str(compiled)
    assert 987654 in compiled.params.values()


def test_a_region_scope_binds_the_region(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "bp.yaml"
    path.write_text(
        """
app: {name: t}
objects:
  lead:
    fields: {name: {type: text}, region: {type: select, options: [east, north]}}
roles:
  regional: {objects: {lead: {read: true, scope: "region == user.region or owner_id == user.id"}}}
""",
        encoding="utf-8",
    )
    store = make_store(sqlite_url, path)
    share_table(store.metadata).create(store.db.engine, checkfirst=True)
    table = store.tables["lead"]
    with store.db.engine.begin() as conn:
        conn.execute(
            sa.insert(store.metadata.tables["lw_user"]),
            [{"id": 7, "email": "a@x.cn", "name": "a", "locale": "en", "active": True, "created_at": NOW}],
        )
        stamps = {"created_at": NOW, "updated_at": NOW, "version": 1}
        data = [(1, "east", None), (2, "north", None), (3, "north", 7), (4, None, None)]
        conn.execute(sa.insert(table), [{"id": i, "region": r, "owner_id": o} | stamps for i, r, o in data])
    user = Subject(id=7, roles=frozenset({"regional"}), attributes={"region": "east"})
    decision = decide(store.app, user, "lead", "read", types=store.types)
    assert rows(store, decision) == [1, 3]
    where = decision.row_filter(table, lambda obj, t: TableScope(store, obj, t))
    assert where is not None
    compiled = sa.select(table.c.id).where(where).compile(store.db.engine)
    assert "east" not in str(compiled) and "east" in compiled.params.values()
    no_region = Subject(id=8, roles=frozenset({"regional"}))
    assert rows(store, decide(store.app, no_region, "lead", "read")) == []  # null region matches nothing
    with pytest.raises(ValueError, match="expression"):
        decision.row_filter(table)
    store.db.engine.dispose()
