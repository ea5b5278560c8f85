"""The store's `Access` for one user, answered by the one policy function (`engine.auth.policy.decide`).

Build one per request (`access_for`); decisions and row filters are computed once per
(object, action) and kept for the request.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Table
from sqlalchemy.sql import FromClause

from engine.auth.directory import AuthDb
from engine.auth.policy import Decision, Subject, decide
from engine.auth.teams import teams_below
from engine.auth.users import User
from engine.store.access import ASSIGN, CREATE, READ, UPDATE
from engine.store.computed import TableScope
from engine.store.records import Store


def subject_for(auth: AuthDb, user: User) -> Subject:
    """The policy's view of `user`: their role, their team plus every team they manage (and below)."""
    teams = auth.tables.team
    with auth.db.read() as conn:
        rows = conn.execute(sa.select(teams.c.id, teams.c.parent_id, teams.c.manager_id)).all()
        parents = {int(r.id): None if r.parent_id is None else int(r.parent_id) for r in rows}
        team_ids: set[int] = set()
        if user.team_id is not None:
            team_ids.add(user.team_id)
        for r in rows:
            if r.manager_id is not None and int(r.manager_id) == user.id:
                team_ids |= teams_below(parents, int(r.id))
        members = auth.tables.user
        member_ids = (
            {int(i) for i in conn.execute(sa.select(members.c.id).where(members.c.team_id.in_(team_ids))).scalars()}
            if team_ids
            else set()
        )
    attributes = {"email": user.email, "locale": user.locale, "region": user.region, "team": user.team_id}
    return Subject(
        user.id,
        frozenset({user.role}) if user.role else frozenset(),
        frozenset(team_ids),
        attributes,
        member_ids=frozenset(member_ids),
    )


class PolicyAccess:
    """`engine.store.access.Access` for one subject on one store."""

    def __init__(self, store: Store, subject: Subject) -> None:
        self.store = store
        self.subject = subject
        self._decisions: dict[tuple[str, str], Decision] = {}
        self._rows: dict[tuple[str, str, FromClause], ColumnElement[bool] | None] = {}
        self._shares: dict[str, bool] = {}

    @property
    def actor_id(self) -> int | None:
        return self.subject.id

    @property
    def key(self) -> Hashable:
        return self.subject.roles

    def decision(self, object_name: str, action: str) -> Decision:
        found = self._decisions.get((object_name, action))
        if found is None:
            found = decide(self.store.app, self.subject, object_name, action, types=self.store.types)
            self._decisions[(object_name, action)] = found
        return found

    def may(self, object_name: str, action: str) -> bool:
        return self.decision(object_name, UPDATE if action == ASSIGN else action).allowed

    def rows(self, object_name: str, action: str, table: FromClause) -> ColumnElement[bool] | None:
        # Keyed by the table object itself (kept alive by the key), so an alias is never mistaken
        # for another one that happens to reuse its id.
        key = (object_name, action, table)
        if key not in self._rows:
            if action == ASSIGN:  # the role's own update scope: shares never give a record away
                decision = self.decision(object_name, UPDATE)
                self._rows[key] = decision.row_filter(table, self._scope, shares=False, metadata=self.store.metadata)
                return self._rows[key]
            decision = self.decision(object_name, action)
            # Shares widen a restricted read or update scope only: probe for them only then.
            restricted = decision.allowed and not decision.unrestricted and action in (READ, UPDATE)
            root = decision.parent.object if decision.parent else object_name
            shares = restricted and self._has_shares(root)
            self._rows[key] = decision.row_filter(table, self._scope, shares=shares, metadata=self.store.metadata)
        return self._rows[key]

    def alternatives(self, object_name: str, action: str, table: Table) -> list[ColumnElement[bool]] | None:
        decision = self.decision(object_name, action)
        restricted = decision.allowed and not decision.unrestricted and action in (READ, UPDATE)
        shares = restricted and self._has_shares(decision.parent.object if decision.parent else object_name)
        return decision.row_alternatives(table, self._scope, shares=shares)

    def _has_shares(self, object_name: str) -> bool:
        """Whether any record of the object is shared with the user or their teams (one indexed probe)."""
        found = self._shares.get(object_name)
        if found is None:
            t = self.store.metadata.tables["lw_share"]
            who = t.c.user_id == self.subject.id
            if self.subject.team_ids:
                who = sa.or_(who, t.c.team_id.in_(sorted(self.subject.team_ids)))
            probe = sa.select(t.c.id).where(t.c.object == object_name, who).limit(1)
            with self.store.db.read() as conn:
                found = conn.execute(probe).first() is not None
            self._shares[object_name] = found
        return found

    def hidden(self, object_name: str) -> frozenset[str]:
        return self.decision(object_name, READ).hidden

    def locked(self, object_name: str) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for action in (READ, CREATE, UPDATE):
            d = self.decision(object_name, action)
            if d.allowed:
                out |= d.hidden | d.read_only
        return out

    def attribute(self, name: str) -> Any:
        return self.subject.attribute(name)

    def _scope(self, obj: Any, table: Any) -> TableScope:
        return TableScope(self.store, obj, table)


def access_for(store: Store, auth: AuthDb, user: User) -> PolicyAccess:
    """The access of an authenticated, active user."""
    return PolicyAccess(store, subject_for(auth, user))
