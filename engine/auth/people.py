"""Fixture users and teams made by the user and team services (the store's `FixturePeople`).

The fixture loader lives in the store, below auth; it is handed this, so demo and test users
meet the password policy, the blueprint's role ids and the audit like users made any other way.
"""

from __future__ import annotations

from engine.auth.directory import AuthDb
from engine.auth.teams import Teams
from engine.auth.users import Users
from engine.store.fixtures import FixtureTeam, FixtureUser


class DirectoryPeople:
    """`FixturePeople` over `Users` and `Teams`; `actor_id` is who loads the fixtures (None: the system)."""

    def __init__(self, auth: AuthDb, *, actor_id: int | None = None) -> None:
        self.users = Users(auth)
        self.teams = Teams(auth)
        self.actor_id = actor_id

    def create_user(self, user: FixtureUser) -> int:
        created = self.users.create_user(
            user.email,
            user.name,
            user.role,
            password=user.password,
            locale=user.locale,
            region=user.region,
            actor_id=self.actor_id,
        )
        return created.id

    def create_team(self, team: FixtureTeam) -> None:
        self.teams.create_team(team.name, parent=team.parent, manager=team.manager, actor_id=self.actor_id)

    def add_member(self, team: str, email: str) -> None:
        self.teams.add_member(team, email, actor_id=self.actor_id)
