"""Password login: rate-limited, audited, the same error for an unknown e-mail and a wrong password."""

from __future__ import annotations

import sqlalchemy as sa

from engine.auth import audit
from engine.auth.directory import AuthDb
from engine.auth.errors import LoginFailed, LoginLocked
from engine.auth.ratelimit import DEFAULT_LIMITS, LoginLimits, clear_failures, locked_for, record_failure
from engine.auth.users import User, user_from_row


def authenticate_password(
    auth: AuthDb, email: str, password: str, ip: str | None, *, limits: LoginLimits = DEFAULT_LIMITS
) -> User:
    """The active user with this e-mail and password; raises `LoginFailed` or `LoginLocked`.

    Writes a `login` or `login_failed` audit row; rehashes the password when its parameters are old.
    """
    address = email.strip().lower()
    users = auth.tables.user
    with auth.db.read() as conn:
        wait = locked_for(auth, conn, address, ip, limits)
        row = conn.execute(sa.select(users).where(users.c.email == address)).first()
    if wait is not None:
        with auth.db.write() as conn:
            auth.audit(conn, audit.LOGIN_FAILED, subject=address, detail={"reason": "locked"}, ip=ip)
        raise LoginLocked(wait)
    stored = row.password_hash if row is not None and row.active else None
    if stored is None:
        auth.hashing.rehash(password)  # as slow as a verify, so an unknown e-mail is not faster to refuse
        ok = False
    else:
        ok = auth.hashing.verify(stored, password)
    if not ok or row is None or stored is None:
        with auth.db.write() as conn:
            record_failure(auth, conn, address, ip, limits)
            reason = "unknown" if row is None else "inactive" if not row.active else "password"
            actor = None if row is None else int(row.id)
            auth.audit(conn, audit.LOGIN_FAILED, actor_id=actor, subject=address, detail={"reason": reason}, ip=ip)
        raise LoginFailed()
    user = user_from_row(row)
    with auth.db.write() as conn:
        clear_failures(auth, conn, address)
        if auth.hashing.needs_rehash(stored):
            conn.execute(
                sa.update(users).where(users.c.id == user.id).values(password_hash=auth.hashing.rehash(password))
            )
        auth.audit(conn, audit.LOGIN, actor_id=user.id, subject=user.email, ip=ip)
    return user


def record_logout(auth: AuthDb, user: User, ip: str | None) -> None:
    """Audit a logout (the web layer ends the session)."""
    with auth.db.write() as conn:
        auth.audit(conn, audit.LOGOUT, actor_id=user.id, subject=user.email, ip=ip)
