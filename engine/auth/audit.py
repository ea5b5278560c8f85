"""The audit log (`lw_audit`): who did what to which user, token or blueprint, and from where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.auth.directory import AuthDb

LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
TOKEN_USED = "token_used"
USER_CREATED = "user_created"
USER_DEACTIVATED = "user_deactivated"
ROLE_CHANGED = "role_changed"
PASSWORD_RESET = "password_reset"
TEAM_CREATED = "team_created"
TEAM_CHANGED = "team_changed"
BLUEPRINT_APPLIED = "blueprint_applied"
RECORD_SHARED = "record_shared"
RECORD_UNSHARED = "record_unshared"


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    id: int
    at: datetime
    actor_id: int | None
    kind: str
    subject: str | None
    detail: dict[str, Any]
    ip: str | None


def audit_entries(auth: AuthDb, *, kind: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """The latest audit rows, newest first, optionally of one kind."""
    t = auth.tables.audit
    query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(t.c.kind == kind)
    with auth.db.read() as conn:
        return [
            AuditEntry(int(r.id), r.at, r.actor_id, r.kind, r.subject, dict(r.detail or {}), r.ip)
            for r in conn.execute(query)
        ]
