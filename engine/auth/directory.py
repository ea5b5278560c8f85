"""The auth room's handle on the database: the system tables, a clock, the password hashing and its pool.

The system tables are reached without a blueprint, so the CLI can manage users of any app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, MetaData, Table

from engine.auth.hashers import HashingPool
from engine.auth.passwords import DEFAULT_HASHING, PasswordHashing
from engine.store.database import Database
from engine.store.tables import system_tables


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuthTables:
    """The system tables the auth room reads and writes."""

    user: Table
    team: Table
    token: Table
    audit: Table
    login_attempt: Table
    session: Table

    @classmethod
    def build(cls) -> AuthTables:
        metadata = MetaData()
        system_tables(metadata)
        t = metadata.tables
        return cls(t["lw_user"], t["lw_team"], t["lw_token"], t["lw_audit"], t["lw_login_attempt"], t["lw_session"])


@dataclass(frozen=True)
class AuthDb:
    """A database plus what every auth service needs; pass it explicitly (no globals).

    `hashers` bounds the password hashes running at once; one `AuthDb` per server process shares it.
    """

    db: Database
    tables: AuthTables = field(default_factory=AuthTables.build)
    clock: Callable[[], datetime] = utc_now
    hashing: PasswordHashing = DEFAULT_HASHING
    hashers: HashingPool = field(default_factory=HashingPool)

    def now(self) -> datetime:
        return self.clock()

    def audit(
        self,
        conn: Connection,
        kind: str,
        *,
        actor_id: int | None = None,
        subject: str | None = None,
        detail: Mapping[str, Any] | None = None,
        ip: str | None = None,
    ) -> None:
        """Append one row to `lw_audit` inside the caller's transaction."""
        conn.execute(
            sa.insert(self.tables.audit).values(
                at=self.now(), actor_id=actor_id, kind=kind, subject=subject, detail=dict(detail or {}), ip=ip
            )
        )
