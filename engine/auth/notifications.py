"""In-app notifications (`lw_notification`): a user's own, unread first, then newest; marking read.

A user only ever reaches their own notifications: another user's id is `NotFound`. What a
notification shows of its record (the title, the comment's excerpt) is shown only while the user
may still read the record — a share taken back, a record moved out of their scope or trashed
leaves the bare fact (who, when, which object and id) they were told at the time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from engine.auth.comments import Person, moment, people
from engine.auth.directory import AuthDb
from engine.auth.mentions import excerpt
from engine.errors import FieldProblem, InputInvalid, NotFound
from engine.store import guard
from engine.store.access import READ, Access
from engine.store.records import Store
from engine.store.tables import COMMENT_TABLE, NOTIFICATION_TABLE

#: Notifications per page: the default and the most.
PAGE, MAX_PAGE = 25, 200


@dataclass(frozen=True)
class Notification:
    id: int
    kind: str
    object: str
    record_id: int
    comment_id: int | None
    actor: Person | None
    created_at: datetime
    read_at: datetime | None
    #: The record's title and the comment's start, while the user may read the record (else None).
    record_title: str | None
    excerpt: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "object": self.object,
            "record_id": self.record_id,
            "comment_id": self.comment_id,
            "actor": None if self.actor is None else self.actor.as_dict(),
            "created_at": moment(self.created_at),
            "read_at": moment(self.read_at),
            "record_title": self.record_title,
            "excerpt": self.excerpt,
        }


@dataclass(frozen=True)
class NotificationPage:
    notifications: list[Notification]
    unread: int
    next_cursor: str | None


def parse_cursor(raw: str | None) -> tuple[bool, int] | None:
    """`u123` (still among the unread, after id 123) or `r123` (among the read); None: the start."""
    if raw is None:
        return None
    if len(raw) < 2 or raw[0] not in "ur" or not raw[1:].isascii() or not raw[1:].isdigit() or len(raw) > 19:
        raise InputInvalid([FieldProblem(("query", "cursor"), "not a cursor of this list", "query.bad_cursor")])
    return raw[0] == "u", int(raw[1:])


class Notifications:
    """The notification service: every call is for one user, the one signed in (`user_id`)."""

    def __init__(self, store: Store, auth: AuthDb) -> None:
        self.store = store
        self.auth = auth
        self.t = store.metadata.tables[NOTIFICATION_TABLE]
        self.comments = store.metadata.tables[COMMENT_TABLE]

    def unread(self, user_id: int) -> int:
        """How many of the user's notifications are unread (the shell's bell)."""
        with self.store.db.read() as conn:
            return self._unread(conn, user_id)

    def list_notifications(
        self,
        user_id: int,
        access: Access | None,
        *,
        limit: int = PAGE,
        cursor: str | None = None,
        unread_only: bool = False,
    ) -> NotificationPage:
        """One page of the user's notifications, unread first, newest first within each; `unread`
        counts all of them. A fixed number of queries whatever the page holds (one per object on it)."""
        after = parse_cursor(cursor)
        t = self.t
        where = [t.c.recipient_id == user_id]
        if unread_only:
            where.append(t.c.read_at.is_(None))
        if after is not None:
            in_unread, last = after
            if in_unread:
                where.append(sa.or_(sa.and_(t.c.read_at.is_(None), t.c.id < last), t.c.read_at.is_not(None)))
            else:
                where.extend([t.c.read_at.is_not(None), t.c.id < last])
        with self.store.db.read() as conn:
            unread = self._unread(conn, user_id)
            items = self._load(conn, where, access, limit + 1)
        more = len(items) > limit
        items = items[:limit]
        next_cursor = None
        if more:
            next_cursor = f"{'u' if items[-1].read_at is None else 'r'}{items[-1].id}"
        return NotificationPage(items, unread, next_cursor)

    def mark_read(self, user_id: int, notification_id: int, access: Access | None) -> tuple[Notification, int]:
        """Mark one of the user's notifications read (again: unchanged); returns it and the unread
        count. Another user's notification is NotFound, as a missing one."""
        t = self.t
        with self.store.db.write() as conn:
            mine = sa.and_(t.c.id == notification_id, t.c.recipient_id == user_id)
            row = conn.execute(sa.select(t.c.id, t.c.read_at).where(mine)).first()
            if row is None:
                raise NotFound(f"no notification {notification_id}", code="notification.not_found")
            if row.read_at is None:
                conn.execute(sa.update(t).where(mine).values(read_at=self.auth.now()))
            unread = self._unread(conn, user_id)
            return self._load(conn, [t.c.id == notification_id], access, 1)[0], unread

    def mark_all_read(self, user_id: int) -> int:
        """Mark every unread notification of the user read; returns how many were unread."""
        t = self.t
        with self.store.db.write() as conn:
            mine = sa.and_(t.c.recipient_id == user_id, t.c.read_at.is_(None))
            return int(conn.execute(sa.update(t).where(mine).values(read_at=self.auth.now())).rowcount)

    # -- helpers -------------------------------------------------------------------------------
    def _load(self, conn: Connection, where: list[Any], access: Access | None, limit: int) -> list[Notification]:
        """Up to `limit` notifications matching `where`, unread first, newest first, with what the
        user may see of their records (a fixed number of queries: one per object on the page)."""
        t, c = self.t, self.comments
        unread_first = sa.case((t.c.read_at.is_(None), 1), else_=0)
        stmt = (
            sa.select(t, c.c.body, c.c.mentions, c.c.deleted_at.label("comment_deleted_at"))
            .select_from(t.outerjoin(c, c.c.id == t.c.comment_id))
            .where(*where)
            .order_by(unread_first.desc(), t.c.id.desc())
            .limit(limit)
        )
        rows = conn.execute(stmt).all()
        titles = self._titles(conn, rows, access)
        mentioned = [int(u) for r in rows for u in (r.mentions or [])]
        named = people(conn, self.store.users, [*(r.actor_id for r in rows), *mentioned])
        names = {i: p.name for i, p in named.items()}
        items = []
        for r in rows:
            readable = (r.object, int(r.record_id)) in titles
            shown = readable and r.body is not None and r.comment_deleted_at is None
            items.append(
                Notification(
                    id=int(r.id),
                    kind=r.kind,
                    object=r.object,
                    record_id=int(r.record_id),
                    comment_id=None if r.comment_id is None else int(r.comment_id),
                    actor=None if r.actor_id is None else named.get(int(r.actor_id)),
                    created_at=r.created_at,
                    read_at=r.read_at,
                    record_title=titles.get((r.object, int(r.record_id))),
                    excerpt=excerpt(r.body, names) if shown else None,
                )
            )
        return items

    def _unread(self, conn: Connection, user_id: int) -> int:
        t = self.t
        count = sa.select(sa.func.count()).select_from(t).where(t.c.recipient_id == user_id, t.c.read_at.is_(None))
        return int(conn.execute(count).scalar_one())

    def _titles(
        self, conn: Connection, rows: Sequence[Any], access: Access | None
    ) -> dict[tuple[str, int], str | None]:
        """(object, record id) -> its title, for the records on the page the user may read now
        (one query per object; the title is None when the title field is hidden from them)."""
        wanted: dict[str, set[int]] = defaultdict(set)
        for r in rows:
            wanted[r.object].add(int(r.record_id))
        out: dict[tuple[str, int], str | None] = {}
        for name, ids in sorted(wanted.items()):
            if not any(o.name == name for o in self.store.app.objects):
                continue  # an object a later blueprint dropped
            obj = self.store.app.object(name)
            if access is not None and not access.may(name, READ):
                continue
            table = self.store.tables[name]
            hidden = access.hidden(name) if access is not None else frozenset()
            title = obj.title_field if obj.title_field in table.c and obj.title_field not in hidden else None
            cols = [table.c.id] + ([table.c[title]] if title else [])
            stmt = sa.select(*cols).where(table.c.id.in_(sorted(ids)))
            where = guard.rows(self.store, obj, READ, access)
            if where is not None:
                stmt = stmt.where(where)
            for row in conn.execute(stmt):
                value = row[1] if title else None
                out[(name, int(row[0]))] = None if value is None else str(value)
        return out
