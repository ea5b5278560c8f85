"""API tokens: random secrets shown once, stored only as a SHA-256 hash, revocable, optionally expiring.

A token is 32 random bytes, so a fast hash is enough (nothing to brute-force); the secret itself
never reaches the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from engine.auth import audit
from engine.auth.directory import AuthDb
from engine.auth.errors import AuthInvalid
from engine.auth.users import User, user_from_row
from engine.errors import NotFound
from engine.store.database import DatabaseBusy

TOKEN_PREFIX = "lw_"
PREFIX_CHARS = 8
#: `last_used_at` and the `token_used` audit row are written at most this often per token.
USE_RECORD_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the secret, only its first characters."""

    id: int
    user_id: int
    email: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    """The API token service over `lw_token`."""

    def __init__(self, auth: AuthDb) -> None:
        self.auth = auth
        self.t = auth.tables.token

    def create_token(
        self, user_id: int, name: str = "api", *, expires_in: timedelta | None = None, actor_id: int | None = None
    ) -> tuple[int, str]:
        """(token id, secret); the secret (`lw_...`) is returned once and cannot be recovered later."""
        if expires_in is not None and expires_in <= timedelta(0):
            raise AuthInvalid("a token's lifetime must be positive", code="auth.bad_expiry")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.auth.now()
        users = self.auth.tables.user
        with self.auth.db.write() as conn:
            email = conn.execute(sa.select(users.c.email).where(users.c.id == user_id)).scalar()
            if email is None:
                raise NotFound(f"no user with id {user_id}", code="user.not_found")
            values = {
                "user_id": user_id,
                "name": name,
                "token_hash": token_hash(secret),
                "prefix": secret[:PREFIX_CHARS],
                "created_at": now,
                "expires_at": None if expires_in is None else now + expires_in,
            }
            token_id = int(conn.execute(sa.insert(self.t).returning(self.t.c.id), values).scalar_one())
            detail = {"token_id": token_id, "name": name}
            self.auth.audit(conn, audit.TOKEN_CREATED, actor_id=actor_id, subject=email, detail=detail)
        return token_id, secret

    def authenticate(self, secret: str, *, ip: str | None = None) -> User | None:
        """The active user a live token belongs to, or None (unknown, revoked, expired or inactive)."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        digest = token_hash(secret)
        users = self.auth.tables.user
        query = (
            sa.select(
                self.t.c.id.label("token_id"),
                self.t.c.token_hash,
                self.t.c.expires_at,
                self.t.c.revoked_at,
                self.t.c.last_used_at,
                *users.c,
            )
            .join(users, users.c.id == self.t.c.user_id)
            .where(self.t.c.token_hash == digest)
        )
        with self.auth.db.read() as conn:
            row = conn.execute(query).first()
        now = self.auth.now()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now) or not row.active:
            return None
        user = user_from_row(row)
        if row.last_used_at is None or now - row.last_used_at >= USE_RECORD_INTERVAL:
            self._record_use(int(row.token_id), user, now, ip)
        return user

    def revoke(self, token_id: int, *, actor_id: int | None = None) -> None:
        """Revoke a token (idempotent); raises `NotFound` for an unknown id."""
        with self.auth.db.write() as conn:
            row = conn.execute(sa.select(self.t.c.id, self.t.c.revoked_at).where(self.t.c.id == token_id)).first()
            if row is None:
                raise NotFound(f"no token with id {token_id}", code="token.not_found")
            if row.revoked_at is not None:
                return
            conn.execute(sa.update(self.t).where(self.t.c.id == token_id).values(revoked_at=self.auth.now()))
            detail = {"token_id": token_id}
            self.auth.audit(conn, audit.TOKEN_REVOKED, actor_id=actor_id, subject=str(token_id), detail=detail)

    def list_tokens(self, user_id: int | None = None) -> list[TokenInfo]:
        users = self.auth.tables.user
        query = sa.select(self.t, users.c.email).join(users, users.c.id == self.t.c.user_id).order_by(self.t.c.id)
        if user_id is not None:
            query = query.where(self.t.c.user_id == user_id)
        with self.auth.db.read() as conn:
            return [
                TokenInfo(
                    int(r.id),
                    int(r.user_id),
                    r.email,
                    r.name,
                    r.prefix,
                    r.created_at,
                    r.expires_at,
                    r.revoked_at,
                    r.last_used_at,
                )
                for r in conn.execute(query)
            ]

    def _record_use(self, token_id: int, user: User, now: datetime, ip: str | None) -> None:
        # Never waits for the write lock: while it is taken, a later request records the use.
        with suppress(DatabaseBusy), self.auth.db.lock_wait(0.0), self.auth.db.write() as conn:
            conn.execute(sa.update(self.t).where(self.t.c.id == token_id).values(last_used_at=now))
            detail = {"token_id": token_id}
            self.auth.audit(conn, audit.TOKEN_USED, actor_id=user.id, subject=user.email, detail=detail, ip=ip)
