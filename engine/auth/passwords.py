"""Password hashes with argon2id, and the password policy."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from engine.auth.errors import AuthInvalid

MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id parameters; the defaults are RFC 9106's second recommended profile (64 MiB, t=3, p=4)."""

    time_cost: int = 3
    memory_cost: int = 64 * 1024  # KiB
    parallelism: int = 4

    def _hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_cost, parallelism=self.parallelism, type=Type.ID
        )

    def hash(self, password: str) -> str:
        """The argon2id hash (`$argon2id$v=19$m=...`) of a password that meets the policy."""
        check_password_policy(password)
        return self._hasher().hash(password)

    def rehash(self, password: str) -> str:
        """A fresh hash of a password that was just verified (kept even if it predates the policy)."""
        return self._hasher().hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when `password` matches; False for a mismatch or a malformed hash."""
        try:
            return self._hasher().verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters (rehash it after a successful login)."""
        try:
            return self._hasher().check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


DEFAULT_HASHING = PasswordHashing()


def check_password_policy(password: str) -> None:
    """Raise `AuthInvalid` when the password is too short (or only whitespace)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthInvalid(
            f"the password has {len(password)} characters; at least {MIN_PASSWORD_LENGTH} are needed",
            code="auth.weak_password",
        )
    if not password.strip():
        raise AuthInvalid("the password is only whitespace", code="auth.weak_password")


def hash_password(password: str) -> str:
    """Hash with the default argon2id parameters."""
    return DEFAULT_HASHING.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Check a password against its hash (constant-time inside argon2)."""
    return DEFAULT_HASHING.verify(password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash's parameters differ from the defaults."""
    return DEFAULT_HASHING.needs_rehash(password_hash)
