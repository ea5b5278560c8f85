"""Login rate limiting, stored in `lw_login_attempt` so every worker process sees the same counts.

Each failed login adds a row for its e-mail and one for its address (IP). Within a sliding window,
an e-mail with `max_per_email` failures, or an address with `max_per_ip`, is locked until its
oldest counted failure leaves the window. A successful login clears the e-mail's failures (the
user proved the password) but not the address's, so one known account cannot reset an attacker's
address count.
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


def attempt_keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    """The counters one attempt touches, with the limit of each (no address: only the e-mail)."""
    return [(f"email:{email}", 0), *([(f"ip:{ip}", 1)] if ip else [])]


def locked_for(auth: AuthDb, conn: Connection, email: str, ip: str | None, limits: LoginLimits) -> int | None:
    """Seconds until this e-mail and address may try again, or None when they may try now."""
    t = auth.tables.login_attempt
    now = auth.now()
    since = now - limits.window
    wait: float = 0
    for key, which in attempt_keys(email, ip):
        limit = limits.max_per_email if which == 0 else limits.max_per_ip
        recent = conn.execute(
            sa.select(t.c.at).where(t.c.key == key, t.c.at > since).order_by(t.c.at.desc()).limit(limit)
        ).scalars()
        times: list[datetime] = list(recent)
        if len(times) >= limit:
            # the lock lifts when the oldest of the last `limit` failures leaves the window
            wait = max(wait, (times[-1] + limits.window - now).total_seconds())
    return max(1, int(wait + 0.999)) if wait > 0 else None


def record_failure(auth: AuthDb, conn: Connection, email: str, ip: str | None, limits: LoginLimits) -> None:
    """Count a failed login and forget this e-mail's and address's failures older than the window."""
    t = auth.tables.login_attempt
    now = auth.now()
    keys = [key for key, _ in attempt_keys(email, ip)]
    conn.execute(sa.delete(t).where(t.c.key.in_(keys), t.c.at <= now - limits.window))
    conn.execute(sa.insert(t), [{"key": key, "at": now} for key in keys])


def clear_failures(auth: AuthDb, conn: Connection, email: str) -> None:
    """Forget the e-mail's failures after a successful login."""
    t = auth.tables.login_attempt
    conn.execute(sa.delete(t).where(t.c.key == f"email:{email}"))
