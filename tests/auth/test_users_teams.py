"""Users and teams on SQLite and PostgreSQL: validation, audit rows, the hierarchy and its scopes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.auth.errors import AuthInvalid
from engine.auth.teams import Teams, teams_below
from engine.auth.users import Users
from engine.errors import Conflict, NotFound


def test_create_user_stores_role_team_and_an_argon2id_hash(auth: AuthDb) -> None:
    Teams(auth).create_team("East")
    user = Users(auth).create_user(" Li.Na@Demo.Example ", "李娜", "sales_rep", team="East", password="0123456789")
    assert (user.email, user.role, user.active) == ("li.na@demo.example", "sales_rep", True)
    assert user.team_id == Teams(auth).list_teams()[0].id
    with auth.db.read() as conn:
        stored = conn.execute(sa.select(auth.tables.user.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    entry = audit_entries(auth, kind="user_created")[0]
    assert (entry.subject, entry.detail) == ("li.na@demo.example", {"role": "sales_rep", "team": "East"})


@pytest.mark.parametrize(
    ("email", "role", "password", "code"),
    [
        ("not-an-email", "sales_rep", "0123456789", "auth.bad_email"),
        ("a@b", "sales_rep", "0123456789", "auth.bad_email"),
        ("a@b.io", "", "0123456789", "auth.bad_role"),
        ("a@b.io", "Sales Rep", "0123456789", "auth.bad_role"),
        ("a@b.io", "sales_rep", "short", "auth.weak_password"),
    ],
)
def test_invalid_users_are_refused_and_nothing_is_written(
    auth: AuthDb, email: str, role: str, password: str, code: str
) -> None:
    with pytest.raises(AuthInvalid) as caught:
        Users(auth).create_user(email, "A", role, password=password)
    assert caught.value.code == code
    assert Users(auth).list_users() == []
    assert audit_entries(auth) == []


def test_duplicate_emails_and_unknown_teams_are_refused(auth: AuthDb) -> None:
    users = Users(auth)
    users.create_user("a@b.io", "A", "admin")
    with pytest.raises(Conflict, match=r"a user with e-mail a@b\.io already exists"):
        users.create_user("A@B.io", "A again", "admin")
    with pytest.raises(NotFound, match="no team named 'Nowhere'"):
        users.create_user("c@b.io", "C", "admin", team="Nowhere")
    assert [u.email for u in users.list_users()] == ["a@b.io"]


def test_password_reset_role_change_and_deactivation_are_audited(auth: AuthDb) -> None:
    users = Users(auth)
    admin = users.create_user("admin@b.io", "Admin", "admin")
    users.create_user("a@b.io", "A", "sales_rep", password="0123456789")
    users.set_password("a@b.io", "9876543210", actor_id=admin.id)
    users.set_role("a@b.io", "sales_manager", actor_id=admin.id)
    users.deactivate("a@b.io", actor_id=admin.id)
    user = users.get("a@b.io")
    assert (user.role, user.active) == ("sales_manager", False)
    kinds = [(e.kind, e.actor_id, e.subject) for e in audit_entries(auth)][:3]
    assert kinds == [
        ("user_deactivated", admin.id, "a@b.io"),
        ("role_changed", admin.id, "a@b.io"),
        ("password_reset", admin.id, "a@b.io"),
    ]
    assert audit_entries(auth, kind="role_changed")[0].detail == {"from": "sales_rep", "to": "sales_manager"}
    with pytest.raises(NotFound):
        users.deactivate("nobody@b.io")


def org(auth: AuthDb) -> dict[str, int]:
    """A director over two managers' teams, one of which has a sub-team."""
    users, teams = Users(auth), Teams(auth)
    ids = {}
    for email, role in [
        ("dir@b.io", "sales_director"),
        ("east@b.io", "sales_manager"),
        ("north@b.io", "sales_manager"),
        ("rep1@b.io", "sales_rep"),
        ("rep2@b.io", "sales_rep"),
        ("rep3@b.io", "sales_rep"),
    ]:
        ids[email] = users.create_user(email, email, role).id
    for name, parent, manager in [
        ("Sales", None, "dir@b.io"),
        ("East", "Sales", "east@b.io"),
        ("North", "Sales", "north@b.io"),
        ("North key accounts", "North", None),
    ]:
        ids[name] = teams.create_team(name, parent=parent, manager=manager).id
    for team, email in [("East", "rep1@b.io"), ("North", "rep2@b.io"), ("North key accounts", "rep3@b.io")]:
        teams.add_member(team, email)
    return ids


def test_team_scope_includes_every_team_below(auth: AuthDb) -> None:
    ids = org(auth)
    teams = Teams(auth)
    assert teams.team_scope(ids["Sales"]) == {ids["Sales"], ids["East"], ids["North"], ids["North key accounts"]}
    assert teams.team_scope(ids["North"]) == {ids["North"], ids["North key accounts"]}
    assert teams.team_scope(ids["East"]) == {ids["East"]}


def test_a_manager_sees_their_teams_members_and_sub_teams(auth: AuthDb) -> None:
    ids = org(auth)
    teams, users = Teams(auth), Users(auth)
    north = teams.visible_user_ids(users.get("north@b.io"))
    assert north == {ids["north@b.io"], ids["rep2@b.io"], ids["rep3@b.io"]}
    director = teams.visible_user_ids(users.get("dir@b.io"))
    assert director == {ids[e] for e in ("dir@b.io", "rep1@b.io", "rep2@b.io", "rep3@b.io")}
    assert teams.visible_user_ids(users.get("rep1@b.io")) == {ids["rep1@b.io"]}


def test_cycles_in_the_hierarchy_are_refused(auth: AuthDb) -> None:
    ids = org(auth)
    teams = Teams(auth)
    with pytest.raises(AuthInvalid, match="would be a cycle") as caught:
        teams.set_parent("Sales", "North key accounts")
    assert caught.value.code == "team.cycle"
    with pytest.raises(AuthInvalid, match="would be a cycle"):
        teams.set_parent("North", "North")
    teams.set_parent("North key accounts", "East")  # a legal move
    assert teams.team_scope(ids["East"]) == {ids["East"], ids["North key accounts"]}
    assert teams.team_scope(ids["North"]) == {ids["North"]}


def test_duplicate_team_names_are_refused(auth: AuthDb) -> None:
    Teams(auth).create_team("East")
    with pytest.raises(Conflict, match="a team named 'East' already exists"):
        Teams(auth).create_team("East")


def test_scope_walk_terminates_on_a_cycle_in_stored_data() -> None:
    assert teams_below({1: 2, 2: 3, 3: 1, 4: None}, 1) == {1, 2, 3}
    assert teams_below({1: None, 2: 1, 3: 2}, 2) == {2, 3}


def test_a_role_the_applied_blueprint_lacks_is_refused_with_its_role_ids(auth: AuthDb) -> None:
    users = Users(auth)
    with pytest.raises(AuthInvalid) as caught:
        users.create_user("a@b.io", "A", "sales_rpe", password="0123456789")
    assert (caught.value.code, caught.value.message) == (
        "auth.unknown_role",
        "'sales_rpe' is not a role of the blueprint (did you mean 'sales_rep'?); its roles are admin, finance, "
        "sales_director, sales_manager, sales_rep",
    )
    assert users.list_users() == []
    assert audit_entries(auth) == []
    users.create_user("a@b.io", "A", "sales_rep")
    with pytest.raises(AuthInvalid, match="'nosuchrole' is not a role of the blueprint; its roles are admin, "):
        users.set_role("a@b.io", "nosuchrole")
    assert users.get("a@b.io").role == "sales_rep"
    assert audit_entries(auth, kind="role_changed") == []
