"""Browser sessions, kept server-side in `lw_session`.

The browser holds a random secret (the `lw_session` cookie); the table holds only its SHA-256, so
a leaked table or backup cannot be replayed as cookies. Each session also has a CSRF token, which
the web layer demands on every unsafe request made with the session.

A session ends at the first of: `close_session` (logout), `SessionLimits.idle` without a request
(sliding: every use moves it), `SessionLimits.lifetime` after it was opened (absolute: use does not
extend it), or the user being deactivated. Logging in always opens a new session (a cookie set
before login is never promoted, so a planted session id cannot be fixed on a victim).
"""

from __future__ import annotations

import hashlib
import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection

from engine.auth import audit
from engine.auth.directory import AuthDb
from engine.auth.users import User, user_from_row
from engine.store.database import DatabaseBusy


@dataclass(frozen=True)
class SessionLimits:
    """How long a session lives: `idle` since its last use, `lifetime` since it was opened."""

    idle: timedelta = timedelta(hours=12)
    lifetime: timedelta = timedelta(days=7)
    #: `last_seen_at` is written at most this often, so reads do not each cost a write.
    touch_every: timedelta = timedelta(minutes=1)


DEFAULT_SESSION_LIMITS = SessionLimits()


@dataclass(frozen=True)
class OpenedSession:
    """What the browser gets: the cookie secret (shown once, never stored) and the CSRF token."""

    secret: str
    csrf: str
    expires_at: datetime


def session_id(secret: str) -> str:
    """The stored id of a cookie secret: hex SHA-256 (the secret has 256 random bits, so no salt)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def open_session(
    auth: AuthDb,
    user: User,
    ip: str | None,
    *,
    replaces: str | None = None,
    limits: SessionLimits = DEFAULT_SESSION_LIMITS,
) -> OpenedSession:
    """A new session for `user` (already authenticated); `replaces` is a cookie secret to end first.

    Expired sessions are swept in the same transaction. The login itself is audited by
    `engine.auth.login.authenticate_password`.
    """
    t = auth.tables.session
    now = auth.now()
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + limits.lifetime
    with auth.db.write() as conn:
        if replaces:
            conn.execute(sa.delete(t).where(t.c.id == session_id(replaces)))
        _sweep(auth, conn, now, limits)
        conn.execute(
            sa.insert(t).values(
                id=session_id(secret),
                user_id=user.id,
                csrf=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
                ip=ip,
            )
        )
    return OpenedSession(secret, csrf, expires)


def session_user(
    auth: AuthDb, secret: str, *, limits: SessionLimits = DEFAULT_SESSION_LIMITS
) -> tuple[User, str] | None:
    """The active user of a live session and its CSRF token; None for unknown, expired or inactive.

    An expired session's row is deleted when it is found.
    """
    if not secret or len(secret) > 256:
        return None
    t = auth.tables.session
    users = auth.tables.user
    key = session_id(secret)
    now = auth.now()
    query = (
        sa.select(t.c.csrf, t.c.last_seen_at, t.c.expires_at, users)
        .select_from(t.join(users, users.c.id == t.c.user_id))
        .where(t.c.id == key)
    )
    with auth.db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    # Neither write waits for the write lock: while it is taken, a later request does it.
    if now >= row.expires_at or now >= row.last_seen_at + limits.idle or not row.active:
        with suppress(DatabaseBusy), auth.db.lock_wait(0.0), auth.db.write() as conn:
            conn.execute(sa.delete(t).where(t.c.id == key))
        return None
    if now - row.last_seen_at >= limits.touch_every:
        with suppress(DatabaseBusy), auth.db.lock_wait(0.0), auth.db.write() as conn:
            conn.execute(sa.update(t).where(t.c.id == key).values(last_seen_at=now))
    return user_from_row(row), str(row.csrf)


def close_session(auth: AuthDb, secret: str, ip: str | None) -> User | None:
    """End the session (logout): its row is deleted and a `logout` audit row written.

    Returns the user it belonged to, or None when there was no such session.
    """
    if not secret:
        return None
    t = auth.tables.session
    users = auth.tables.user
    key = session_id(secret)
    with auth.db.write() as conn:
        row = conn.execute(
            sa.select(users).select_from(t.join(users, users.c.id == t.c.user_id)).where(t.c.id == key)
        ).first()
        if row is None:
            return None
        conn.execute(sa.delete(t).where(t.c.id == key))
        user = user_from_row(row)
        auth.audit(conn, audit.LOGOUT, actor_id=user.id, subject=user.email, ip=ip)
        return user


def _sweep(auth: AuthDb, conn: Connection, now: datetime, limits: SessionLimits) -> None:
    t = auth.tables.session
    conn.execute(sa.delete(t).where(sa.or_(t.c.expires_at <= now, t.c.last_seen_at <= now - limits.idle)))
