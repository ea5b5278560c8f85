"""Login rate limiting, stored in `lw_login_attempt` so every worker process sees the same counts.

An attempt is counted *before* its password is checked: `reserve_attempt` adds a row for its
e-mail and one for its address (IP) in the same transaction that finds them under their limits,
so N logins at once can never check more than the limit's worth of passwords. Attempts on one
e-mail or address take that transaction one at a time: SQLite's writers start with `BEGIN
IMMEDIATE` (one at a time anyway); PostgreSQL takes a transaction-level advisory lock per key, so
it holds across worker processes and servers. A failed check leaves the rows (they are the
failure); a success removes its own rows and the e-mail's failures; an attempt whose password was
never checked (the server was busy) removes its rows.

Within a sliding window, an e-mail with `max_per_email` counted attempts, or an address with
`max_per_ip`, is locked until its oldest counted attempt leaves the window. A success clears the
e-mail's count (the user proved the password) but not the address's, so one known account cannot
reset an attacker's address count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection

from engine.auth.directory import AuthDb


@dataclass(frozen=True)
class LoginLimits:
    """How many failures within `window` lock an e-mail or an address."""

    max_per_email: int = 5
    max_per_ip: int = 20
    window: timedelta = timedelta(minutes=15)


DEFAULT_LIMITS = LoginLimits()
#: The first key of PostgreSQL advisory locks on login counters ("LW" + 1), apart from other users'.
ADVISORY_CLASS = 0x4C5701


@dataclass(frozen=True)
class Attempt:
    """One login attempt's place in the counts: the rows it reserved, or how long it must wait."""

    email: str
    row_ids: tuple[int, ...] = ()
    #: Seconds until this e-mail and address may try again; None when the attempt was reserved.
    wait: int | None = None


def attempt_keys(email: str, ip: str | None, limits: LoginLimits) -> list[tuple[str, int]]:
    """The counters one attempt touches, with the limit of each (no address: only the e-mail)."""
    return [(f"email:{email}", limits.max_per_email), *([(f"ip:{ip}", limits.max_per_ip)] if ip else [])]


def reserve_attempt(auth: AuthDb, conn: Connection, email: str, ip: str | None, limits: LoginLimits) -> Attempt:
    """Count an attempt for this e-mail and address unless either is locked (then count nothing).

    Call inside `auth.db.write()`; the rows are the attempt's failure until `clear_after_success`
    or `release_attempt` removes them.
    """
    t = auth.tables.login_attempt
    now = auth.now()
    keys = attempt_keys(email, ip, limits)
    if conn.dialect.name == "postgresql":
        for key, _ in sorted(keys):  # one order everywhere, so two attempts never wait on each other
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_CLASS, sa.func.hashtext(key))))
    wait = _locked_for(conn, t, keys, now, limits.window)
    if wait is not None:
        return Attempt(email, wait=wait)
    names = [key for key, _ in keys]
    conn.execute(sa.delete(t).where(t.c.key.in_(names), t.c.at <= now - limits.window))
    ids = tuple(int(conn.execute(sa.insert(t).values(key=key, at=now).returning(t.c.id)).scalar_one()) for key in names)
    return Attempt(email, ids)


def _locked_for(
    conn: Connection, t: sa.Table, keys: list[tuple[str, int]], now: datetime, window: timedelta
) -> int | None:
    """Seconds until every key is under its limit again, or None when all are under it now."""
    wait: float = 0
    for key, limit in keys:
        recent = conn.execute(
            sa.select(t.c.at).where(t.c.key == key, t.c.at > now - window).order_by(t.c.at.desc()).limit(limit)
        ).scalars()
        times: list[datetime] = list(recent)
        if len(times) >= limit:
            # the lock lifts when the oldest of the last `limit` attempts leaves the window
            wait = max(wait, (times[-1] + window - now).total_seconds())
    return max(1, int(wait + 0.999)) if wait > 0 else None


def release_attempt(auth: AuthDb, conn: Connection, attempt: Attempt) -> None:
    """Uncount an attempt whose password was never checked."""
    t = auth.tables.login_attempt
    if attempt.row_ids:
        conn.execute(sa.delete(t).where(t.c.id.in_(attempt.row_ids)))


def clear_after_success(auth: AuthDb, conn: Connection, attempt: Attempt) -> None:
    """Forget the e-mail's count and this attempt's rows after a successful login."""
    t = auth.tables.login_attempt
    conn.execute(sa.delete(t).where(sa.or_(t.c.key == f"email:{attempt.email}", t.c.id.in_(attempt.row_ids))))


def reserve_submission(auth: AuthDb, conn: Connection, form: str, ip: str | None, per_hour: int) -> int | None:
    """Count one submission of a public form from this address unless the address already sent
    `per_hour` within the hour: then nothing is counted and the seconds to wait are returned.
    Stored with the login attempts (`lw_login_attempt`), so every worker process sees the count;
    call inside `auth.db.write()`."""
    key = f"form:{form}:ip:{ip or '-'}"
    limits = LoginLimits(max_per_email=per_hour, max_per_ip=per_hour, window=timedelta(hours=1))
    t = auth.tables.login_attempt
    now = auth.now()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_CLASS, sa.func.hashtext(key))))
    wait = _locked_for(conn, t, [(key, per_hour)], now, limits.window)
    if wait is not None:
        return wait
    conn.execute(sa.delete(t).where(t.c.key == key, t.c.at <= now - limits.window))
    conn.execute(sa.insert(t).values(key=key, at=now))
    return None
