"""Errors of the auth room: each names what was wrong, never which secret was wrong."""

from __future__ import annotations

from engine.errors import LoomworkError, Unavailable


class AuthInvalid(LoomworkError):
    """Input to an auth operation is not acceptable (bad e-mail, weak password, unknown team)."""

    code = "auth.invalid"


class LoginFailed(LoomworkError):
    """Wrong e-mail or password: the same message for both, so e-mails cannot be probed."""

    code = "auth.login_failed"

    def __init__(self) -> None:
        super().__init__("wrong e-mail or password")


class LoginLocked(LoomworkError):
    """Too many failed logins for this e-mail or address; `retry_after` is in seconds."""

    code = "auth.locked"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(f"too many failed logins; try again in {minutes} minute{'s' * (minutes != 1)}")
        self.retry_after = retry_after


class HashingBusy(Unavailable):
    """Every password-hashing slot is taken and the queue is full or moved too slowly; retry later."""

    code = "auth.busy"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many sign-ins at once; try again in {retry_after} seconds", code="auth.busy", retry_after=retry_after
        )
