"""argon2id hashes, verification, rehash detection and the length policy (no database)."""

from __future__ import annotations

import pytest

from engine.auth.errors import AuthInvalid
from engine.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    PasswordHashing,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)

FAST = PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)


def test_default_hash_is_argon2id_with_the_documented_parameters() -> None:
    h = hash_password("correct horse battery")
    assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(h, "correct horse battery")
    assert not verify_password(h, "correct horse batterY")
    assert not needs_rehash(h)


def test_each_hash_has_its_own_salt() -> None:
    assert FAST.hash("0123456789") != FAST.hash("0123456789")


def test_a_hash_with_other_parameters_needs_a_rehash() -> None:
    h = FAST.hash("0123456789")
    assert needs_rehash(h)
    assert not FAST.needs_rehash(h)
    assert verify_password(h, "0123456789")  # old parameters still verify


def test_malformed_hashes_never_verify() -> None:
    assert not FAST.verify("not-a-hash", "0123456789")
    assert FAST.needs_rehash("not-a-hash")


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_short_passwords_are_refused_with_the_rule(password: str) -> None:
    with pytest.raises(AuthInvalid, match=rf"has {len(password)} characters; at least {MIN_PASSWORD_LENGTH}") as e:
        FAST.hash(password)
    assert e.value.code == "auth.weak_password"


def test_whitespace_only_passwords_are_refused() -> None:
    with pytest.raises(AuthInvalid, match="only whitespace"):
        check_password_policy(" " * 12)


def test_rehash_skips_the_policy_for_a_verified_old_password() -> None:
    assert FAST.verify(FAST.rehash("short"), "short")
