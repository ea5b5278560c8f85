"""Databases migrated before the auth tables existed get them (and the new user columns) on the next migrate."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from engine.auth.directory import AuthDb
from engine.auth.teams import Teams
from engine.auth.users import Users
from engine.blueprint.load import load_blueprint
from engine.store.database import Database
from engine.store.migrate import apply_plan, plan_migration
from engine.store.tables import ID_TYPE
from engine.types.registry import TypeRegistry
from engine.types.sqltypes import UTCDateTime
from tests.helpers import EVERYTHING

NEW_TABLES = ("lw_team", "lw_token", "lw_audit", "lw_login_attempt", "lw_session", "lw_comment", "lw_notification")


def old_system_tables(db: Database) -> None:
    """The user and blueprint tables as they were before users had roles and teams."""
    metadata = sa.MetaData()
    sa.Table(
        "lw_user",
        metadata,
        sa.Column("id", ID_TYPE, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    metadata.create_all(db.engine)
    with db.write() as conn:
        conn.execute(
            metadata.tables["lw_user"].insert(),
            {"email": "old@b.io", "name": "Old", "locale": "en", "active": True, "created_at": datetime.now(UTC)},
        )


def test_an_old_database_gets_the_new_system_tables_and_columns(db_url: str) -> None:
    types = TypeRegistry.with_builtins()
    app = load_blueprint(EVERYTHING, types)
    db = Database(db_url)
    try:
        old_system_tables(db)
        plan = plan_migration(db, app, types)
        assert set(NEW_TABLES) <= set(plan.system_tables)
        assert "lw_user" not in plan.system_tables
        assert plan.system_columns == (("lw_user", "role"), ("lw_user", "region"), ("lw_user", "team_id"))
        assert "+ add system columns lw_user.role, lw_user.region, lw_user.team_id" in plan.render()
        assert any("team_id" in line and "lw_user" in line for line in plan.system_sql)
        apply_plan(db, plan)
        again = plan_migration(db, app, types)
        assert again.empty
        assert again.system_columns == ()
        auth = AuthDb(db)
        Teams(auth).create_team("East")
        Teams(auth).add_member("East", "old@b.io")  # the team foreign key works on the added column
        assert Users(auth).get("old@b.io").team_id is not None
        with db.read() as conn:
            fks = sa.inspect(conn).get_foreign_keys("lw_user")
        assert [(fk["constrained_columns"], fk["referred_table"]) for fk in fks] == [(["team_id"], "lw_team")]
    finally:
        db.dispose()


def test_a_fresh_database_gets_the_cyclic_user_team_foreign_keys(db_url: str) -> None:
    types = TypeRegistry.with_builtins()
    db = Database(db_url)
    try:
        apply_plan(db, plan_migration(db, load_blueprint(EVERYTHING, types), types))
        with db.read() as conn:
            inspector = sa.inspect(conn)
            user_fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("lw_user")}
            team_fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("lw_team")}
            token_fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("lw_token")}
        assert (user_fks, team_fks, token_fks) == ({"lw_team"}, {"lw_team", "lw_user"}, {"lw_user"})
    finally:
        db.dispose()


def test_a_database_from_before_comments_gets_their_tables_and_indexes_on_migrate(db_url: str) -> None:
    types = TypeRegistry.with_builtins()
    app = load_blueprint(EVERYTHING, types)
    db = Database(db_url)
    try:
        apply_plan(db, plan_migration(db, app, types))
        with db.write() as conn:
            conn.execute(sa.text("DROP TABLE lw_notification"))
            conn.execute(sa.text("DROP TABLE lw_comment"))
        plan = plan_migration(db, app, types)
        assert plan.system_tables == ("lw_comment", "lw_notification")
        assert "+ create system tables lw_comment, lw_notification" in plan.render()
        apply_plan(db, plan)
        assert plan_migration(db, app, types).empty
        with db.read() as conn:
            inspector = sa.inspect(conn)
            indexes = {
                t: {ix["name"]: ix["column_names"] for ix in inspector.get_indexes(t)}
                for t in ("lw_comment", "lw_notification")
            }
        assert indexes == {
            "lw_comment": {"ix_lw_comment_record": ["object", "record_id", "id"]},
            "lw_notification": {"ix_lw_notification_recipient": ["recipient_id", "read_at", "id"]},
        }
    finally:
        db.dispose()
