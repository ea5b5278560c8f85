"""`loomwork explain` and the audit rows of `migrate` and role changes, on the CRM (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.auth.explain import explain
from engine.auth.teams import Teams
from engine.auth.users import Users
from engine.blueprint.load import load_blueprint
from engine.cli import main
from engine.store.database import Database
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from tests.auth.conftest import FAST_HASHING

CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"


@dataclass
class Crm:
    url: str
    store: Store
    auth: AuthDb
    ids: dict[str, int]  # users by short name, and opportunities as opp_a / opp_b


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def crm(db_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[Crm]:
    assert main(["migrate", str(CRM), "--db", db_url]) == 0
    capsys.readouterr()
    types = TypeRegistry.with_builtins()
    db = Database(db_url)
    store = Store(load_blueprint(CRM, types), types, db)
    auth = AuthDb(db, hashing=FAST_HASHING)
    users, teams = Users(auth), Teams(auth)
    teams.create_team("West")
    teams.create_team("East")
    ids = {
        "rep_a": users.create_user("rep.a@x.io", "Rep A", "sales_rep", team="West").id,
        "rep_b": users.create_user("rep.b@x.io", "Rep B", "sales_rep", team="East").id,
        "manager": users.create_user("boss@x.io", "Boss", "sales_manager", team="West").id,
        "finance": users.create_user("money@x.io", "Money", "finance").id,
    }
    for rep in ("rep_a", "rep_b"):
        account = store.create("account", {"name": f"Account of {rep}"}, actor=ids[rep])
        opp = store.create("opportunity", {"name": f"Deal of {rep}", "account_id": account["id"]}, actor=ids[rep])
        assert opp["owner_id"] == ids[rep]
        ids[f"opp_{rep[-1]}"] = int(opp["id"])
    yield Crm(db_url, store, auth, ids)
    db.dispose()


def test_a_rep_may_read_their_own_opportunity(crm: Crm) -> None:
    a, opp = crm.ids["rep_a"], crm.ids["opp_a"]
    result = explain(crm.store, crm.auth, "rep.a@x.io", "opportunity", opp)
    assert result.may_read
    text = "\n".join(result.lines)
    assert "Role: sales_rep (Sales rep)" in text
    assert "Team: West" in text
    assert "read opportunity: allowed (records: own, or shared with them)" in text
    assert "delete opportunity: denied" in text
    assert f"Record opportunity {opp}: exists, owner rep.a@x.io (id {a}, team West)" in text
    assert "  read: yes" in result.lines
    assert f"    scope own (role sales_rep): owner_id is {a}, you are {a} - match" in result.lines
    assert "  delete: no - the user may not delete any opportunity" in result.lines
    assert result.lines[-1] == f"Answer: rep.a@x.io may read opportunity {opp}."


def test_a_rep_may_not_read_another_reps_opportunity(
    crm: Crm, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, opp = crm.ids["rep_a"], crm.ids["rep_b"], crm.ids["opp_b"]
    code, out, err = run(
        capsys, monkeypatch, "explain", str(CRM), "--user", "rep.a@x.io", "opportunity", str(opp), "--db", crm.url
    )
    assert (code, err) == (1, "")
    assert "  read: no - the record is outside the user's records for read" in out
    assert f"    scope own (role sales_rep): owner_id is {b}, you are {a} - no match" in out
    assert "    not shared with you nor your teams" in out
    assert f"Answer: rep.a@x.io may NOT read opportunity {opp}." in out


def test_the_issue_order_without_a_blueprint_uses_the_applied_one(
    crm: Crm, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opp = crm.ids["opp_a"]
    code, out, _ = run(capsys, monkeypatch, "explain", "--user", "rep.a@x.io", "opportunity", str(opp), "--db", crm.url)
    assert code == 0
    assert f"Answer: rep.a@x.io may read opportunity {opp}." in out
    code, out, _ = run(capsys, monkeypatch, "explain", "--db", crm.url, "opportunity", "--user", "REP.B@x.io")
    assert code == 0
    assert out.splitlines()[-1] == "Answer: rep.b@x.io may read opportunity records."


def test_a_share_and_a_team_scope_are_reasons(crm: Crm) -> None:
    opp_b, a = crm.ids["opp_b"], crm.ids["rep_a"]
    result = explain(crm.store, crm.auth, "boss@x.io", "opportunity", crm.ids["opp_a"])
    assert result.may_read
    assert "    scope team (role sales_manager): owner rep.a@x.io is in team West, one of your teams - match" in (
        result.lines
    )
    result = explain(crm.store, crm.auth, "boss@x.io", "opportunity", opp_b)
    assert not result.may_read
    assert "owner rep.b@x.io is in team East, not one of your teams (West) - no match" in "\n".join(result.lines)
    with crm.store.db.write() as conn:
        shares = crm.store.metadata.tables["lw_share"]
        conn.execute(sa.insert(shares).values(object="opportunity", record_id=opp_b, user_id=a, can_edit=False))
    result = explain(crm.store, crm.auth, "rep.a@x.io", "opportunity", opp_b)
    assert result.may_read
    assert "    shared with you" in result.lines
    assert "    shared with you (view only: no edit)" in result.lines  # update: outside, and why


def test_finance_may_not_read_opportunities_at_all(
    crm: Crm, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opp = crm.ids["opp_a"]
    code, out, _ = run(
        capsys, monkeypatch, "explain", str(CRM), "--user", "money@x.io", "opportunity", str(opp), "--db", crm.url
    )
    assert code == 1
    assert "read opportunity: denied\n    role 'finance' does not list 'opportunity'" in out
    assert "  read: no - the user may not read any opportunity" in out
    assert "  amount (Amount): hidden (may not read opportunity)" in out


def test_a_rep_does_not_see_the_floor_price(crm: Crm) -> None:
    result = explain(crm.store, crm.auth, "rep.a@x.io", "product")
    assert result.may_read
    assert "  floor_price (Floor price): hidden (role sales_rep)" in result.lines
    assert any(
        line.startswith("  list_price (") and line.endswith(": visible, read-only (may not update product)")
        for line in result.lines
    )
    finance = explain(crm.store, crm.auth, "money@x.io", "product")
    assert "  floor_price (Floor price): visible, editable" in finance.lines


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("--user", "ghost@x.io", "opportunity"), 2, "error: no user with e-mail ghost@x.io [user.not_found]"),
        (("--user", "rep.a@x.io", "nothing"), 2, "error: unknown object 'nothing' [object.unknown]"),
        (("--user", "rep.a@x.io", str(CRM), "opportunity", "x1"), 2, "error: the record id must be a whole number"),
        (("--user", "rep.a@x.io", str(CRM), "opportunity", "\u00b2"), 2, "error: the record id must be a whole number"),
        (("--user", "rep.a@x.io", str(CRM), "opportunity", "9" * 30), 2, "error: the record id must be a whole number"),
        (("--user", "rep.a@x.io"), 2, "error: give [BLUEPRINT] OBJECT [RECORD_ID] [explain.usage]"),
    ],
)
def test_errors_exit_2_with_one_line(
    crm: Crm,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    got, out, err = run(capsys, monkeypatch, "explain", *argv, "--db", crm.url)
    assert (got, out) == (code, "")
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1


def test_a_missing_record_exits_1(
    crm: Crm, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, monkeypatch, "explain", "--user", "rep.a@x.io", "opportunity", "999", "--db", crm.url)
    assert code == 1
    assert "Record opportunity 999: does not exist (or was deleted)" in out


def test_an_unmigrated_database_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty.db").touch()
    url = f"sqlite:///{tmp_path}/empty.db"
    code, _, err = run(capsys, monkeypatch, "explain", "--user", "a@b.io", "opportunity", "--db", url)
    assert code == 2
    assert err.strip().endswith("run `loomwork migrate BLUEPRINT` first [db.not_migrated]")


def test_other_commands_still_refuse_unknown_arguments(
    crm: Crm, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["user", "list", "--db", crm.url, "extra"])
    assert exc.value.code == 2
    assert "unrecognized arguments: extra" in capsys.readouterr().err


def test_migrate_and_role_changes_are_audited(
    crm: Crm, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    applied = audit_entries(crm.auth, kind="blueprint_applied")
    assert len(applied) == 1
    version = crm.store.app.version
    assert applied[0].subject == "crm"
    assert applied[0].actor_id is None
    assert applied[0].detail["version"] == version
    assert applied[0].detail["from_version"] is None
    assert applied[0].detail["operations"] > 10
    # nothing to change: no new row
    assert run(capsys, monkeypatch, "migrate", str(CRM), "--db", crm.url)[0] == 0
    assert len(audit_entries(crm.auth, kind="blueprint_applied")) == 1

    Users(crm.auth).set_role("rep.a@x.io", "sales_manager", actor_id=crm.ids["manager"])
    changed = audit_entries(crm.auth, kind="role_changed")[0]
    assert (changed.subject, changed.actor_id) == ("rep.a@x.io", crm.ids["manager"])
    assert changed.detail == {"from": "sales_rep", "to": "sales_manager"}
    result = explain(crm.store, crm.auth, "rep.a@x.io", "opportunity")
    assert "Role: sales_manager (Sales manager)" in result.lines
