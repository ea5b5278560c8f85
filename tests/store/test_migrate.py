"""Plan, then apply: emitted SQL and the data afterwards, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from engine.blueprint.diff import AddField, ChangeFieldType, CreateObject, DropField, RenameField
from engine.blueprint.model import App
from engine.errors import MigrationRefused
from engine.store.database import Database
from engine.store.migrate import MigrationPlan, apply_plan, current_app, plan_migration
from engine.store.tables import build_metadata
from tests.store.migrate_support import TYPES, app_of, fields


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def crm(db: Database) -> Database:
    """The v1 CRM migrated, with three accounts and two contacts."""
    apply_plan(db, plan_migration(db, app_of(), TYPES))
    insert(
        db, "account", name="Acme", phone="+1 555 0100", employees="12", rating="hot", revenue=Decimal("10.25"), seats=5
    )
    insert(db, "account", name="Globex Corporation", phone="+1 555 0101", employees="many", rating="cold", seats=7)
    insert(db, "account", name="Initech", employees="40", rating="warm")
    insert(db, "contact", name="Ann", email="ann@acme.test", account_id=1)
    insert(db, "contact", name="Bob", email="bob@acme.test", account_id=1)
    with db.write() as conn:
        conn.execute(sa.text("UPDATE account SET primary_contact_id = 1 WHERE id = 1"))
    return db


def insert(db: Database, table: str, **values: Any) -> None:
    t = build_metadata(app_of(), TYPES).tables[table]
    now = datetime.now(UTC)
    with db.write() as conn:
        conn.execute(sa.insert(t).values(created_at=now, updated_at=now, version=1, **values))


def rows(db: Database, app: App, table: str, *columns: str) -> list[tuple[Any, ...]]:
    t = build_metadata(app, TYPES).tables[table]
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*(t.c[c] for c in columns)).order_by(t.c.id))]


def columns(db: Database, table: str) -> list[str]:
    with db.read() as conn:
        return [c["name"] for c in sa.inspect(conn).get_columns(table)]


def indexes(db: Database, table: str) -> set[str]:
    with db.read() as conn:
        return {str(ix["name"]) for ix in sa.inspect(conn).get_indexes(table)}


def tables(db: Database) -> set[str]:
    with db.read() as conn:
        return set(sa.inspect(conn).get_table_names())


def migrate(db: Database, app: App, *, allow_destructive: bool = False) -> MigrationPlan:
    plan = plan_migration(db, app, TYPES)
    apply_plan(db, plan, allow_destructive=allow_destructive)
    return plan


def sql_of(plan: MigrationPlan) -> str:
    return "\n".join(plan.sql)


# -- fresh database ---------------------------------------------------------------------------
def test_fresh_database_gets_system_and_object_tables(db: Database) -> None:
    plan = plan_migration(db, app_of(), TYPES)
    assert plan.system_tables == (
        "lw_user",
        "lw_history",
        "lw_trash",
        "lw_sequence",
        "lw_blueprint",
        "lw_team",
        "lw_token",
        "lw_audit",
        "lw_login_attempt",
        "lw_session",
        "lw_share",
        "lw_comment",
        "lw_notification",
    )
    assert [op.obj.name for op in plan.ops if isinstance(op, CreateObject)] == [
        "account",
        "contact",
        "quote",
        "quote_line",
    ]
    assert not plan.destructive
    if db.dialect == "postgresql":  # account <-> contact is a cycle: one foreign key is added afterwards
        assert (
            "ALTER TABLE account ADD FOREIGN KEY(primary_contact_id) REFERENCES contact (id) ON DELETE SET NULL"
            in plan.sql
        )
    else:
        assert "FOREIGN KEY(primary_contact_id) REFERENCES contact (id) ON DELETE SET NULL" in sql_of(plan)
    apply_plan(db, plan)
    assert {"account", "contact", "quote", "quote_line", "lw_blueprint", "lw_user"} <= tables(db)
    assert "ux_contact_email" in indexes(db, "contact")
    assert current_app(db, TYPES) == app_of()
    again = plan_migration(db, app_of(), TYPES)
    assert again.empty
    assert "Nothing to change." in again.render()


def test_applied_versions_are_stored(crm: Database) -> None:
    def v2(doc: dict[str, Any]) -> None:
        doc["app"]["version"] = "2"
        fields(doc)["industry"] = {"type": "text", "max_length": 64}

    migrate(crm, app_of(v2))
    with crm.read() as conn:
        stored = conn.execute(sa.text("SELECT app, version, operations FROM lw_blueprint ORDER BY id")).all()
    assert [(r[0], r[1]) for r in stored] == [("crm", "1"), ("crm", "2")]
    assert stored[1][2] == "add field account.industry (text)"
    applied = current_app(crm, TYPES)
    assert applied is not None
    assert applied.version == "2"
    assert applied.object("account").has_field("industry")


# -- additive changes -------------------------------------------------------------------------
def test_add_field_keeps_rows_and_fills_the_default(crm: Database) -> None:
    def add(doc: dict[str, Any]) -> None:
        fields(doc)["industry"] = {"type": "text", "max_length": 64, "default": "retail"}

    plan = plan_migration(crm, app_of(add), TYPES)
    assert [type(op) for op in plan.ops] == [AddField]
    assert "ALTER TABLE account ADD COLUMN industry VARCHAR(64)" in plan.sql
    assert "UPDATE account SET industry='retail'" in plan.sql
    apply_plan(crm, plan)
    assert rows(crm, app_of(add), "account", "name", "industry") == [
        ("Acme", "retail"),
        ("Globex Corporation", "retail"),
        ("Initech", "retail"),
    ]
    assert plan_migration(crm, app_of(add), TYPES).empty


def test_add_lookup_field_refers_to_another_object(crm: Database) -> None:
    def add(doc: dict[str, Any]) -> None:
        fields(doc, "quote")["contact"] = {"type": "lookup", "object": "contact", "on_delete": "set_null"}

    plan = migrate(crm, app_of(add))
    if crm.dialect == "sqlite":
        expected = "ALTER TABLE quote ADD COLUMN contact_id BIGINT REFERENCES contact (id) ON DELETE SET NULL"
    else:
        expected = "ALTER TABLE quote ADD FOREIGN KEY(contact_id) REFERENCES contact (id) ON DELETE SET NULL"
    assert expected in plan.sql
    assert "ix_quote_contact_id" in indexes(crm, "quote")


def test_integer_to_decimal_converts_every_value(crm: Database) -> None:
    def retype(doc: dict[str, Any]) -> None:
        fields(doc)["seats"] = {"type": "decimal", "scale": 2}

    plan = plan_migration(crm, app_of(retype), TYPES)
    assert [type(op) for op in plan.ops] == [ChangeFieldType]
    assert not plan.destructive
    apply_plan(crm, plan)
    assert rows(crm, app_of(retype), "account", "seats") == [(Decimal("5.00"),), (Decimal("7.00"),), (None,)]


# -- renames ----------------------------------------------------------------------------------
def test_rename_field_keeps_values_and_renames_its_index(crm: Database) -> None:
    def rename(doc: dict[str, Any]) -> None:
        f = fields(doc)
        f["mobile"] = {**f.pop("phone"), "renamed_from": "phone"}

    plan = plan_migration(crm, app_of(rename), TYPES)
    assert [op.describe() for op in plan.ops] == [
        "drop index ix_account_phone on account",
        "rename field account.phone to mobile",
        "add index ix_account_mobile on account(mobile)",
    ]
    keyword = "RENAME COLUMN" if crm.dialect == "sqlite" else "RENAME"
    assert f"ALTER TABLE account {keyword} phone TO mobile" in plan.sql
    apply_plan(crm, plan)
    assert rows(crm, app_of(rename), "account", "mobile") == [("+1 555 0100",), ("+1 555 0101",), (None,)]
    assert "ix_account_mobile" in indexes(crm, "account")
    assert "ix_account_phone" not in indexes(crm, "account")
    assert plan_migration(crm, app_of(rename), TYPES).empty


def test_rename_object_keeps_records_and_references(crm: Database) -> None:
    def rename(doc: dict[str, Any]) -> None:
        objects = doc["objects"]
        objects["company"] = {**objects.pop("account"), "renamed_from": "account"}
        fields(doc, "contact")["account"]["object"] = "company"
        fields(doc, "quote")["account"]["object"] = "company"

    plan = plan_migration(crm, app_of(rename), TYPES)
    assert "rename object account to company" in [op.describe() for op in plan.ops]
    assert not any(isinstance(op, AddField | DropField) for op in plan.ops)
    assert "ALTER TABLE account RENAME TO company" in plan.sql
    apply_plan(crm, plan)
    assert rows(crm, app_of(rename), "company", "name") == [("Acme",), ("Globex Corporation",), ("Initech",)]
    assert "account" not in tables(crm)
    with crm.write() as conn:  # the contact -> company reference still cascades
        conn.execute(sa.text("DELETE FROM company WHERE id = 1"))
    assert rows(crm, app_of(rename), "contact", "name") == []
    assert plan_migration(crm, app_of(rename), TYPES).empty


def test_rename_parent_renames_the_line_link(crm: Database) -> None:
    def rename(doc: dict[str, Any]) -> None:
        objects = doc["objects"]
        objects["offer"] = {**objects.pop("quote"), "renamed_from": "quote"}

    plan = migrate(crm, app_of(rename))
    assert any(isinstance(op, RenameField) and op.new.column == "offer_id" for op in plan.ops)
    assert "offer_id" in columns(crm, "quote_line")
    assert plan_migration(crm, app_of(rename), TYPES).empty


# -- type changes -----------------------------------------------------------------------------
def employees_integer(doc: dict[str, Any]) -> None:
    fields(doc)["employees"] = {"type": "integer"}


def test_type_change_lists_failing_rows_and_applies_nothing(crm: Database) -> None:
    plan = plan_migration(crm, app_of(employees_integer), TYPES)
    assert plan.failure_count == 1
    [failure] = plan.failures
    assert (failure.record_id, failure.value) == (2, "many")
    refusal = (
        "account #2 employees='many': expected a whole number such as -42 (ASCII digits, no separators), got 'many'"
    )
    assert refusal in plan.render()
    with pytest.raises(MigrationRefused) as refused:
        apply_plan(crm, plan, allow_destructive=True)
    assert refused.value.details == (refusal,)
    assert rows(crm, app_of(), "account", "employees") == [("12",), ("many",), ("40",)]
    assert current_app(crm, TYPES) == app_of()


def test_type_change_applies_once_the_data_is_fixed(crm: Database) -> None:
    with crm.write() as conn:
        conn.execute(sa.text("UPDATE account SET employees = '7' WHERE id = 2"))
    plan = plan_migration(crm, app_of(employees_integer), TYPES)
    assert plan.failure_count == 0
    assert plan.destructive  # text -> integer may lose formatting ('007' -> 7)
    if crm.dialect == "postgresql":
        assert "ALTER TABLE account ALTER COLUMN employees TYPE BIGINT USING NULL" in plan.sql
    else:
        assert "CREATE TABLE _alembic_tmp_account (" in sql_of(plan)
        assert "ALTER TABLE _alembic_tmp_account RENAME TO account" in plan.sql
    apply_plan(crm, plan, allow_destructive=True)
    assert rows(crm, app_of(employees_integer), "account", "employees") == [(12,), (7,), (40,)]
    assert rows(crm, app_of(employees_integer), "contact", "name") == [("Ann",), ("Bob",)]
    assert "ix_account_phone" in indexes(crm, "account")
    assert plan_migration(crm, app_of(employees_integer), TYPES).empty


# -- destructive changes ----------------------------------------------------------------------
def drop_phone(doc: dict[str, Any]) -> None:
    del fields(doc)["phone"]


def test_drop_field_is_refused_without_the_flag(crm: Database) -> None:
    plan = plan_migration(crm, app_of(drop_phone), TYPES)
    assert plan.destructive
    drop = next(s for s in plan.steps if isinstance(s.op, DropField))
    assert drop.losses == ("2 values (of 3 account records)",)
    assert "would lose 2 values (of 3 account records)" in plan.render()
    with pytest.raises(MigrationRefused) as refused:
        apply_plan(crm, plan)
    assert "drop field account.phone and its values" in refused.value.details
    assert "phone" in columns(crm, "account")


def test_drop_field_applies_with_the_flag(crm: Database) -> None:
    plan = plan_migration(crm, app_of(drop_phone), TYPES)
    expected = "ALTER TABLE account DROP COLUMN phone"
    assert expected in plan.sql
    assert "DROP INDEX ix_account_phone" in plan.sql
    apply_plan(crm, plan, allow_destructive=True)
    assert "phone" not in columns(crm, "account")
    assert rows(crm, app_of(drop_phone), "account", "name", "employees") == [
        ("Acme", "12"),
        ("Globex Corporation", "many"),
        ("Initech", "40"),
    ]


def test_drop_lookup_field_keeps_records_that_refer_to_the_table(crm: Database) -> None:
    def drop(doc: dict[str, Any]) -> None:
        del fields(doc)["primary_contact"]

    plan = plan_migration(crm, app_of(drop), TYPES)
    assert plan.steps[-1].losses == ("1 values (of 3 account records)",)
    apply_plan(crm, plan, allow_destructive=True)
    assert "primary_contact_id" not in columns(crm, "account")
    # on SQLite the account table was rebuilt: contacts (ON DELETE CASCADE) must survive it
    assert rows(crm, app_of(drop), "contact", "name", "account_id") == [("Ann", 1), ("Bob", 1)]
    with crm.write() as conn:
        conn.execute(sa.text("DELETE FROM account WHERE id = 1"))
    assert rows(crm, app_of(drop), "contact", "name") == []


def test_narrowing_counts_and_cuts_values(crm: Database) -> None:
    def narrow(doc: dict[str, Any]) -> None:
        fields(doc)["name"]["max_length"] = 10
        fields(doc)["rating"]["options"] = ["hot", "warm"]

    plan = plan_migration(crm, app_of(narrow), TYPES)
    assert plan.destructive
    assert [s.losses for s in plan.steps] == [
        ("1 values, which would be cut to 10 characters",),
        ("1 values, which would be cleared of removed options cold",),
    ]
    with pytest.raises(MigrationRefused):
        apply_plan(crm, plan)
    apply_plan(crm, plan, allow_destructive=True)
    assert rows(crm, app_of(narrow), "account", "name", "rating") == [
        ("Acme", "hot"),
        ("Globex Cor", None),
        ("Initech", "warm"),
    ]
    assert plan_migration(crm, app_of(narrow), TYPES).empty


def test_scale_change_rounds_decimals(crm: Database) -> None:
    def scale(doc: dict[str, Any]) -> None:
        fields(doc)["revenue"]["scale"] = 1

    plan = plan_migration(crm, app_of(scale), TYPES)
    assert plan.steps[0].losses == ("1 values, which would be rounded to 1 places",)
    apply_plan(crm, plan, allow_destructive=True)
    assert rows(crm, app_of(scale), "account", "revenue") == [(Decimal("10.3"),), (None,), (None,)]


def test_drop_object_counts_its_records(crm: Database) -> None:
    def drop(doc: dict[str, Any]) -> None:
        del doc["objects"]["contact"]
        del fields(doc)["primary_contact"]

    plan = plan_migration(crm, app_of(drop), TYPES)
    assert [s.op.describe() for s in plan.steps] == [
        "drop index ix_account_primary_contact_id on account",
        "drop field account.primary_contact and its values",
        "drop object contact and all its records",
    ]
    assert plan.steps[-1].losses == ("2 contact records",)
    assert "DROP TABLE contact" in plan.sql
    apply_plan(crm, plan, allow_destructive=True)
    assert "contact" not in tables(crm)
    assert len(rows(crm, app_of(drop), "account", "name")) == 3


def test_index_add_and_drop(crm: Database) -> None:
    def reindex(doc: dict[str, Any]) -> None:
        fields(doc)["phone"].pop("index")
        doc["objects"]["account"]["indexes"] = [{"fields": ["name", "rating"]}]

    plan = migrate(crm, app_of(reindex))
    assert plan.sql == ("DROP INDEX ix_account_phone", "CREATE INDEX ix_account_name_rating ON account (name, rating)")
    assert {"ix_account_name_rating", "ix_account_owner_id"} <= indexes(crm, "account")
    assert "ix_account_phone" not in indexes(crm, "account")


# -- all or nothing ---------------------------------------------------------------------------
def test_failed_migration_leaves_the_database_as_it_was(crm: Database) -> None:
    def change(doc: dict[str, Any]) -> None:
        fields(doc)["industry"] = {"type": "text", "default": "retail"}
        fields(doc)["name"]["max_length"] = 200
        fields(doc)["seats"]["unique"] = True

    app = app_of(change)
    plan = plan_migration(crm, app, TYPES)
    assert [type(s.op).__name__ for s in plan.steps] == ["AddField", "AlterField", "AddIndex"]
    # A duplicate written after the plan was made (the plan counted none): the unique index fails last.
    insert(crm, "account", name="Dup", seats=5)
    before = rows(crm, app_of(), "account", "name", "seats")
    with pytest.raises(MigrationRefused) as refused:
        apply_plan(crm, plan)
    assert str(refused.value) == (
        "cannot add unique index ux_account_seats on account(seats): 1 duplicated values in 2 records "
        "(the data changed since the plan); fix them first"
    )
    dup_id = rows(crm, app_of(), "account", "id", "seats")
    assert refused.value.details == (f"  5 in 2 records (ids {', '.join(str(i) for i, s in dup_id if s == 5)})",)
    assert "industry" not in columns(crm, "account")
    assert rows(crm, app_of(), "account", "name", "seats") == before
    assert current_app(crm, TYPES) == app_of()
    with crm.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM lw_blueprint")).scalar_one() == 1


def test_a_stale_plan_is_refused(crm: Database) -> None:
    def add(doc: dict[str, Any]) -> None:
        fields(doc)["industry"] = {"type": "text"}

    stale = plan_migration(crm, app_of(add), TYPES)
    migrate(crm, app_of(add))
    with pytest.raises(MigrationRefused, match="plan again"):
        apply_plan(crm, stale)


def test_lines_position_is_not_null_in_a_migrated_database(crm: Database) -> None:
    with crm.read() as conn:
        position = next(c for c in sa.inspect(conn).get_columns("quote_line") if c["name"] == "position")
    assert position["nullable"] is False
