"""A record's timeline: its changes, its comments and the activities that point at it, newest first.

Activities are the records of objects the blueprint marks `timeline:` (docs/blueprint.md) whose
lookups point at this record. Everything is within the reader's scope: the record itself must be
readable, changes of hidden fields are left out (as in its history), activities are only those
the reader may read, through lookups not hidden from them, placed at a moment not hidden from them.

The number of queries is fixed by the blueprint, never by the entries: the record check, two for
the changes, one for the comments, one per activity object and one for the people named.
A page holds the newest `limit` entries before the cursor; each source reads at most `limit` + 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from engine.auth.comments import Comment, Person, comment_from_row, moment, people
from engine.auth.mentions import excerpt
from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem, InputInvalid
from engine.store import guard
from engine.store.access import READ, Access, require
from engine.store.records import Store
from engine.store.tables import COMMENT_TABLE

#: Entries per page: the default and the most.
PAGE, MAX_PAGE = 50, 200
#: Order among entries at the same moment (newest first puts higher ranks first): changes, comments,
#: then activities by their object's place in the blueprint.
CHANGE, COMMENT, ACTIVITY = 0, 1, 2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Microseconds from EPOCH to the last moment of the year 9999.
LAST_MOMENT = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
_ACTIONS = {"create": "created", "delete": "deleted", "restore": "restored"}


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last entry's moment (microseconds since 1970), rank and id."""

    at: int
    rank: int
    id: int

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        if raw is None:
            return None
        parts = raw.split(".")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() and 0 < len(p) <= 18 for p in parts):
            raise InputInvalid([FieldProblem(("query", "cursor"), "not a cursor of this timeline", "query.bad_cursor")])
        found = cls(*(int(p) for p in parts))
        if found.at > LAST_MOMENT:  # past the year 9999: no moment the store can hold
            raise InputInvalid([FieldProblem(("query", "cursor"), "not a cursor of this timeline", "query.bad_cursor")])
        return found

    def __str__(self) -> str:
        return f"{self.at}.{self.rank}.{self.id}"

    @property
    def moment(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.at)

    def before(self, at: Any, rank: int, key: Any) -> ColumnElement[bool]:
        """Rows of a source of `rank` that come after this cursor (newest first)."""
        if rank < self.rank:
            return sa.and_(at <= self.moment)
        if rank > self.rank:
            return sa.and_(at < self.moment)
        return sa.or_(at < self.moment, sa.and_(at == self.moment, key < self.id))


def _epoch(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


@dataclass
class TimelineEntry:
    kind: str  # change | comment | activity
    at: datetime
    rank: int
    id: int
    actor_id: int | None
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    actor: Person | None = None
    #: A comment's `lw_comment` row, until the people it names are known.
    comment_row: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": moment(self.at),
            "actor": None if self.actor is None else self.actor.as_dict(),
            "summary": self.summary,
            **self.detail,
        }


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None


class Timeline:
    """The timeline service of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.comments = store.metadata.tables[COMMENT_TABLE]

    def activity_sources(self, target: str) -> list[tuple[int, ObjectDef, list[str]]]:
        """(rank, object, lookup columns) of each `timeline:` object with lookups to `target`."""
        out = []
        for i, obj in enumerate(self.store.app.objects):
            if not obj.timeline:
                continue
            links = [f.name for f in obj.fields if f.type == "lookup" and f.target == target and f.column]
            if links:
                out.append((ACTIVITY + i, obj, links))
        return out

    def entries(
        self, object_name: str, record_id: int, access: Access | None, *, limit: int = PAGE, cursor: str | None = None
    ) -> TimelinePage:
        """The newest `limit` entries before `cursor` (the previous page's `next_cursor`)."""
        obj = self.store.object(object_name)
        require(access, obj.name, READ)
        after = Cursor.parse(cursor)
        with self.store.db.read() as conn:
            guard.reach(self.store, conn, obj, record_id, READ, access)
            # Each source reads one more than the page: the newest limit + 1 of all are among them,
            # so whether anything follows the page is known too.
            found = self._changes(conn, obj, record_id, access, limit + 1, after)
            found += self._comments(conn, obj, record_id, limit + 1, after)
            for rank, source, links in self.activity_sources(obj.name):
                found += self._activities(conn, rank, source, links, record_id, access, limit + 1, after)
            chosen = sorted(found, key=lambda e: (e.at, e.rank, e.id), reverse=True)
            more = len(chosen) > limit
            chosen = chosen[:limit]
            # Everyone the page names (actors, mentioned users), in one query.
            ids: list[int | None] = [e.actor_id for e in chosen]
            ids += [int(u) for e in chosen if e.comment_row is not None for u in e.comment_row.mentions or []]
            named = people(conn, self.store.users, ids)
        for e in chosen:
            e.actor = None if e.actor_id is None else named.get(e.actor_id)
            if e.comment_row is not None:
                comment: Comment = comment_from_row(e.comment_row, named)
                e.summary = excerpt(comment.body, {p.id: p.name for p in comment.mentions})
                e.detail["comment"] = comment.as_dict()
        last = chosen[-1] if more else None
        return TimelinePage(chosen, None if last is None else str(Cursor(_epoch(last.at), last.rank, last.id)))

    # -- sources -------------------------------------------------------------------------------
    def _changes(
        self, conn: Connection, obj: ObjectDef, record_id: int, access: Access | None, limit: int, after: Cursor | None
    ) -> list[TimelineEntry]:
        """The record's writes, one entry per (moment, actor, action), with the fields each changed."""
        h = self.store.history_table
        where = [h.c.object == obj.name, h.c.record_id == record_id]
        hidden = _hidden_columns(obj, access)
        if hidden:
            where.append(sa.or_(h.c.field.is_(None), h.c.field.not_in(sorted(hidden))))
        last = sa.func.max(h.c.id)
        groups = sa.select(h.c.at, h.c.actor_id, h.c.action, last.label("last")).where(*where)
        groups = groups.group_by(h.c.at, h.c.actor_id, h.c.action)
        if after is not None:
            groups = groups.having(after.before(h.c.at, CHANGE, last))
        rows = conn.execute(groups.order_by(h.c.at.desc(), last.desc()).limit(limit)).all()
        if not rows:
            return []
        moments = sorted({r.at for r in rows})
        changed = conn.execute(
            sa.select(h.c.at, h.c.actor_id, h.c.action, h.c.field, h.c.old, h.c.new)
            .where(*where, h.c.at.in_(moments), h.c.field.is_not(None))
            .order_by(h.c.id)
        ).all()
        fields: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        for c in changed:
            fields[(c.at, c.actor_id, c.action)].append({"field": c.field, "old": c.old, "new": c.new})
        labels = {f.column: f.label.en for f in obj.fields if f.column}
        out = []
        for r in rows:
            changes = fields.get((r.at, r.actor_id, r.action), [])
            names = ", ".join(labels.get(c["field"], c["field"]) for c in changes)
            summary = _ACTIONS.get(r.action) or f"{'recomputed' if r.action == 'recompute' else 'changed'} {names}"
            out.append(
                TimelineEntry(
                    "change",
                    r.at,
                    CHANGE,
                    int(r.last),
                    None if r.actor_id is None else int(r.actor_id),
                    summary,
                    {"action": r.action, "changes": changes},
                )
            )
        return out

    def _comments(
        self, conn: Connection, obj: ObjectDef, record_id: int, limit: int, after: Cursor | None
    ) -> list[TimelineEntry]:
        c = self.comments
        stmt = sa.select(c).where(c.c.object == obj.name, c.c.record_id == record_id, c.c.deleted_at.is_(None))
        if after is not None:
            stmt = stmt.where(after.before(c.c.created_at, COMMENT, c.c.id))
        rows = conn.execute(stmt.order_by(c.c.created_at.desc(), c.c.id.desc()).limit(limit)).all()
        return [
            TimelineEntry(
                "comment",
                r.created_at,
                COMMENT,
                int(r.id),
                None if r.author_id is None else int(r.author_id),
                "",  # the excerpt, once the people it mentions are named
                comment_row=r,
            )
            for r in rows
        ]

    def _activities(
        self,
        conn: Connection,
        rank: int,
        obj: ObjectDef,
        links: Sequence[str],
        record_id: int,
        access: Access | None,
        limit: int,
        after: Cursor | None,
    ) -> list[TimelineEntry]:
        """The records of `obj` the reader may read that point at the record through a lookup they may see."""
        if access is not None and not access.may(obj.name, READ):
            return []
        hidden = access.hidden(obj.name) if access is not None else frozenset()
        links = [name for name in links if name not in hidden]
        if not links:
            return []
        table = self.store.tables[obj.name]
        at_field = obj.timeline_at if obj.timeline_at and obj.timeline_at not in hidden else None
        at = table.c.created_at if at_field is None else sa.func.coalesce(table.c[at_field], table.c.created_at)
        title = obj.title_field if obj.title_field in table.c and obj.title_field not in hidden else None
        cols = [table.c.id, at.label("at"), table.c.created_by] + ([table.c[title].label("title")] if title else [])
        points = sa.or_(*(table.c[str(obj.field(name).column)] == record_id for name in links))
        stmt = sa.select(*cols).where(points)
        scope = guard.rows(self.store, obj, READ, access)
        if scope is not None:
            stmt = stmt.where(scope)
        if after is not None:
            stmt = stmt.where(after.before(at, rank, table.c.id))
        rows = conn.execute(stmt.order_by(at.desc(), table.c.id.desc()).limit(limit)).all()
        out = []
        for r in rows:
            name = None if not title or r.title is None else str(r.title)
            out.append(
                TimelineEntry(
                    "activity",
                    _aware(r.at),
                    rank,
                    int(r.id),
                    None if r.created_by is None else int(r.created_by),
                    obj.label.en if name is None else f"{obj.label.en}: {name}",
                    {"object": obj.name, "record_id": int(r.id), "title": name},
                )
            )
        return out


def _aware(value: Any) -> datetime:
    """A moment read through COALESCE (SQLite gives its text back): aware, in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _hidden_columns(obj: ObjectDef, access: Access | None) -> frozenset[str]:
    """The hidden fields of `obj` by name and by column (`account` and `account_id`)."""
    if access is None:
        return frozenset()
    hidden = access.hidden(obj.name)
    out = set(hidden)
    for f in obj.fields:
        if f.name in hidden and f.column:
            out.add(f.column)
    return frozenset(out)
