"""Users: create (validated), reset a password, change a role, deactivate, list. Every change is audited."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from engine.auth import audit
from engine.auth.directory import AuthDb
from engine.auth.errors import AuthInvalid
from engine.errors import Conflict, NotFound

EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
ROLE_SHAPE = re.compile(r"^[a-z][a-z0-9_]*$")
#: The UI languages a user may choose.
LOCALES = ("en", "zh")


@dataclass(frozen=True)
class User:
    """A user as the auth room sees one (never with the password hash)."""

    id: int
    email: str
    name: str
    locale: str
    active: bool
    role: str | None
    team_id: int | None
    region: str | None


def normal_email(email: str) -> str:
    """E-mails are stored trimmed and lower-case; raises `AuthInvalid` when it is not e-mail shaped."""
    value = email.strip().lower()
    if not EMAIL_SHAPE.match(value):
        raise AuthInvalid(f"'{email}' is not an e-mail address", code="auth.bad_email")
    return value


def check_role(role: str) -> str:
    """A role id: lower-case letters, digits and underscores (e.g. `sales_rep`)."""
    value = role.strip()
    if not ROLE_SHAPE.match(value):
        raise AuthInvalid(
            f"role '{role}' is not a role id (lower-case letters, digits and _, e.g. sales_rep)", code="auth.bad_role"
        )
    return value


def known_role(conn: Connection, role: str) -> str:
    """A role id (shape checked) that the blueprint applied to the database declares (`admin` is
    always one); raises `AuthInvalid` naming the blueprint's roles. A database no blueprint was
    applied to (tables made directly, as tests do) has no list to check against."""
    from engine.store.migrate.stored import applied_role_ids  # here: the migrate package loads alembic

    role_id = check_role(role)
    roles = applied_role_ids(conn)
    if roles is None or role_id in roles:
        return role_id
    close = difflib.get_close_matches(role_id, sorted(roles), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise AuthInvalid(
        f"'{role_id}' is not a role of the blueprint{hint}; its roles are {', '.join(sorted(roles))}",
        code="auth.unknown_role",
    )


def user_from_row(row: Any) -> User:
    return User(
        id=int(row.id),
        email=row.email,
        name=row.name,
        locale=row.locale,
        active=bool(row.active),
        role=row.role,
        team_id=None if row.team_id is None else int(row.team_id),
        region=row.region,
    )


class Users:
    """The user service over `lw_user`; `actor_id` on each change is who made it (None: the CLI)."""

    def __init__(self, auth: AuthDb) -> None:
        self.auth = auth
        self.t = auth.tables.user

    def create_user(
        self,
        email: str,
        name: str,
        role: str | None,
        *,
        team: str | None = None,
        password: str | None = None,
        locale: str = "",
        region: str | None = None,
        actor_id: int | None = None,
    ) -> User:
        """Create an active user; without a password the user can only use API tokens, without a
        role they may do nothing. The one way users are made (CLI, demo and test fixtures). An
        empty `locale` means not chosen: pages follow the browser, then the app's default."""
        address = normal_email(email)
        if not name.strip():
            raise AuthInvalid("a user needs a name", code="auth.bad_name")
        role_id = None if role is None else self.check_role(role)  # before the slow hashing
        password_hash = None if password is None else self.auth.hashers.run(self.auth.hashing.hash, password)
        with self.auth.db.write() as conn:
            role_id = None if role_id is None else known_role(conn, role_id)
            team_id = None if team is None else team_id_by_name(self.auth, conn, team)
            values = {
                "email": address,
                "name": name.strip(),
                "locale": locale,
                "active": True,
                "password_hash": password_hash,
                "created_at": self.auth.now(),
                "role": role_id,
                "team_id": team_id,
                "region": region,
            }
            try:
                with conn.begin_nested():
                    user_id = int(conn.execute(sa.insert(self.t).returning(self.t.c.id), values).scalar_one())
            except IntegrityError:
                raise Conflict(f"a user with e-mail {address} already exists", code="user.exists") from None
            detail = {"role": role_id, "team": team}
            self.auth.audit(conn, audit.USER_CREATED, actor_id=actor_id, subject=address, detail=detail)
            return self._get(conn, user_id)

    def check_role(self, role: str) -> str:
        """The role id when users may have it here (see `known_role`); raises `AuthInvalid`."""
        with self.auth.db.read() as conn:
            return known_role(conn, role)

    def get(self, email: str) -> User:
        """The user with this e-mail; raises `NotFound`."""
        with self.auth.db.read() as conn:
            return user_by_email(self.auth, conn, email)

    def by_id(self, user_id: int) -> User:
        with self.auth.db.read() as conn:
            return self._get(conn, user_id)

    def list_users(self) -> list[User]:
        """Every user, active or not, by e-mail."""
        with self.auth.db.read() as conn:
            return [user_from_row(r) for r in conn.execute(sa.select(self.t).order_by(self.t.c.email))]

    def set_password(self, email: str, password: str, *, actor_id: int | None = None) -> None:
        """An admin's password reset (policy checked, argon2id hash stored)."""
        password_hash = self.auth.hashers.run(self.auth.hashing.hash, password)
        self._change(email, {"password_hash": password_hash}, audit.PASSWORD_RESET, {}, actor_id)
        self._end_sessions(email)

    def set_role(self, email: str, role: str, *, actor_id: int | None = None) -> None:
        """Give the user another role of the blueprint (checked like `create_user`'s)."""
        role_id = self.check_role(role)
        old = self.get(email).role
        self._change(email, {"role": role_id}, audit.ROLE_CHANGED, {"from": old, "to": role_id}, actor_id)

    def set_region(self, email: str, region: str | None, *, actor_id: int | None = None) -> None:
        self._change(email, {"region": region}, audit.ROLE_CHANGED, {"region": region}, actor_id)

    def set_locale(self, user_id: int, locale: str) -> None:
        """The user's UI language (`en` or `zh`; empty: follow the browser): a preference of their
        own, not audited."""
        if locale not in LOCALES and locale != "":
            raise AuthInvalid(f"'{locale[:20]}' is not a language of the app (en, zh)", code="auth.bad_locale")
        with self.auth.db.write() as conn:
            conn.execute(sa.update(self.t).where(self.t.c.id == user_id).values(locale=locale))

    def deactivate(self, email: str, *, actor_id: int | None = None) -> None:
        """The user can no longer log in nor use tokens; records they own stay theirs."""
        self._change(email, {"active": False}, audit.USER_DEACTIVATED, {}, actor_id)
        self._end_sessions(email)

    def _end_sessions(self, email: str) -> None:
        """A password reset or a deactivation signs the user out everywhere."""
        t = self.auth.tables.session
        with self.auth.db.write() as conn:
            user = user_by_email(self.auth, conn, email)
            conn.execute(sa.delete(t).where(t.c.user_id == user.id))

    def _change(
        self, email: str, values: dict[str, Any], kind: str, detail: dict[str, Any], actor_id: int | None
    ) -> None:
        with self.auth.db.write() as conn:
            user = user_by_email(self.auth, conn, email)
            conn.execute(sa.update(self.t).where(self.t.c.id == user.id).values(values))
            self.auth.audit(conn, kind, actor_id=actor_id, subject=user.email, detail=detail)

    def _get(self, conn: Connection, user_id: int) -> User:
        row = conn.execute(sa.select(self.t).where(self.t.c.id == user_id)).first()
        if row is None:
            raise NotFound(f"no user with id {user_id}", code="user.not_found")
        return user_from_row(row)


def user_names(auth: AuthDb, ids: Iterable[int]) -> dict[int, str]:
    """The display names of these users (one query; unknown ids are left out)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    t = auth.tables.user
    with auth.db.read() as conn:
        return {int(r.id): r.name for r in conn.execute(sa.select(t.c.id, t.c.name).where(t.c.id.in_(wanted)))}


def user_by_email(auth: AuthDb, conn: Connection, email: str) -> User:
    t = auth.tables.user
    row = conn.execute(sa.select(t).where(t.c.email == email.strip().lower())).first()
    if row is None:
        raise NotFound(f"no user with e-mail {email.strip().lower()}", code="user.not_found")
    return user_from_row(row)


def team_id_by_name(auth: AuthDb, conn: Connection, name: str) -> int:
    t = auth.tables.team
    found = conn.execute(sa.select(t.c.id).where(t.c.name == name.strip())).scalar()
    if found is None:
        raise NotFound(f"no team named '{name.strip()}'", code="team.not_found")
    return int(found)
