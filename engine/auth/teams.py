"""Teams with a manager hierarchy: a manager's scope is their teams and every team below them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from engine.auth import audit
from engine.auth.directory import AuthDb
from engine.auth.errors import AuthInvalid
from engine.auth.users import User, team_id_by_name, user_by_email
from engine.errors import Conflict


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    parent_id: int | None
    manager_id: int | None


def teams_below(parents: Mapping[int, int | None], root: int) -> set[int]:
    """`root` and every team under it, given each team's parent; terminates even on a cycle."""
    children: dict[int, list[int]] = {}
    for team, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(team)
    seen = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


class Teams:
    """The team service over `lw_team` and `lw_user.team_id`."""

    def __init__(self, auth: AuthDb) -> None:
        self.auth = auth
        self.t = auth.tables.team

    def create_team(
        self, name: str, *, parent: str | None = None, manager: str | None = None, actor_id: int | None = None
    ) -> Team:
        """A new team, optionally below `parent` (a team name) and led by `manager` (an e-mail)."""
        label = name.strip()
        if not label:
            raise AuthInvalid("a team needs a name", code="auth.bad_team")
        with self.auth.db.write() as conn:
            parent_id = None if parent is None else team_id_by_name(self.auth, conn, parent)
            manager_id = None if manager is None else user_by_email(self.auth, conn, manager).id
            values = {"name": label, "parent_id": parent_id, "manager_id": manager_id, "created_at": self.auth.now()}
            try:
                with conn.begin_nested():
                    team_id = int(conn.execute(sa.insert(self.t).returning(self.t.c.id), values).scalar_one())
            except IntegrityError:
                raise Conflict(f"a team named '{label}' already exists", code="team.exists") from None
            detail = {"parent": parent, "manager": manager}
            self.auth.audit(conn, audit.TEAM_CREATED, actor_id=actor_id, subject=label, detail=detail)
            return Team(team_id, label, parent_id, manager_id)

    def set_parent(self, name: str, parent: str | None, *, actor_id: int | None = None) -> None:
        """Move a team below another; refused when that would make the hierarchy a cycle."""
        with self.auth.db.write() as conn:
            team_id = team_id_by_name(self.auth, conn, name)
            parent_id = None if parent is None else team_id_by_name(self.auth, conn, parent)
            if parent_id is not None and parent_id in teams_below(self._parents(conn), team_id):
                raise AuthInvalid(
                    f"team '{parent}' is '{name}' or below it; the hierarchy would be a cycle", code="team.cycle"
                )
            conn.execute(sa.update(self.t).where(self.t.c.id == team_id).values(parent_id=parent_id))
            self.auth.audit(conn, audit.TEAM_CHANGED, actor_id=actor_id, subject=name, detail={"parent": parent})

    def set_manager(self, name: str, manager: str | None, *, actor_id: int | None = None) -> None:
        with self.auth.db.write() as conn:
            team_id = team_id_by_name(self.auth, conn, name)
            manager_id = None if manager is None else user_by_email(self.auth, conn, manager).id
            conn.execute(sa.update(self.t).where(self.t.c.id == team_id).values(manager_id=manager_id))
            self.auth.audit(conn, audit.TEAM_CHANGED, actor_id=actor_id, subject=name, detail={"manager": manager})

    def add_member(self, name: str, email: str, *, actor_id: int | None = None) -> None:
        """Put a user in a team (a user belongs to at most one team; this moves them)."""
        with self.auth.db.write() as conn:
            team_id = team_id_by_name(self.auth, conn, name)
            user = user_by_email(self.auth, conn, email)
            users = self.auth.tables.user
            conn.execute(sa.update(users).where(users.c.id == user.id).values(team_id=team_id))
            self.auth.audit(conn, audit.TEAM_CHANGED, actor_id=actor_id, subject=name, detail={"member": user.email})

    def list_teams(self) -> list[Team]:
        with self.auth.db.read() as conn:
            rows = conn.execute(sa.select(self.t).order_by(self.t.c.name))
            return [Team(int(r.id), r.name, r.parent_id, r.manager_id) for r in rows]

    def members(self, team_ids: Iterable[int]) -> set[int]:
        """Ids of the users in any of these teams."""
        ids = list(team_ids)
        users = self.auth.tables.user
        with self.auth.db.read() as conn:
            return {int(i) for i in conn.execute(sa.select(users.c.id).where(users.c.team_id.in_(ids))).scalars()}

    def team_scope(self, team_id: int) -> set[int]:
        """The team and every team below it."""
        with self.auth.db.read() as conn:
            return teams_below(self._parents(conn), team_id)

    def managed_scope(self, user_id: int) -> set[int]:
        """Every team the user manages, and the teams below those."""
        with self.auth.db.read() as conn:
            parents = self._parents(conn)
            managed = conn.execute(sa.select(self.t.c.id).where(self.t.c.manager_id == user_id)).scalars()
            scope: set[int] = set()
            for team_id in managed:
                scope |= teams_below(parents, int(team_id))
            return scope

    def visible_user_ids(self, user: User) -> set[int]:
        """The user and the members of the teams they manage, sub-teams included (team record scope)."""
        scope = self.managed_scope(user.id)
        return {user.id} | (self.members(scope) if scope else set())

    def _parents(self, conn: Connection) -> dict[int, int | None]:
        rows = conn.execute(sa.select(self.t.c.id, self.t.c.parent_id))
        return {int(r.id): None if r.parent_id is None else int(r.parent_id) for r in rows}
