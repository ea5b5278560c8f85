"""Loading fixtures (demo data as YAML) through the record store; users and teams through the auth services."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.auth.people import DirectoryPeople
from engine.auth.users import Users
from engine.blueprint.load import load_blueprint
from engine.errors import LoomworkError
from engine.store.database import Database
from engine.store.fixtures import FixtureInvalid, FixtureLogin, fixture_logins, load_fixtures
from engine.store.migrate import apply_plan, plan_migration
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from tests.auth.conftest import FAST_HASHING

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"
STAGES = ["initial_contact", "needs_confirmed", "proposal", "negotiation", "won", "lost"]

BLUEPRINT = """
app: {name: shop, label: Shop, version: "1"}
objects:
  company:
    fields:
      name: {type: text, required: true}
      parent: {type: lookup, object: company, on_delete: set_null}
      founded: {type: date}
  item:
    owned: false
    fields:
      name: {type: text, required: true}
      price: {type: currency, currency: CNY}
  deal:
    fields:
      name: {type: text, required: true}
      company: {type: lookup, object: company, required: true}
      reviewer: {type: user}
      stage: {type: select, options: [open, won]}
      signed_at: {type: datetime}
      lines: {type: child_table, object: deal_line}
  deal_line:
    fields:
      name: {type: text}
      item: {type: lookup, object: item, required: true}
      quantity: {type: integer, min: 1}
roles:
  sales_director: {objects: {deal: {read: true, scope: all}}}
  sales_manager: {objects: {deal: {read: true, scope: team}}}
  sales_rep: {objects: {deal: {read: true, scope: own}}}
"""
USERS = """
users:
  - {email: li.na@demo.example, name: 李娜, locale: zh}
  - {email: Bob@Demo.example, name: Bob}
"""
# Deals come first and refer forward to companies; a subsidiary refers to its parent further down.
DEALS = """
deal:
  - key: big
    name: 大单
    company: {ref: acme_sh}
    owner: li.na@demo.example
    reviewer: bob@demo.example
    stage: won
    signed_at: 2026-03-02T09:30:00+08:00
    lines:
      - {item: {ref: pc}, name: 台式机, quantity: 3}
      - {item: {ref: mouse}, quantity: 10}
company:
  - key: acme_sh
    name: 上海艾克米
    parent: {ref: acme}
    founded: 2001-05-04
  - key: acme
    name: 艾克米集团
    owner: bob@demo.example
"""
ITEMS = """
item:
  - {key: pc, name: PC, price: 4999.5}
  - {key: mouse, name: Mouse, price: "59.00"}
"""


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    yield from _store(sqlite_url, _write({"app.yaml": BLUEPRINT}, Path(sqlite_url[len("sqlite:///") :]).parent / "bp"))


def _store(url: str, blueprint: Path) -> Iterator[Store]:
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    db = Database(url)
    apply_plan(db, plan_migration(db, app, types))
    yield Store(app, types, db)
    db.dispose()


def _auth(store: Store) -> AuthDb:
    return AuthDb(store.db, hashing=FAST_HASHING)


def load(store: Store, folder: Path) -> dict[str, int]:
    """`load_fixtures` with users and teams made by the auth services (as `loomwork demo` does)."""
    return load_fixtures(store, folder, DirectoryPeople(_auth(store)))


def _user_id(store: Store, email: str) -> int:
    return Users(_auth(store)).get(email).id


def _write(files: dict[str, str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def _count(store: Store, table: str) -> int:
    with store.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(store.metadata.tables[table])).scalar_one())


def test_refs_owners_users_and_lines_resolve(store: Store, tmp_path: Path) -> None:
    folder = _write({"users.yaml": USERS, "deals.yaml": DEALS, "items.yml": ITEMS}, tmp_path / "fx")
    counts = load(store, folder)
    assert counts == {"users": 2, "company": 2, "item": 2, "deal": 1, "deal_line": 2}
    li, bob = _user_id(store, "li.na@demo.example"), _user_id(store, "bob@demo.example")
    assert li
    assert bob
    with store.db.read() as conn:
        companies = {r.name: r for r in conn.execute(select(store.tables["company"]))}
        items = {r.name: r.id for r in conn.execute(select(store.tables["item"]))}
        deal = conn.execute(select(store.tables["deal"])).one()
    assert companies["上海艾克米"].parent_id == companies["艾克米集团"].id
    assert companies["上海艾克米"].founded == date(2001, 5, 4)
    assert companies["艾克米集团"].owner_id == bob
    assert companies["上海艾克米"].owner_id is None
    got = store.get("deal", deal.id)
    assert got["company_id"] == companies["上海艾克米"].id
    assert (got["owner_id"], got["created_by"], got["reviewer_id"]) == (li, li, bob)
    assert got["signed_at"] == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    assert [(line["item_id"], line["quantity"], line["name"]) for line in got["lines"]] == [
        (items["PC"], 3, "台式机"),
        (items["Mouse"], 10, None),
    ]
    assert store.get("item", items["PC"])["price"] == Decimal("4999.50")


def test_unknown_ref_names_file_line_and_key_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    folder = _write(
        {"users.yaml": USERS, "deals.yaml": DEALS.replace("{ref: acme_sh}", "{ref: acme_sj}")}, tmp_path / "fx"
    )
    with pytest.raises(FixtureInvalid) as caught:
        load(store, folder)
    message = str(caught.value)
    assert "deals.yaml:5:" in message
    assert "deal 'big': unknown ref 'acme_sj': no company has that key (did you mean 'acme_sh'?)" in message
    assert "fixture.unknown_ref" in message
    # the items file is missing too, so both lines' refs are reported at once
    assert message.count("no item has that key") == 2
    assert isinstance(caught.value, LoomworkError)
    assert _count(store, "lw_user") == 0


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"x.yaml": "dael:\n  - {name: x}\n"},
            "x.yaml:1:1 dael: 'dael' is not an object of app 'shop' (did you mean 'deal'?) [fixture.unknown_object]",
            id="unknown-object",
        ),
        pytest.param(
            {"x.yaml": "deal_line:\n  - {name: x}\n"},
            "'deal_line' is a child table of 'deal'; give its lines inline in the deal records",
            id="child-object-at-top",
        ),
        pytest.param(
            {"x.yaml": "company:\n  - {key: a, name: A, owner: nobody@demo.example}\n"},
            "company 'a': 'nobody@demo.example' is not the e-mail of a fixture user",
            id="unknown-owner",
        ),
        pytest.param(
            {"x.yaml": "item:\n  - {key: a, name: A, owner: x@y.z}\n"},
            "'item' has no owner [fixture.not_owned]",
            id="owner-of-unowned-object",
        ),
        pytest.param(
            {"x.yaml": "company:\n  - {key: a, name: A}\n  - {key: a, name: B}\n"},
            "x.yaml:3:11 company[1].key: company key 'a' is already used at",
            id="duplicate-key",
        ),
        pytest.param(
            {"x.yaml": "company:\n  - {key: a, name: A, parent: 7}\n"},
            "a lookup takes {ref: <key of a company>}, got 7 [fixture.bad_ref]",
            id="lookup-without-ref",
        ),
        pytest.param(
            {"x.yaml": "company:\n  - {key: a, name: A}\n  key: b\n"},
            "x.yaml:",
            id="malformed-yaml",
        ),
        pytest.param(
            {"x.yaml": "company:\n  - {key: a, name: A, name: B}\n"},
            "duplicate key 'name'",
            id="duplicate-yaml-key",
        ),
        pytest.param(
            {"x.yaml": "deal:\n  - {key: a, name: A, company: null, signed_at: 2026-01-01 10:00:00}\n"},
            "a date-time needs a timezone",
            id="naive-datetime",
        ),
    ],
)
def test_fixture_problems_are_located(store: Store, tmp_path: Path, files: dict[str, str], expected: str) -> None:
    with pytest.raises(FixtureInvalid) as caught:
        load(store, _write(files, tmp_path / "fx"))
    assert expected in str(caught.value)


def test_a_value_the_store_refuses_names_the_record(store: Store, tmp_path: Path) -> None:
    bad = ITEMS + "company:\n  - {key: acme, name: A}\ndeal:\n  - key: odd\n    name: D\n    company: {ref: acme}\n"
    bad += "    stage: lost\n    lines: [{item: {ref: pc}, quantity: 0}]\n"
    with pytest.raises(LoomworkError) as caught:
        load(store, _write({"f.yaml": bad}, tmp_path / "fx"))
    message = caught.value.message
    assert message.startswith(f"{tmp_path / 'fx' / 'f.yaml'}:8:5 deal 'odd': ")
    assert "'lost' is not one of [open, won]" in message
    assert "must be at least 1" in message
    assert caught.value.code == "input.invalid"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('price: "1,5"', "expected a number such as -1234.56"),
        ('price: "\uff14\uff19"', "expected a number such as -1234.56"),
        ('price: "1_000"', "expected a number such as -1234.56"),
    ],
)
def test_a_fixture_value_in_another_form_is_refused_naming_the_record(
    store: Store, tmp_path: Path, line: str, message: str
) -> None:
    bad = f"item:\n  - key: pc\n    name: PC\n    {line}\n"
    with pytest.raises(LoomworkError) as caught:
        load(store, _write({"f.yaml": bad}, tmp_path / "fx"))
    assert caught.value.message.startswith(f"{tmp_path / 'fx' / 'f.yaml'}:2:5 item 'pc': ")
    assert message in caught.value.message
    assert _count(store, "item") == 0


def test_records_referring_to_each_other_in_a_cycle(store: Store, tmp_path: Path) -> None:
    cycle = "company:\n  - {key: a, name: A, parent: {ref: b}}\n  - {key: b, name: B, parent: {ref: a}}\n"
    with pytest.raises(LoomworkError, match=r"company records refer to each other in a cycle: a -> b -> a"):
        load(store, _write({"f.yaml": cycle}, tmp_path / "fx"))


def test_missing_folder(store: Store, tmp_path: Path) -> None:
    with pytest.raises(FixtureInvalid, match="no such fixture folder"):
        load(store, tmp_path / "nowhere")


# -- the shipped CRM demo ---------------------------------------------------------------------


def _demo_rows() -> dict[str, int]:
    rows: dict[str, int] = {}
    for path in sorted((CRM / "demo").glob("*.yaml")):
        for section, items in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            rows[section] = rows.get(section, 0) + len(items)
    return rows


@pytest.fixture
def crm_store(db_url: str) -> Iterator[Store]:
    yield from _store(db_url, CRM)


def test_crm_demo_loads(crm_store: Store) -> None:
    store = crm_store
    counts = load(store, CRM / "demo")
    assert {k: counts[k] for k in _demo_rows()} == _demo_rows()
    with store.db.read() as conn:
        opp = store.tables["opportunity"]
        stages: dict[str, int] = dict(conn.execute(select(opp.c.stage, func.count()).group_by(opp.c.stage)).all())
        quote = store.tables["quote"]
        numbers = list(conn.execute(select(quote.c.number).order_by(quote.c.id)).scalars())
        lines = store.tables["quote_line"]
        per_quote = list(conn.execute(select(func.count()).select_from(lines).group_by(lines.c.quote_id)).scalars())
        contract = store.tables["contract"]
        revisions = conn.execute(
            select(contract.c.id, contract.c.revision, contract.c.previous_contract_id).order_by(contract.c.id)
        ).all()
        account = store.tables["account"]
        subsidiaries = conn.execute(select(account.c.name).where(account.c.parent_account_id.is_not(None))).all()
    assert sorted(stages) == sorted(STAGES)
    assert all(n >= 3 for n in stages.values()), stages
    assert len(numbers) >= 8
    assert all(n.startswith("Q-") and len(n) == len("Q-2026-0001") for n in numbers)
    assert all(2 <= n <= 4 for n in per_quote)
    assert counts["users"] >= 10
    assert counts["account"] >= 20
    assert counts["contact"] >= 40
    assert counts["lead"] >= 30
    assert counts["opportunity"] >= 40
    assert counts["product"] >= 8
    by_id = {r.id: r for r in revisions}
    revised = [r for r in revisions if r.previous_contract_id is not None]
    assert revised, "the demo has a contract revised once"
    assert all(by_id[r.previous_contract_id].revision == r.revision - 1 for r in revised)
    assert subsidiaries


def test_crm_demo_quote_totals_add_up(crm_store: Store) -> None:
    """Line totals, subtotal, total and discount are formulas: the demo gives none of them."""
    store = crm_store
    load(store, CRM / "demo")
    data = yaml.safe_load((CRM / "demo" / "quotes.yaml").read_text(encoding="utf-8"))
    assert all("total" not in q and all("line_total" not in line for line in q["lines"]) for q in data["quote"])
    cent = Decimal("0.01")
    with store.db.read() as conn:
        quote_ids = list(conn.execute(select(store.tables["quote"].c.id)).scalars())
    assert len(quote_ids) == len(data["quote"])
    for quote_id in quote_ids:
        q = store.get("quote", quote_id)
        subtotal = total = Decimal(0)
        for line in q["lines"]:
            gross = line["quantity"] * line["unit_price"]
            expected = (gross * (1 - (line["discount"] or 0))).quantize(cent)
            assert line["line_total"] == expected, q["number"]
            subtotal += gross
            total += line["line_total"]
        assert q["total"] == total, q["number"]
        assert q["subtotal"] == subtotal.quantize(cent), q["number"]
        assert q["discount"] == (1 - total / subtotal).quantize(Decimal("0.0001")), q["number"]
    with store.db.read() as conn:
        # contracts and orders carry the totals of the quotes they come from
        for name in ("contract", "order"):
            t = store.tables[name]
            quote = store.tables["quote"]
            rows = conn.execute(select(t.c.amount, quote.c.total).join(quote, quote.c.id == t.c.quote_id)).all()
            assert rows and all(amount == total for amount, total in rows), name


def test_loading_the_same_users_twice_is_refused_by_email(store: Store, tmp_path: Path) -> None:
    folder = _write({"users.yaml": USERS}, tmp_path / "fx")
    load(store, folder)
    with pytest.raises(LoomworkError, match=r"users: li\.na@demo\.example: a user with e-mail") as caught:
        load(store, folder)
    assert caught.value.code == "user.exists"


# -- users with roles, teams and passwords ------------------------------------------------------
ORG = """
users:
  - {email: boss@demo.example, name: Boss, role: sales_director, team: Sales, password: boss-password}
  - {email: east@demo.example, name: East, role: sales_manager, team: East, region: east, password: east-password}
  - {email: rep@demo.example, name: Rep, role: sales_rep, team: East}
  - {email: plain@demo.example, name: Plain}
teams:
  - {name: East, parent: Sales, manager: East@Demo.example}
  - {name: Sales, manager: boss@demo.example}
"""


def _users_and_teams(store: Store) -> tuple[dict[str, tuple[object, ...]], dict[str, tuple[object, ...]]]:
    users, teams = store.users, store.metadata.tables["lw_team"]
    with store.db.read() as conn:
        team_rows = conn.execute(select(teams.c.id, teams.c.name, teams.c.parent_id, teams.c.manager_id)).all()
        user_rows = conn.execute(
            select(users.c.id, users.c.email, users.c.role, users.c.team_id, users.c.region, users.c.password_hash)
        ).all()
    team_names = {r.id: r.name for r in team_rows}
    emails = {r.id: r.email for r in user_rows}
    return (
        {r.email: (r.role, team_names.get(r.team_id), r.region, r.password_hash) for r in user_rows},
        {r.name: (team_names.get(r.parent_id), emails.get(r.manager_id)) for r in team_rows},
    )


def test_users_get_roles_teams_regions_and_hashed_passwords(store: Store, tmp_path: Path) -> None:
    folder = _write({"users.yaml": ORG}, tmp_path / "fx")
    counts = load(store, folder)
    assert counts == {"users": 4, "teams": 2}
    users, teams = _users_and_teams(store)
    assert teams == {"Sales": (None, "boss@demo.example"), "East": ("Sales", "east@demo.example")}
    assert {email: row[:3] for email, row in users.items()} == {
        "boss@demo.example": ("sales_director", "Sales", None),
        "east@demo.example": ("sales_manager", "East", "east"),
        "rep@demo.example": ("sales_rep", "East", None),
        "plain@demo.example": (None, None, None),
    }
    hashes = {email: row[3] for email, row in users.items()}
    assert FAST_HASHING.verify(str(hashes["boss@demo.example"]), "boss-password")
    assert hashes["rep@demo.example"] is None and hashes["plain@demo.example"] is None


def test_fixture_users_and_teams_are_audited_like_any_other(store: Store, tmp_path: Path) -> None:
    load(store, _write({"users.yaml": ORG}, tmp_path / "fx"))
    entries = audit_entries(_auth(store))
    created = sorted(e.subject or "" for e in entries if e.kind == "user_created")
    assert created == ["boss@demo.example", "east@demo.example", "plain@demo.example", "rep@demo.example"]
    assert sorted(e.subject or "" for e in entries if e.kind == "team_created") == ["East", "Sales"]


def test_a_fixture_password_below_the_policy_is_refused_naming_the_user(store: Store, tmp_path: Path) -> None:
    weak = "users:\n  - {email: a@demo.example, name: A, role: sales_rep, password: short}\n"
    with pytest.raises(LoomworkError) as caught:
        load(store, _write({"users.yaml": weak}, tmp_path / "fx"))
    assert caught.value.message.endswith("users: a@demo.example: the password has 5 characters; at least 10 are needed")
    assert caught.value.code == "auth.weak_password"
    assert _count(store, "lw_user") == 0


def test_a_fixture_role_the_blueprint_lacks_is_located_before_writing(store: Store, tmp_path: Path) -> None:
    bad = "users:\n  - {email: a@demo.example, name: A, role: sales_rpe}\n  - {email: b@demo.example, name: B}\n"
    with pytest.raises(FixtureInvalid) as caught:
        load(store, _write({"users.yaml": bad}, tmp_path / "fx"))
    assert [str(p).split(" ", 1)[1] for p in caught.value.problems] == [
        "users[0].role: user a@demo.example: 'sales_rpe' is not a role of app 'shop' (did you mean 'sales_rep'?)"
        " [fixture.unknown_role]"
    ]
    assert _count(store, "lw_user") == 0


def test_fixture_logins_list_users_with_passwords(store: Store, tmp_path: Path) -> None:
    folder = _write({"users.yaml": ORG}, tmp_path / "fx")
    assert fixture_logins(store.app, folder) == [
        FixtureLogin("boss@demo.example", "Boss", "sales_director", "Sales", "boss-password"),
        FixtureLogin("east@demo.example", "East", "sales_manager", "East", "east-password"),
    ]


def test_team_problems_are_reported_together(store: Store, tmp_path: Path) -> None:
    bad = """
    users:
      - {email: a@demo.example, name: A, team: Eats}
      - {email: b@demo.example, name: B, role: 7}
    teams:
      - {name: East, parent: Saless, manager: ghost@else.where}
      - {name: Loop1, parent: Loop2}
      - {name: Loop2, parent: Loop1}
      - {name: East}
      - {parent: East}
    """
    folder = _write({"users.yaml": bad}, tmp_path / "fx")
    with pytest.raises(FixtureInvalid) as caught:
        load(store, folder)
    messages = [f"{p.path}: {p.message} [{p.code}]" for p in caught.value.problems]
    assert sorted(messages) == sorted(
        [
            "users[0].team: user a@demo.example: unknown team 'Eats' (did you mean 'East'?) [fixture.unknown_team]",
            "users[1].role: user b@demo.example: 'role' must be text [fixture.bad_user]",
            "teams[0].parent: team 'East': unknown parent team 'Saless' [fixture.unknown_team]",
            "teams[0].manager: team 'East': 'ghost@else.where' is not the e-mail of a fixture user"
            " [fixture.unknown_user]",
            "teams[1].parent: team 'Loop1' is below itself (the parents form a cycle) [fixture.team_cycle]",
            "teams[2].parent: team 'Loop2' is below itself (the parents form a cycle) [fixture.team_cycle]",
            "teams[3].name: team 'East' is listed twice [fixture.duplicate_team]",
            "teams[4]: a team needs text 'name' (and optional 'parent', 'manager') [fixture.bad_team]",
        ]
    )
    assert _count(store, "lw_user") == 0


def test_crm_demo_has_a_sales_org_with_known_passwords(crm_store: Store) -> None:
    load(crm_store, CRM / "demo")
    users, teams = _users_and_teams(crm_store)
    assert teams == {
        "Sales": (None, "wang.jianguo@demo.loomwork.dev"),
        "East": ("Sales", "li.na@demo.loomwork.dev"),
        "North-South": ("Sales", "zhang.wei@demo.loomwork.dev"),
    }
    roles = sorted({v[0] for v in users.values() if v[0]})
    assert roles == ["admin", "finance", "marketing", "sales_director", "sales_manager", "sales_rep", "service_agent"]
    assert all(v[0] and str(v[3]).startswith("$argon2id$") for v in users.values())
    logins = fixture_logins(crm_store.app, CRM / "demo")
    assert len(logins) == 15
    assert {login.password for login in logins} == {"demo-password"}
