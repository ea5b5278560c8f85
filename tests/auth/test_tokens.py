"""API tokens: shown once, hashed at rest, expiring, revocable, refused for inactive users."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.auth.errors import AuthInvalid
from engine.auth.tokens import Tokens, token_hash
from engine.auth.users import Users
from engine.errors import NotFound
from tests.auth.support import FakeClock


def every_stored_text(auth: AuthDb) -> str:
    """Every value of every table, as text: what an attacker with a database dump would see."""
    out = []
    with auth.db.read() as conn:
        for name in sa.inspect(conn).get_table_names():
            out += [repr(tuple(row)) for row in conn.execute(sa.text(f'SELECT * FROM "{name}"'))]
    return "\n".join(out)


def test_the_secret_is_shown_once_and_only_its_hash_is_stored(auth: AuthDb) -> None:
    user = Users(auth).create_user("a@b.io", "A", "sales_rep")
    token_id, secret = Tokens(auth).create_token(user.id, "ci")
    assert secret.startswith("lw_") and len(secret) >= 40
    dump = every_stored_text(auth)
    assert secret not in dump
    assert secret[3:] not in dump
    assert token_hash(secret) in dump
    info = Tokens(auth).list_tokens()[0]
    assert (info.id, info.email, info.name, info.prefix) == (token_id, "a@b.io", "ci", secret[:8])
    assert audit_entries(auth, kind="token_created")[0].detail == {"token_id": token_id, "name": "ci"}


def test_authenticate_returns_the_user_and_records_use_once_a_minute(auth: AuthDb, clock: FakeClock) -> None:
    user = Users(auth).create_user("a@b.io", "A", "sales_rep")
    tokens = Tokens(auth)
    _, secret = tokens.create_token(user.id)
    assert tokens.authenticate(secret, ip="10.0.0.1") == user
    assert tokens.authenticate(secret) == user
    assert len(audit_entries(auth, kind="token_used")) == 1
    assert tokens.list_tokens()[0].last_used_at == clock.now
    clock.advance(minutes=1)
    assert tokens.authenticate(secret) == user
    used = audit_entries(auth, kind="token_used")
    assert len(used) == 2
    assert used[1].ip == "10.0.0.1"


@pytest.mark.parametrize("secret", ["", "lw_", "lw_nope", "Bearer x", "x" * 50])
def test_unknown_secrets_are_refused(auth: AuthDb, secret: str) -> None:
    user = Users(auth).create_user("a@b.io", "A", "sales_rep")
    Tokens(auth).create_token(user.id)
    assert Tokens(auth).authenticate(secret) is None


def test_expired_tokens_are_refused(auth: AuthDb, clock: FakeClock) -> None:
    user = Users(auth).create_user("a@b.io", "A", "sales_rep")
    tokens = Tokens(auth)
    _, secret = tokens.create_token(user.id, expires_in=timedelta(days=1))
    clock.advance(hours=23, minutes=59)
    assert tokens.authenticate(secret) == user
    clock.advance(minutes=1)
    assert tokens.authenticate(secret) is None
    assert tokens.list_tokens()[0].state(clock.now) == "expired"
    with pytest.raises(AuthInvalid, match="must be positive"):
        tokens.create_token(user.id, expires_in=timedelta(0))


def test_revoked_tokens_are_refused_and_revoking_is_audited(auth: AuthDb, clock: FakeClock) -> None:
    user = Users(auth).create_user("a@b.io", "A", "sales_rep")
    tokens = Tokens(auth)
    token_id, secret = tokens.create_token(user.id)
    _, other = tokens.create_token(user.id)
    tokens.revoke(token_id)
    tokens.revoke(token_id)  # idempotent
    assert tokens.authenticate(secret) is None
    assert tokens.authenticate(other) == user
    assert [e.detail for e in audit_entries(auth, kind="token_revoked")] == [{"token_id": token_id}]
    assert tokens.list_tokens()[0].state(clock.now) == "revoked"
    with pytest.raises(NotFound, match="no token with id 999"):
        tokens.revoke(999)


def test_tokens_of_inactive_users_are_refused(auth: AuthDb) -> None:
    user = Users(auth).create_user("a@b.io", "A", "sales_rep")
    _, secret = Tokens(auth).create_token(user.id)
    Users(auth).deactivate("a@b.io")
    assert Tokens(auth).authenticate(secret) is None


def test_list_tokens_of_one_user(auth: AuthDb) -> None:
    a = Users(auth).create_user("a@b.io", "A", "sales_rep")
    b = Users(auth).create_user("b@b.io", "B", "sales_rep")
    tokens = Tokens(auth)
    tokens.create_token(a.id, "one")
    tokens.create_token(b.id, "two")
    assert [t.name for t in tokens.list_tokens(b.id)] == ["two"]
    with pytest.raises(NotFound):
        tokens.create_token(999)
