"""Password login: rate-limited, audited, the same error for an unknown e-mail and a wrong password.

The order matters: the attempt is counted (`reserve_attempt`) before any password is hashed, and
every hash runs in the process's bounded `HashingPool` outside any transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

from engine.auth import audit
from engine.auth.directory import AuthDb
from engine.auth.errors import HashingBusy, LoginFailed, LoginLocked
from engine.auth.ratelimit import (
    DEFAULT_LIMITS,
    LoginLimits,
    clear_after_success,
    release_attempt,
    reserve_attempt,
)
from engine.auth.users import EMAIL_SHAPE, User, user_from_row


def authenticate_password(
    auth: AuthDb, email: str, password: str, ip: str | None, *, limits: LoginLimits = DEFAULT_LIMITS
) -> User:
    """The active user with this e-mail and password; raises `LoginFailed`, `LoginLocked` or
    `HashingBusy` (no hashing slot in time: the attempt is not counted, try again shortly).

    Writes a `login` or `login_failed` audit row; rehashes the password when its parameters are old.
    """
    address = email.strip().lower()
    if not _could_be_a_users(address):
        raise LoginFailed()  # no user has it, nothing is hashed, stored or counted for it
    users = auth.tables.user
    with auth.db.write() as conn:
        attempt = reserve_attempt(auth, conn, address, ip, limits)
        row = None
        if attempt.wait is None:
            row = conn.execute(sa.select(users).where(users.c.email == address)).first()
        else:
            auth.audit(conn, audit.LOGIN_FAILED, subject=address, detail={"reason": "locked"}, ip=ip)
    if attempt.wait is not None:
        raise LoginLocked(attempt.wait)
    stored = row.password_hash if row is not None and row.active else None
    try:
        if stored is None:
            # as slow as a verify, so an unknown e-mail is not faster to refuse
            auth.hashers.run(auth.hashing.rehash, password)
            ok = False
        else:
            ok = auth.hashers.run(auth.hashing.verify, stored, password)
    except HashingBusy:
        with auth.db.write() as conn:
            release_attempt(auth, conn, attempt)
        raise
    if not ok or row is None or stored is None:
        with auth.db.write() as conn:
            reason = "unknown" if row is None else "inactive" if not row.active else "password"
            actor = None if row is None else int(row.id)
            auth.audit(conn, audit.LOGIN_FAILED, actor_id=actor, subject=address, detail={"reason": reason}, ip=ip)
        raise LoginFailed()
    user = user_from_row(row)
    upgraded = _upgraded_hash(auth, stored, password)
    with auth.db.write() as conn:
        clear_after_success(auth, conn, attempt)
        if upgraded is not None:
            conn.execute(sa.update(users).where(users.c.id == user.id).values(password_hash=upgraded))
        auth.audit(conn, audit.LOGIN, actor_id=user.id, subject=user.email, ip=ip)
    return user


def _upgraded_hash(auth: AuthDb, stored: str, password: str) -> str | None:
    """A hash with today's parameters when `stored` has old ones; None when current, or when the
    pool is busy (the upgrade waits for the next login rather than fail this one)."""
    if not auth.hashing.needs_rehash(stored):
        return None
    try:
        return auth.hashers.run(auth.hashing.rehash, password)
    except HashingBusy:
        return None


def _could_be_a_users(address: str) -> bool:
    """Whether `address` could be a user's e-mail (users are made with `normal_email`): e-mail
    shaped, at most 254 characters, no control characters (PostgreSQL text cannot hold NUL)."""
    return len(address) <= 254 and EMAIL_SHAPE.match(address) is not None and address.isprintable()


def record_logout(auth: AuthDb, user: User, ip: str | None) -> None:
    """Audit a logout (the web layer ends the session)."""
    with auth.db.write() as conn:
        auth.audit(conn, audit.LOGOUT, actor_id=user.id, subject=user.email, ip=ip)
