"""Sharing single records with a user or a team (`lw_share`), audited.

Whoever may update a record through their role's own scope may share it (an administrator, its
owner, a manager over it) — not someone it is only shared with: a share lends a record, it never
lets the borrower lend it on (`ASSIGN`). Whoever may read a record may see its shares. A share
widens the record scope only: the receiving user's role must still allow the action on the
object (see docs/permissions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.auth import audit
from engine.auth.directory import AuthDb
from engine.errors import FieldProblem, InputInvalid, NotFound
from engine.store import guard
from engine.store.access import ASSIGN, READ, UPDATE, Access, require
from engine.store.records import Store


@dataclass(frozen=True)
class Share:
    id: int
    object: str
    record_id: int
    user_id: int | None
    team_id: int | None
    can_edit: bool
    created_by: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "team_id": self.team_id,
            "can_edit": self.can_edit,
            "created_by": self.created_by,
        }


def _share(row: Any) -> Share:
    return Share(
        int(row.id),
        row.object,
        int(row.record_id),
        None if row.user_id is None else int(row.user_id),
        None if row.team_id is None else int(row.team_id),
        bool(row.can_edit),
        None if row.created_by is None else int(row.created_by),
    )


class Shares:
    """The share service for one store; every call takes the acting user's access."""

    def __init__(self, store: Store, auth: AuthDb) -> None:
        self.store = store
        self.auth = auth
        self.t = store.metadata.tables["lw_share"]

    def list_shares(self, object_name: str, record_id: int, access: Access | None) -> list[Share]:
        obj = self.store.object(object_name)
        require(access, obj.name, READ)
        with self.store.db.read() as conn:
            guard.reach(self.store, conn, obj, record_id, READ, access)
            rows = conn.execute(
                sa.select(self.t)
                .where(self.t.c.object == obj.name, self.t.c.record_id == record_id)
                .order_by(self.t.c.id)
            )
            return [_share(r) for r in rows]

    def share(self, object_name: str, record_id: int, body: Any, access: Access | None) -> Share:
        """Share with `{"user_id": N}` or `{"team_id": N}`, optionally `"can_edit": true`.
        Sharing again with the same user or team updates `can_edit`."""
        obj = self.store.object(object_name)
        if obj.parent:
            raise InputInvalid([FieldProblem(("body",), f"share the {obj.parent}, not its lines", "share.child")])
        require(access, obj.name, UPDATE)
        user_id, team_id, can_edit = _parse(body)
        users, teams = self.auth.tables.user, self.auth.tables.team
        with self.store.db.write() as conn:
            guard.reach(self.store, conn, obj, record_id, ASSIGN, access)
            target, table = ("user_id", users) if user_id is not None else ("team_id", teams)
            wanted = user_id if user_id is not None else team_id
            if conn.execute(sa.select(table.c.id).where(table.c.id == wanted)).first() is None:
                what = "user" if user_id is not None else "team"
                raise InputInvalid([FieldProblem(("body", target), f"no {what} with id {wanted}", "field.not_found")])
            match = sa.and_(self.t.c.object == obj.name, self.t.c.record_id == record_id, self.t.c[target] == wanted)
            existing = conn.execute(sa.select(self.t.c.id).where(match)).scalar()
            if existing is None:
                values = {
                    "object": obj.name,
                    "record_id": record_id,
                    "user_id": user_id,
                    "team_id": team_id,
                    "can_edit": can_edit,
                    "created_by": access.actor_id if access else None,
                }
                share_id = int(conn.execute(sa.insert(self.t).returning(self.t.c.id), values).scalar_one())
            else:
                share_id = int(existing)
                conn.execute(sa.update(self.t).where(self.t.c.id == share_id).values(can_edit=can_edit))
            detail = {"object": obj.name, "record_id": record_id, target: wanted, "can_edit": can_edit}
            actor = access.actor_id if access else None
            self.auth.audit(conn, audit.RECORD_SHARED, actor_id=actor, subject=f"{obj.name} {record_id}", detail=detail)
            return _share(conn.execute(sa.select(self.t).where(self.t.c.id == share_id)).one())

    def unshare(self, object_name: str, record_id: int, share_id: int, access: Access | None) -> None:
        obj = self.store.object(object_name)
        require(access, obj.name, UPDATE)
        with self.store.db.write() as conn:
            guard.reach(self.store, conn, obj, record_id, ASSIGN, access)
            gone = conn.execute(
                sa.delete(self.t).where(
                    self.t.c.id == share_id, self.t.c.object == obj.name, self.t.c.record_id == record_id
                )
            ).rowcount
            if not gone:
                raise NotFound(f"{obj.name} {record_id} has no share {share_id}", code="share.not_found")
            actor = access.actor_id if access else None
            detail = {"object": obj.name, "record_id": record_id, "share_id": share_id}
            self.auth.audit(
                conn, audit.RECORD_UNSHARED, actor_id=actor, subject=f"{obj.name} {record_id}", detail=detail
            )


def _parse(body: Any) -> tuple[int | None, int | None, bool]:
    if not isinstance(body, dict):
        raise InputInvalid([FieldProblem(("body",), "expected a JSON object", "type.object")])
    problems = [
        FieldProblem(("body", k), f"unknown field '{k}'", "field.unknown")
        for k in body
        if k not in ("user_id", "team_id", "can_edit")
    ]
    ids = {k: body.get(k) for k in ("user_id", "team_id") if body.get(k) is not None}
    if len(ids) != 1:
        problems.append(FieldProblem(("body",), "give exactly one of user_id and team_id", "share.target"))
    for k, v in ids.items():
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v < 2**63:  # ids are 64-bit
            problems.append(FieldProblem(("body", k), f"'{k}' must be a positive whole number", "type.integer"))
    can_edit = body.get("can_edit", False)
    if not isinstance(can_edit, bool):
        problems.append(FieldProblem(("body", "can_edit"), "'can_edit' must be true or false", "type.boolean"))
    if problems:
        raise InputInvalid(problems)
    return ids.get("user_id"), ids.get("team_id"), bool(can_edit)
