"""Real tables from the blueprint model: one per object, plus the `lw_` system tables."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from engine.blueprint.model import SYSTEM_COLUMNS, App, FieldDef, ObjectDef
from engine.types.registry import TypeRegistry
from engine.types.sqltypes import JSONValue, UTCDateTime

#: An id column that is an auto-incrementing rowid alias on SQLite and BIGINT elsewhere.
ID_TYPE: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
USER_TABLE = "lw_user"
TEAM_TABLE = "lw_team"
SESSION_TABLE = "lw_session"
COMMENT_TABLE = "lw_comment"
NOTIFICATION_TABLE = "lw_notification"
_ON_DELETE = {"restrict": "RESTRICT", "set_null": "SET NULL", "cascade": "CASCADE"}
MAX_IDENTIFIER = 63


def constraint_name(prefix: str, table: str, columns: Iterable[str]) -> str:
    """A deterministic name that fits PostgreSQL's 63-character identifier limit."""
    name = f"{prefix}_{table}_{'_'.join(columns)}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def system_tables(metadata: MetaData) -> None:
    """The engine's own tables (users, teams, tokens, audit, history, trash, sequences, applied blueprints)."""
    Table(
        USER_TABLE,
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("email", String(255), nullable=False, unique=True),
        Column("name", String(255), nullable=False),
        Column("locale", String(16), nullable=False, default="en"),
        Column("active", Boolean, nullable=False, default=True),
        Column("password_hash", String(255)),
        Column("created_at", UTCDateTime, nullable=False),
        Column("role", String(64)),
        Column("region", String(64)),
        Column("team_id", BigInteger, ForeignKey(f"{TEAM_TABLE}.id", ondelete="SET NULL")),
        sqlite_autoincrement=True,
    )
    Table(
        "lw_history",
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("object", String(64), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("action", String(16), nullable=False),
        Column("field", String(64)),
        Column("old", JSONValue),
        Column("new", JSONValue),
        Column("actor_id", BigInteger),
        Column("at", UTCDateTime, nullable=False),
        Index("ix_lw_history_record", "object", "record_id", "id"),
        sqlite_autoincrement=True,
    )
    Table(
        "lw_trash",
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("object", String(64), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("data", JSONValue, nullable=False),
        Column("deleted_by", BigInteger),
        Column("deleted_at", UTCDateTime, nullable=False),
        Index("ix_lw_trash_record", "object", "record_id"),
        sqlite_autoincrement=True,
    )
    Table(
        "lw_sequence",
        metadata,
        Column("key", String(128), primary_key=True),
        Column("value", BigInteger, nullable=False),
    )
    Table(
        "lw_blueprint",
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("app", String(64), nullable=False),
        Column("version", String(64), nullable=False),
        Column("document", Text, nullable=False),
        Column("applied_at", UTCDateTime, nullable=False),
        Column("operations", Text, nullable=False, default=""),
        sqlite_autoincrement=True,
    )

    Table(
        TEAM_TABLE,
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("name", String(128), nullable=False, unique=True),
        Column("parent_id", BigInteger, ForeignKey(f"{TEAM_TABLE}.id", ondelete="SET NULL")),
        Column("manager_id", BigInteger, ForeignKey(f"{USER_TABLE}.id", ondelete="SET NULL")),
        Column("created_at", UTCDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    Table(
        "lw_token",
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("user_id", BigInteger, ForeignKey(f"{USER_TABLE}.id", ondelete="CASCADE"), nullable=False),
        Column("name", String(128), nullable=False),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("prefix", String(16), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("expires_at", UTCDateTime),
        Column("revoked_at", UTCDateTime),
        Column("last_used_at", UTCDateTime),
        Index("ix_lw_token_user", "user_id"),
        sqlite_autoincrement=True,
    )
    Table(
        "lw_audit",
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("at", UTCDateTime, nullable=False),
        Column("actor_id", BigInteger),  # no foreign key: the log outlives the users it names
        Column("kind", String(32), nullable=False),
        Column("subject", String(255)),
        Column("detail", JSONValue),
        Column("ip", String(64)),
        Index("ix_lw_audit_kind_at", "kind", "at"),
        sqlite_autoincrement=True,
    )
    Table(
        "lw_login_attempt",
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("key", String(320), nullable=False),  # "email:<address>" or "ip:<address>"
        Column("at", UTCDateTime, nullable=False),
        Index("ix_lw_login_attempt_key_at", "key", "at"),
        sqlite_autoincrement=True,
    )
    Table(
        SESSION_TABLE,
        metadata,
        Column("id", String(64), primary_key=True),  # sha256 hex of the cookie secret (never the secret)
        Column("user_id", BigInteger, ForeignKey(f"{USER_TABLE}.id", ondelete="CASCADE"), nullable=False),
        Column("csrf", String(64), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("last_seen_at", UTCDateTime, nullable=False),
        Column("expires_at", UTCDateTime, nullable=False),  # the absolute end; idle time is checked too
        Column("ip", String(64)),
        Index("ix_lw_session_user", "user_id"),
    )
    share_table(metadata)
    discussion_tables(metadata)


def discussion_tables(metadata: MetaData) -> None:
    """`lw_comment`: comments on any record (`mentions`: the user ids the body mentions);
    `lw_notification`: what a user is told (a mention), read or not. No foreign key to the record:
    the object is any of the blueprint's, and a trashed record keeps its thread for a restore."""
    Table(
        COMMENT_TABLE,
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("object", String(64), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("author_id", BigInteger, ForeignKey(f"{USER_TABLE}.id", ondelete="SET NULL")),
        Column("body", Text, nullable=False),
        Column("mentions", JSONValue, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("edited_at", UTCDateTime),
        Column("deleted_at", UTCDateTime),  # a deleted comment keeps its row (notifications point at it), not its text
        Index("ix_lw_comment_record", "object", "record_id", "id"),
        sqlite_autoincrement=True,
    )
    Table(
        NOTIFICATION_TABLE,
        metadata,
        Column("id", ID_TYPE, primary_key=True),
        Column("recipient_id", BigInteger, ForeignKey(f"{USER_TABLE}.id", ondelete="CASCADE"), nullable=False),
        Column("kind", String(32), nullable=False),
        Column("object", String(64), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("comment_id", BigInteger, ForeignKey(f"{COMMENT_TABLE}.id", ondelete="CASCADE")),
        Column("actor_id", BigInteger, ForeignKey(f"{USER_TABLE}.id", ondelete="SET NULL")),
        Column("created_at", UTCDateTime, nullable=False),
        Column("read_at", UTCDateTime),
        Index("ix_lw_notification_recipient", "recipient_id", "read_at", "id"),
        sqlite_autoincrement=True,
    )


def object_table(metadata: MetaData, obj: ObjectDef, types: TypeRegistry) -> Table:
    """The table of one object: system columns, one column per stored field, indexes."""
    cols: list[Column[object]] = [
        Column("id", ID_TYPE, primary_key=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("created_by", BigInteger, ForeignKey(f"{USER_TABLE}.id", ondelete="SET NULL")),
        Column("version", Integer, nullable=False, default=1),
    ]
    if obj.owned:
        cols.append(Column("owner_id", BigInteger, ForeignKey(f"{USER_TABLE}.id", ondelete="SET NULL"), index=False))
    if obj.parent:
        cols.append(
            Column(
                f"{obj.parent}_id",
                BigInteger,
                ForeignKey(f"{obj.parent}.id", ondelete="CASCADE"),
                nullable=False,
            )
        )
        cols.append(Column("position", Integer, nullable=False, default=0))
    cols.extend(field_column(f, types) for f in obj.stored_fields)
    table = Table(obj.name, metadata, *cols, sqlite_autoincrement=True)
    for ix in object_indexes(obj):
        Index(ix[0], *(table.c[c] for c in ix[1]), unique=ix[2])
    return table


def field_column(f: FieldDef, types: TypeRegistry) -> Column[object]:
    """The column of one stored field (nullable: `required` is enforced when writing)."""
    col = f.column
    assert col is not None  # callers pass stored fields only
    sql_type = types[f.type].sql_type(f)
    if f.type == "lookup" and f.target:
        return Column(col, sql_type, ForeignKey(f"{f.target}.id", ondelete=_ON_DELETE[f.on_delete]))
    if f.type == "user":
        return Column(col, sql_type, ForeignKey(f"{USER_TABLE}.id", ondelete=_ON_DELETE.get(f.on_delete, "SET NULL")))
    return Column(col, sql_type)


def object_indexes(obj: ObjectDef) -> list[tuple[str, tuple[str, ...], bool]]:
    """(name, columns, unique) of every index the object's table has, declared or automatic."""
    out: dict[tuple[str, ...], tuple[str, tuple[str, ...], bool]] = {}

    def add(cols: tuple[str, ...], unique: bool, name: str | None = None) -> None:
        key = cols
        if key in out and not unique:
            return
        out[key] = (name or constraint_name("ux" if unique else "ix", obj.name, cols), cols, unique)

    if obj.owned:
        add(("owner_id",), False)
    if obj.parent:
        add((f"{obj.parent}_id", "position"), False)
    for f in obj.stored_fields:
        assert f.column is not None
        if f.unique or f.type == "autonumber":
            add((f.column,), True)
        elif f.indexed or f.type in ("lookup", "user"):
            add((f.column,), False)
    for ix in obj.indexes:
        cols = tuple(n if n in SYSTEM_COLUMNS else obj.field(n).column or n for n in ix.fields)
        add(cols, ix.unique, ix.name)
    return list(out.values())


def build_metadata(app: App, types: TypeRegistry) -> MetaData:
    """Metadata holding the system tables and one table per object of `app`."""
    metadata = MetaData()
    system_tables(metadata)
    for obj in app.objects:
        object_table(metadata, obj, types)
    return metadata


def share_table(metadata: MetaData) -> Table:
    """`lw_share`: one record of `object` shared with a user or a team; `can_edit` allows updates.

    Idempotent: returns the table when `metadata` already has it.
    """
    if "lw_share" in metadata.tables:
        return metadata.tables["lw_share"]
    return Table(
        "lw_share",
        metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
        Column("object", String(64), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("user_id", BigInteger),
        Column("team_id", BigInteger),
        Column("can_edit", Boolean, nullable=False, default=False),
        Column("created_by", BigInteger),
        Index("ix_lw_share_user", "object", "user_id", "record_id"),
        Index("ix_lw_share_team", "object", "team_id", "record_id"),
        sqlite_autoincrement=True,
    )
