"""Plan and apply for a lookup's `on_delete`, an object's `owned` flag and unique indexes over duplicates."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from engine.blueprint.diff import AddIndex, AddOwner, ChangeOnDelete, DropIndex, DropOwner
from engine.blueprint.model import App
from engine.cli import main
from engine.errors import MigrationRefused
from engine.store.database import Database
from engine.store.migrate import MigrationPlan, apply_plan, current_app, plan_migration
from engine.store.tables import build_metadata
from tests.store.migrate_support import TYPES, V1, Edit, app_of, fields


def contact_account(on_delete: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        fields(doc, "contact")["account"]["on_delete"] = on_delete

    return edit


def unique(field: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        fields(doc)[field]["unique"] = True

    return edit


def not_owned(doc: dict[str, Any]) -> None:
    doc["objects"]["account"]["owned"] = False


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def seed(db: Database, app: App) -> Database:
    """`app` migrated, with a user, three accounts (two owned by the user when owned) and three contacts."""
    apply_plan(db, plan_migration(db, app, TYPES))
    now = datetime.now(UTC)
    with db.write() as conn:
        conn.execute(
            sa.text("INSERT INTO lw_user (email, name, locale, active, created_at) VALUES (:e, :n, 'en', :a, :t)"),
            {"e": "owner@acme.test", "n": "Owner", "a": True, "t": now},
        )
    owner = {"owner_id": 1} if app.object("account").owned else {}
    insert(db, app, "account", name="Acme", rating="hot", seats=5, **owner)
    insert(db, app, "account", name="Globex", rating="cold", seats=7, **owner)
    insert(db, app, "account", name="Initech", rating="warm")
    insert(db, app, "contact", name="Ann", email="ann@acme.test", account_id=1)
    insert(db, app, "contact", name="Bob", email="bob@acme.test", account_id=1)
    insert(db, app, "contact", name="Cy", email="cy@globex.test", account_id=2)
    return db


def insert(db: Database, app: App, table: str, **values: Any) -> None:
    t = build_metadata(app, TYPES).tables[table]
    now = datetime.now(UTC)
    with db.write() as conn:
        conn.execute(sa.insert(t).values(created_at=now, updated_at=now, version=1, **values))


def rows(db: Database, table: str, *columns: str) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"))]


def columns(db: Database, table: str) -> list[str]:
    with db.read() as conn:
        return [c["name"] for c in sa.inspect(conn).get_columns(table)]


def indexes(db: Database, table: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    with db.read() as conn:
        return {
            str(ix["name"]): (tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
            for ix in sa.inspect(conn).get_indexes(table)
        }


def on_delete_of(db: Database, table: str, column: str) -> str | None:
    with db.read() as conn:
        for fk in sa.inspect(conn).get_foreign_keys(table):
            if fk["constrained_columns"] == [column]:
                return str(fk.get("options", {}).get("ondelete") or "").upper() or None
    raise AssertionError(f"no foreign key on {table}.{column}")


def delete_account(db: Database, account_id: int) -> None:
    with db.write() as conn:
        conn.execute(sa.text("DELETE FROM account WHERE id = :id"), {"id": account_id})


def migrate(db: Database, app: App, *, allow_destructive: bool = False) -> MigrationPlan:
    plan = plan_migration(db, app, TYPES)
    apply_plan(db, plan, allow_destructive=allow_destructive)
    return plan


# -- on_delete -------------------------------------------------------------------------------
def test_restrict_to_cascade_changes_the_foreign_key_and_keeps_the_data(db: Database) -> None:
    seed(db, app_of(contact_account("restrict")))
    with pytest.raises(sa.exc.IntegrityError):
        delete_account(db, 1)
    contacts_before = rows(db, "contact", "id", "name", "email", "account_id")
    indexes_before = indexes(db, "contact")

    plan = plan_migration(db, app_of(contact_account("cascade")), TYPES)
    assert plan.ops == (
        ChangeOnDelete(
            "contact", *(app_of(contact_account(x)).object("contact").field("account") for x in ("restrict", "cascade"))
        ),
    )
    assert not plan.destructive
    text = plan.render()
    assert "  ~ change on_delete of contact.account: restrict -> cascade" in text
    if db.dialect == "sqlite":
        assert "FOREIGN KEY(account_id) REFERENCES account (id) ON DELETE CASCADE" in "\n".join(plan.sql)
    else:
        assert "ALTER TABLE contact DROP CONSTRAINT contact_account_id_fkey" in plan.sql
        assert (
            "ALTER TABLE contact ADD CONSTRAINT contact_account_id_fkey FOREIGN KEY(account_id) "
            "REFERENCES account (id) ON DELETE CASCADE" in plan.sql
        )
    apply_plan(db, plan)

    assert rows(db, "contact", "id", "name", "email", "account_id") == contacts_before
    assert indexes(db, "contact") == indexes_before
    assert on_delete_of(db, "contact", "account_id") == "CASCADE"
    assert plan_migration(db, app_of(contact_account("cascade")), TYPES).empty
    delete_account(db, 1)
    assert rows(db, "contact", "name") == [("Cy",)]


def test_restrict_to_set_null_nulls_the_references(db: Database) -> None:
    seed(db, app_of(contact_account("restrict")))
    migrate(db, app_of(contact_account("set_null")))
    assert on_delete_of(db, "contact", "account_id") == "SET NULL"
    delete_account(db, 1)
    assert rows(db, "contact", "name", "account_id") == [("Ann", None), ("Bob", None), ("Cy", 2)]


def test_cascade_back_to_restrict_blocks_the_delete_again(db: Database) -> None:
    seed(db, app_of())  # contact.account cascades in v1
    migrate(db, app_of(contact_account("restrict")))
    with pytest.raises(sa.exc.IntegrityError):
        delete_account(db, 1)
    assert len(rows(db, "contact", "id")) == 3


def test_sqlite_rebuild_keeps_references_into_the_rebuilt_table(db: Database) -> None:
    """account is rebuilt for its own lookup; contacts keep pointing at it and still cascade."""
    seed(db, app_of())

    def primary_contact_cascades(doc: dict[str, Any]) -> None:
        fields(doc)["primary_contact"]["on_delete"] = "cascade"

    with db.write() as conn:
        conn.execute(sa.text("UPDATE account SET primary_contact_id = 3 WHERE id = 2"))
    accounts = rows(db, "account", "id", "name", "rating", "seats", "owner_id", "primary_contact_id")
    account_indexes = indexes(db, "account")
    migrate(db, app_of(primary_contact_cascades))
    assert rows(db, "account", "id", "name", "rating", "seats", "owner_id", "primary_contact_id") == accounts
    assert indexes(db, "account") == account_indexes
    assert on_delete_of(db, "contact", "account_id") == "CASCADE"
    delete_account(db, 1)  # cascades to Ann and Bob
    assert rows(db, "contact", "name") == [("Cy",)]
    with db.write() as conn:  # deleting Cy now cascades to the account that names it primary contact
        conn.execute(sa.text("DELETE FROM contact WHERE id = 3"))
    assert rows(db, "account", "name") == [("Initech",)]


# -- owned -----------------------------------------------------------------------------------
def test_dropping_the_owner_is_destructive_and_counts_owned_records(db: Database) -> None:
    seed(db, app_of())
    plan = plan_migration(db, app_of(not_owned), TYPES)
    assert plan.ops == (DropIndex("account", "ix_account_owner_id", ("owner_id",)), DropOwner("account"))
    assert plan.destructive
    assert plan.steps[1].losses == ("the owner of 2 records (of 3 account records)",)
    assert "  ! drop owner of account (owner_id) and who owns each record" in plan.render()
    with pytest.raises(MigrationRefused) as refused:
        apply_plan(db, plan)
    assert "  would lose the owner of 2 records (of 3 account records)" in refused.value.details
    assert "owner_id" in columns(db, "account")
    assert "ix_account_owner_id" in indexes(db, "account")

    apply_plan(db, plan, allow_destructive=True)
    assert "owner_id" not in columns(db, "account")
    assert "ix_account_owner_id" not in indexes(db, "account")
    assert rows(db, "account", "name", "rating", "seats") == [
        ("Acme", "hot", 5),
        ("Globex", "cold", 7),
        ("Initech", "warm", None),
    ]
    assert plan_migration(db, app_of(not_owned), TYPES).empty


def test_adding_the_owner_is_additive(db: Database) -> None:
    seed(db, app_of(not_owned))
    plan = plan_migration(db, app_of(), TYPES)
    assert plan.ops == (AddOwner("account"), AddIndex("account", "ix_account_owner_id", ("owner_id",)))
    assert not plan.destructive
    assert "  + add owner to account (owner_id; existing records get no owner)" in plan.render()
    apply_plan(db, plan)
    assert rows(db, "account", "name", "owner_id") == [("Acme", None), ("Globex", None), ("Initech", None)]
    assert indexes(db, "account")["ix_account_owner_id"] == (("owner_id",), False)
    with db.write() as conn:
        conn.execute(sa.text("UPDATE account SET owner_id = 1 WHERE id = 1"))
        conn.execute(sa.text("DELETE FROM lw_user WHERE id = 1"))  # the owner's foreign key sets NULL
    assert rows(db, "account", "owner_id") == [(None,), (None,), (None,)]
    assert plan_migration(db, app_of(), TYPES).empty


# -- unique indexes over duplicates ----------------------------------------------------------
def test_unique_field_over_duplicates_is_counted_and_refused(db: Database) -> None:
    seed(db, app_of())
    app = app_of()
    insert(db, app, "account", name="Hooli", rating="hot")
    insert(db, app, "account", name="Umbrella", rating="hot")
    insert(db, app, "account", name="Stark", rating="cold")

    def with_industry(doc: dict[str, Any]) -> None:
        fields(doc)["industry"] = {"type": "text"}

    target = app_of(unique("rating"), with_industry)
    plan = plan_migration(db, target, TYPES)
    step = next(s for s in plan.steps if isinstance(s.op, AddIndex))
    assert step.duplicates is not None
    assert (step.duplicates.values, step.duplicates.rows) == (2, 5)
    assert step.duplicates.examples == ((("hot",), 3), (("cold",), 2))
    text = plan.render()
    assert "  x add unique index ux_account_rating on account(rating)" in text
    assert "      2 duplicated values in 5 records block it:" in text
    assert "        'hot' in 3 records (ids 1, 4, 5)" in text
    assert "1 unique indexes blocked by duplicated values: fix them first." in text

    before = indexes(db, "account")
    for allow in (False, True):
        with pytest.raises(MigrationRefused) as refused:
            apply_plan(db, plan, allow_destructive=allow)
        assert str(refused.value) == (
            "cannot add unique index ux_account_rating on account(rating): "
            "2 duplicated values in 5 records; fix them first"
        )
        assert refused.value.details == ("  'hot' in 3 records (ids 1, 4, 5)", "  'cold' in 2 records (ids 2, 6)")
    assert indexes(db, "account") == before
    assert "industry" not in columns(db, "account")
    assert current_app(db, TYPES) == app_of()

    with db.write() as conn:  # fixed: the plan now applies
        conn.execute(sa.text("UPDATE account SET rating = NULL WHERE name IN ('Hooli', 'Umbrella', 'Stark')"))
    migrate(db, target)
    assert indexes(db, "account")["ux_account_rating"] == (("rating",), True)


def test_declared_unique_index_counts_only_complete_duplicates(db: Database) -> None:
    seed(db, app_of())
    app = app_of()
    insert(db, app, "account", name="Acme", rating="hot")  # (Acme, hot) twice
    insert(db, app, "account", name="Acme", rating="cold")
    insert(db, app, "account", name="Initech")  # NULL rating: never a conflict
    insert(db, app, "account", name="Initech")

    def by_name_and_rating(doc: dict[str, Any]) -> None:
        doc["objects"]["account"]["indexes"] = [{"fields": ["name", "rating"], "unique": True}]

    plan = plan_migration(db, app_of(by_name_and_rating), TYPES)
    (dup,) = plan.duplicates
    assert (dup.index, dup.columns, dup.values, dup.rows) == ("ux_account_name_rating", ("name", "rating"), 1, 2)
    assert dup.example_lines() == ["('Acme', 'hot') in 2 records (ids 1, 4)"]
    with pytest.raises(MigrationRefused, match="ux_account_name_rating on account\\(name, rating\\)"):
        apply_plan(db, plan)
    assert "ux_account_name_rating" not in indexes(db, "account")


def test_unique_index_over_clean_data_applies(db: Database) -> None:
    seed(db, app_of())
    insert(db, app_of(), "account", name="Hooli")  # a second NULL seats value does not conflict
    plan = plan_migration(db, app_of(unique("name"), unique("seats")), TYPES)
    assert plan.duplicates == ()
    assert "  x " not in plan.render()
    apply_plan(db, plan)
    found = indexes(db, "account")
    assert found["ux_account_name"] == (("name",), True)
    assert found["ux_account_seats"] == (("seats",), True)
    with pytest.raises(sa.exc.IntegrityError):
        insert(db, app_of(), "account", name="Acme")


def test_new_unique_field_with_a_default_repeats_it_in_every_record(db: Database) -> None:
    seed(db, app_of())

    def code(doc: dict[str, Any]) -> None:
        fields(doc)["code"] = {"type": "text", "unique": True, "default": "X"}

    plan = plan_migration(db, app_of(code), TYPES)
    (dup,) = plan.duplicates
    assert (dup.values, dup.rows, dup.examples) == (1, 3, ((("X",), 3),))
    assert dup.example_lines() == ["'X' in 3 records (ids 1, 2, 3)"]
    with pytest.raises(MigrationRefused):
        apply_plan(db, plan)
    assert "code" not in columns(db, "account")


def test_migrate_command_refuses_duplicates(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = Database(db_url)
    try:
        seed(database, app_of())
        insert(database, app_of(), "account", name="Acme")
    finally:
        database.dispose()
    doc = copy.deepcopy(V1)
    unique("name")(doc)
    path = tmp_path / "crm_unique.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["plan", str(path), "--db", db_url]) == 0
    assert "x add unique index ux_account_name on account(name)" in capsys.readouterr().out
    assert main(["migrate", str(path), "--db", db_url, "--allow-destructive"]) == 1
    err = capsys.readouterr().err
    assert "cannot add unique index ux_account_name on account(name): 1 duplicated values in 2 records" in err
    assert "'Acme' in 2 records" in err


def test_duplicated_value_held_by_many_records_shows_the_first_ids(db: Database) -> None:
    seed(db, app_of())
    app = app_of()
    for n in range(7):
        insert(db, app, "account", name=f"a{n}", rating="warm")
    (dup,) = plan_migration(db, app_of(unique("rating")), TYPES).duplicates
    assert dup.example_lines() == ["'warm' in 8 records (ids 3, 4, 5, 6, 7, ...)"]  # one seeded, seven added
