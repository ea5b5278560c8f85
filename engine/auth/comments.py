"""Comments on records, with @mentions that notify (`lw_comment`, `lw_notification`).

Whoever may read a record may read its comments and comment on it; nobody else learns that it has
any (the record is `NotFound` for them). A mention (engine.auth.mentions) must name an active user
who may read the record too: otherwise the comment is refused (422 at `body.body`, naming the
mention) rather than stored with a mention that tells nobody — the author learns at once that the
person was not told, and a comment never reaches someone who cannot read its record. The comment
and its notifications are written in one transaction. Only the author edits or deletes a comment;
an edit notifies the people it newly mentions; a deleted comment keeps its row (without its text)
and takes its notifications with it. Bodies are stored exactly as sent: rendering escapes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from engine.auth.access import PolicyAccess, subject_for
from engine.auth.directory import AuthDb
from engine.auth.mentions import MentionRef, markup, parse_mentions
from engine.auth.users import User, user_from_row
from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem, Forbidden, InputInvalid, NotFound
from engine.store import guard
from engine.store.access import READ, Access, require
from engine.store.records import Store
from engine.store.tables import COMMENT_TABLE, NOTIFICATION_TABLE

#: The longest comment, in characters.
MAX_BODY = 10_000
#: The most people one comment may mention.
MAX_MENTIONS = 20
#: Comments per page: the default and the most.
PAGE, MAX_PAGE = 50, 200
MENTION = "mention"
#: Suggestions: the default and the most offered, the candidates looked at, the longest query.
SUGGEST, MAX_SUGGEST, SCAN, MAX_QUERY = 8, 20, 40, 100
_BODY_LOC = ("body", "body")


def moment(value: datetime | None) -> str | None:
    """A stored moment as the API writes it (ISO 8601, UTC, `Z`)."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Person:
    """A user as a comment, a notification or a timeline names them."""

    id: int
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Comment:
    id: int
    object: str
    record_id: int
    author: Person | None
    body: str
    mentions: tuple[Person, ...]
    created_at: datetime
    edited_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": self.object,
            "record_id": self.record_id,
            "author": None if self.author is None else self.author.as_dict(),
            "body": self.body,
            "mentions": [p.as_dict() for p in self.mentions],
            "created_at": moment(self.created_at),
            "edited_at": moment(self.edited_at),
        }


@dataclass(frozen=True)
class Suggestion:
    """Someone who may be mentioned on a record, with the markup that mentions them."""

    id: int
    name: str
    email: str
    mention: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, "mention": self.mention}


@dataclass(frozen=True)
class CommentPage:
    comments: list[Comment]
    next_cursor: str | None


def people(conn: Connection, users: sa.Table, ids: Iterable[int | None]) -> dict[int, Person]:
    """The named users, in one query (ids of deleted users are left out)."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    rows = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(wanted)))
    return {int(r.id): Person(int(r.id), r.name) for r in rows}


def comment_text(body: Any) -> str:
    """The text of a comment request `{"body": "..."}`; raises InputInvalid naming each problem."""
    if not isinstance(body, Mapping):
        raise InputInvalid([FieldProblem(("body",), "expected a JSON object", "type.object")])
    problems = [FieldProblem(("body", str(k)), f"unknown field '{k}'", "field.unknown") for k in body if k != "body"]
    text = body.get("body")
    if text is None:
        problems.append(FieldProblem(_BODY_LOC, "a comment needs a body", "field.required"))
    elif not isinstance(text, str):
        problems.append(FieldProblem(_BODY_LOC, "the body must be text", "type.string"))
    elif not text.strip():
        problems.append(FieldProblem(_BODY_LOC, "a comment needs some text", "field.required"))
    elif len(text) > MAX_BODY:
        problems.append(FieldProblem(_BODY_LOC, f"at most {MAX_BODY} characters, got {len(text)}", "comment.too_long"))
    elif "\x00" in text:
        problems.append(FieldProblem(_BODY_LOC, "must not contain NUL characters", "text.invalid"))
    if problems:
        raise InputInvalid(problems)
    assert isinstance(text, str)  # narrowed by the checks above
    return text


def may_read(store: Store, conn: Connection, obj: ObjectDef, record_id: int, access: Access | None) -> bool:
    """Whether `access` may read this record (the same check as every read of it)."""
    if access is not None and not access.may(obj.name, READ):
        return False
    try:
        guard.reach(store, conn, obj, record_id, READ, access)
    except NotFound:
        return False
    return True


class Comments:
    """The comment service of one store; every call takes the acting user's access (None: the system)."""

    def __init__(self, store: Store, auth: AuthDb) -> None:
        self.store = store
        self.auth = auth
        self.t = store.metadata.tables[COMMENT_TABLE]
        self.notes = store.metadata.tables[NOTIFICATION_TABLE]

    def list_comments(
        self, object_name: str, record_id: int, access: Access | None, *, limit: int = PAGE, after: int = 0
    ) -> CommentPage:
        """The record's comments, oldest first, `limit` of them after the comment id `after`."""
        obj = self.store.object(object_name)
        require(access, obj.name, READ)
        t = self.t
        with self.store.db.read() as conn:
            guard.reach(self.store, conn, obj, record_id, READ, access)
            stmt = (
                sa.select(t)
                .where(t.c.object == obj.name, t.c.record_id == record_id, t.c.deleted_at.is_(None), t.c.id > after)
                .order_by(t.c.id)
                .limit(limit + 1)
            )
            rows = conn.execute(stmt).all()
            more = len(rows) > limit
            rows = rows[:limit]
            named = people(conn, self.store.users, _named(rows))
        comments = [comment_from_row(r, named) for r in rows]
        return CommentPage(comments, str(comments[-1].id) if more else None)

    def post(self, object_name: str, record_id: int, body: Any, access: Access | None) -> Comment:
        """Comment on a record the user may read; every mentioned user is notified (see the module)."""
        obj = self.store.object(object_name)
        require(access, obj.name, READ)
        text = comment_text(body)
        refs = parse_mentions(text)
        author = access.actor_id if access is not None else None
        readers = self._mentioned(obj, refs)
        now = self.auth.now()
        with self.store.db.write() as conn:
            guard.reach(self.store, conn, obj, record_id, READ, access)
            mentioned = self._readers(conn, obj, record_id, refs, readers)
            values = {
                "object": obj.name,
                "record_id": record_id,
                "author_id": author,
                "body": text,
                "mentions": mentioned,
                "created_at": now,
            }
            comment_id = int(conn.execute(sa.insert(self.t).returning(self.t.c.id), values).scalar_one())
            self._notify(conn, obj.name, record_id, comment_id, author, mentioned, now)
            return self._one(conn, comment_id)

    def edit(self, object_name: str, record_id: int, comment_id: int, body: Any, access: Access | None) -> Comment:
        """The author changes the text; people newly mentioned are notified, the others not again."""
        obj = self.store.object(object_name)
        require(access, obj.name, READ)
        text = comment_text(body)
        refs = parse_mentions(text)
        readers = self._mentioned(obj, refs)
        now = self.auth.now()
        with self.store.db.write() as conn:
            row = self._authored(conn, obj, record_id, comment_id, access)
            mentioned = self._readers(conn, obj, record_id, refs, readers)
            conn.execute(
                sa.update(self.t).where(self.t.c.id == comment_id).values(body=text, mentions=mentioned, edited_at=now)
            )
            new = [u for u in mentioned if u not in set(row.mentions or [])]
            self._notify(conn, obj.name, record_id, comment_id, row.author_id, new, now)
            return self._one(conn, comment_id)

    def delete(self, object_name: str, record_id: int, comment_id: int, access: Access | None) -> None:
        """The author deletes the comment: its text goes, and the notifications it caused."""
        obj = self.store.object(object_name)
        require(access, obj.name, READ)
        with self.store.db.write() as conn:
            self._authored(conn, obj, record_id, comment_id, access)
            conn.execute(
                sa.update(self.t)
                .where(self.t.c.id == comment_id)
                .values(body="", mentions=[], deleted_at=self.auth.now())
            )
            conn.execute(sa.delete(self.notes).where(self.notes.c.comment_id == comment_id))

    def mentionable(
        self, object_name: str, record_id: int, access: Access | None, *, query: str = "", limit: int = SUGGEST
    ) -> list[Suggestion]:
        """Active users whose name or e-mail contains `query` (any case) and who may read the record,
        by name, at most `limit`: what a mention suggester offers. Looks at most `SCAN` candidates."""
        obj = self.store.object(object_name)
        require(access, obj.name, READ)
        needle = query.strip().lower()
        if len(needle) > MAX_QUERY or "\x00" in needle:
            message = "must not contain NUL characters" if "\x00" in needle else f"at most {MAX_QUERY} characters"
            raise InputInvalid([FieldProblem(("query", "q"), message, "query.bad_value")])
        users = self.auth.tables.user
        stmt = sa.select(users).where(users.c.active.is_(True))
        if needle:
            stmt = stmt.where(
                sa.or_(
                    sa.func.lower(users.c.name).contains(needle, autoescape=True),
                    users.c.email.contains(needle, autoescape=True),
                )
            )
        with self.store.db.read() as conn:
            guard.reach(self.store, conn, obj, record_id, READ, access)
            found = [user_from_row(r) for r in conn.execute(stmt.order_by(users.c.name, users.c.id).limit(SCAN))]
        table = self.store.tables[obj.name]
        readers: list[tuple[User, PolicyAccess]] = []
        for user in found:  # each user's access first: building one reads teams and shares
            reader = PolicyAccess(self.store, subject_for(self.auth, user))
            if reader.may(obj.name, READ):
                reader.rows(obj.name, READ, table)
                readers.append((user, reader))
        out: list[Suggestion] = []
        with self.store.db.read() as conn:
            for user, reader in readers:
                if len(out) < limit and may_read(self.store, conn, obj, record_id, reader):
                    out.append(Suggestion(user.id, user.name, user.email, markup(user.id, user.name)))
        return out

    # -- mentions ------------------------------------------------------------------------------
    def _mentioned(self, obj: ObjectDef, refs: Sequence[MentionRef]) -> list[tuple[MentionRef, PolicyAccess | None]]:
        """Each mention with the access of the active user it names (None: no such user).

        Read before the write transaction: building a user's access reads teams and shares."""
        if len(refs) > MAX_MENTIONS:
            raise InputInvalid(
                [FieldProblem(_BODY_LOC, f"at most {MAX_MENTIONS} mentions, got {len(refs)}", "comment.mentions")]
            )
        if not refs:
            return []
        users = self.auth.tables.user
        ids = sorted({r.user_id for r in refs if r.user_id is not None and r.user_id < 2**63})
        emails = sorted({r.email for r in refs if r.email is not None})
        with self.auth.db.read() as conn:
            rows = conn.execute(
                sa.select(users).where(users.c.active.is_(True), sa.or_(users.c.id.in_(ids), users.c.email.in_(emails)))
            ).all()
        found: list[User] = [user_from_row(r) for r in rows]
        by_id = {u.id: u for u in found}
        by_email = {u.email: u for u in found}
        accesses: dict[int, PolicyAccess] = {}
        out: list[tuple[MentionRef, PolicyAccess | None]] = []
        for ref in refs:
            user = by_id.get(ref.user_id or 0) if ref.email is None else by_email.get(ref.email)
            if user is not None and user.id not in accesses:
                access = PolicyAccess(self.store, subject_for(self.auth, user))
                if access.may(obj.name, READ):
                    access.rows(obj.name, READ, self.store.tables[obj.name])  # its share probe, now
                accesses[user.id] = access
            out.append((ref, None if user is None else accesses[user.id]))
        return out

    def _readers(
        self,
        conn: Connection,
        obj: ObjectDef,
        record_id: int,
        refs: Sequence[MentionRef],
        readers: Sequence[tuple[MentionRef, PolicyAccess | None]],
    ) -> list[int]:
        """The ids of the mentioned users, in order and once each; a 422 naming every mention of
        someone unknown, inactive or unable to read the record."""
        problems: list[FieldProblem] = []
        out: list[int] = []
        for ref, access in readers:
            if access is None:
                what = f"user {ref.user_id}" if ref.email is None else f"user with e-mail {ref.email}"
                problems.append(
                    FieldProblem(_BODY_LOC, f"@{ref.written}: there is no active {what}", "comment.mention_unknown")
                )
                continue
            uid = int(access.subject.id)
            if uid in out:
                continue
            if not may_read(self.store, conn, obj, record_id, access):
                problems.append(
                    FieldProblem(
                        _BODY_LOC,
                        f"@{ref.written} cannot read this {obj.label.en.lower()}, so would not see the comment: "
                        "share the record with them first, or leave the mention out",
                        "comment.mention_cannot_read",
                    )
                )
                continue
            out.append(uid)
        if problems:
            raise InputInvalid(problems)
        return out

    def _notify(
        self,
        conn: Connection,
        object_name: str,
        record_id: int,
        comment_id: int,
        actor: int | None,
        recipients: Sequence[int],
        now: datetime,
    ) -> None:
        rows = [
            {
                "recipient_id": uid,
                "kind": MENTION,
                "object": object_name,
                "record_id": record_id,
                "comment_id": comment_id,
                "actor_id": actor,
                "created_at": now,
                "read_at": None,
            }
            for uid in recipients
            if uid != actor  # mentioning yourself tells nobody
        ]
        if rows:
            conn.execute(sa.insert(self.notes), rows)

    # -- rows ----------------------------------------------------------------------------------
    def _authored(
        self, conn: Connection, obj: ObjectDef, record_id: int, comment_id: int, access: Access | None
    ) -> Any:
        """The comment's row when the user may read the record and wrote the comment."""
        guard.reach(self.store, conn, obj, record_id, READ, access)
        t = self.t
        row = conn.execute(
            sa.select(t).where(
                t.c.id == comment_id, t.c.object == obj.name, t.c.record_id == record_id, t.c.deleted_at.is_(None)
            )
        ).first()
        if row is None:
            raise NotFound(f"{obj.name} {record_id} has no comment {comment_id}", code="comment.not_found")
        if access is not None and row.author_id != access.actor_id:
            raise Forbidden("only its author may change or delete a comment", code="comment.not_author")
        return row

    def _one(self, conn: Connection, comment_id: int) -> Comment:
        row = conn.execute(sa.select(self.t).where(self.t.c.id == comment_id)).one()
        return comment_from_row(row, people(conn, self.store.users, _named([row])))


def _named(rows: Sequence[Any]) -> list[int | None]:
    return [r.author_id for r in rows] + [int(u) for r in rows for u in (r.mentions or [])]


def comment_from_row(row: Any, named: Mapping[int, Person]) -> Comment:
    """A comment from its `lw_comment` row and the people it names (`people`)."""
    return Comment(
        id=int(row.id),
        object=row.object,
        record_id=int(row.record_id),
        author=None if row.author_id is None else named.get(int(row.author_id)),
        body=row.body,
        mentions=tuple(named[int(u)] for u in (row.mentions or []) if int(u) in named),
        created_at=row.created_at,
        edited_at=row.edited_at,
    )
