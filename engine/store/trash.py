"""Delete to a restorable trash, honouring each lookup's on-delete policy.

A trash entry holds the record, its child lines, the records deleted with it by `cascade`
lookups, and the references that `set_null` cleared, so restore puts all of it back.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from engine.blueprint.model import FieldDef, ObjectDef
from engine.errors import Conflict, FieldProblem, Forbidden, InputInvalid, LoomworkError, NotFound
from engine.store import events, guard, history, integrity
from engine.store.access import DELETE, READ, Access
from engine.store.cascade import Journal
from engine.store.resolve import refuse_nul

if TYPE_CHECKING:
    from engine.store.records import Store

MAX_CASCADE = 10_000


def referrers(store: Store, obj: ObjectDef) -> list[tuple[ObjectDef, FieldDef]]:
    """Every (object, lookup field) pointing at `obj`."""
    return [(o, f) for o in store.app.objects for f in o.stored_fields if f.type == "lookup" and f.target == obj.name]


def delete_record(
    store: Store, object_name: str, record_id: int, *, actor: int | None = None, access: Access | None = None
) -> int:
    """Move a record (and what cascades from it) to the trash; returns the trash entry id.

    With `access`, the record must be in the user's delete scope (checked in the transaction)."""
    obj = store.object(object_name)
    from engine.store.records import utcnow

    now = utcnow()
    try:
        with events.transaction(store) as conn:
            guard.reach(store, conn, obj, record_id, DELETE, access)
            entry = _snapshot(store, conn, obj, record_id, set())
            trash_id = int(
                conn.execute(
                    insert(store.trash_table).returning(store.trash_table.c.id),
                    {
                        "object": obj.name,
                        "record_id": record_id,
                        "data": entry,
                        "deleted_by": actor,
                        "deleted_at": now,
                    },
                ).scalar_one()
            )
            journal = Journal(store.app)
            _remove(store, conn, entry, actor, now, journal)
            _settle_parent(store, conn, obj, entry["record"], actor, now, journal)
            store.cascade.propagate(conn, journal, actor, now)
    except IntegrityError:
        raise Conflict(f"{obj.name} {record_id} is still referred to", code="record.referenced") from None
    return trash_id


def _settle_parent(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    record: dict[str, Any],
    actor: int | None,
    now: datetime,
    journal: Journal,
) -> None:
    """A line came or went on its own: the parent's formulas and rules over its lines apply again."""
    parent_id = record.get(f"{obj.parent}_id") if obj.parent else None
    if obj.parent and parent_id is not None:
        parent = store.app.object(obj.parent)
        store._settle(conn, parent, [int(parent_id)], {}, actor, now, record_history=True, journal=journal)


def _snapshot(
    store: Store, conn: Connection, obj: ObjectDef, record_id: int, seen: set[tuple[str, int]]
) -> dict[str, Any]:
    record = store._fetch(conn, obj, record_id, lock=True)
    seen.add((obj.name, record_id))
    entry: dict[str, Any] = {
        "object": obj.name,
        "record": store.codec.to_json(obj.name, record),
        "cascaded": [],
        "nulled": [],
    }
    for other, f in referrers(store, obj):
        table = store.tables[other.name]
        column = table.c[str(f.column)]
        ids = [
            int(i) for i in conn.execute(select(table.c.id).where(column == record_id).limit(MAX_CASCADE + 1)).scalars()
        ]
        ids = [i for i in ids if (other.name, i) not in seen]
        if not ids:
            continue
        if f.on_delete == "restrict":
            raise Conflict(
                f"{obj.name} {record_id} is still referred to by {len(ids)} {other.name} record(s) "
                f"({f.name}); delete or re-link them first",
                code="record.referenced",
            )
        if len(ids) > MAX_CASCADE:
            raise Conflict(f"deleting would touch more than {MAX_CASCADE} {other.name} records", code="record.too_many")
        if f.on_delete == "set_null":
            entry["nulled"].append({"object": other.name, "column": str(f.column), "ids": ids})
        else:
            entry["cascaded"].extend(_snapshot(store, conn, other, i, seen) for i in ids)
    return entry


def _remove(
    store: Store, conn: Connection, entry: dict[str, Any], actor: int | None, now: datetime, journal: Journal
) -> None:
    record = entry["record"]
    for nulled in entry["nulled"]:
        _relink(store, conn, nulled, record["id"], None, actor, now)
        journal.relinked(store.app.object(nulled["object"]), nulled["ids"], nulled["column"], int(record["id"]))
    for sub in entry["cascaded"]:
        _remove(store, conn, sub, actor, now, journal)
    obj = store.app.object(entry["object"])
    table = store.tables[obj.name]
    conn.execute(delete(table).where(table.c.id == record["id"]))
    # a line deleted on its own has its parent settled by the caller; anything else is recomputed
    journal.deleted(obj, [record], settled=False)
    for f in obj.child_fields:
        journal.deleted(store.app.object(str(f.target)), record.get(f.name) or [], settled=False)
    history.write(
        conn,
        store.history_table,
        [
            {
                "object": entry["object"],
                "record_id": record["id"],
                "action": "delete",
                "field": None,
                "old": record,
                "new": None,
                "actor_id": actor,
                "at": now,
            }
        ],
    )


def restore_record(
    store: Store, object_name: str, record_id: int, *, actor: int | None = None, access: Access | None = None
) -> dict[str, Any]:
    """Put the most recently trashed copy of a record back, with its lines and cascaded records.

    With `access`, the restored record must be in the user's delete scope, else nothing changes
    and the entry is "not in the trash" (a user cannot probe other users' deletions). A unique
    value taken meanwhile, or a referenced record gone, is a 422 at `[object, id, field]` of the
    record concerned (the restored one, a line or a record restored with it)."""
    obj = store.object(object_name)
    from engine.store.records import utcnow

    trash = store.trash_table
    now = utcnow()
    data: dict[str, Any] = {}
    deleted_by: int | None = None
    try:
        with events.transaction(store) as conn:
            row = conn.execute(
                select(trash.c.id, trash.c.data, trash.c.deleted_by)
                .where(trash.c.object == obj.name, trash.c.record_id == record_id)
                .order_by(trash.c.id.desc())
                .limit(1)
            ).first()
            if row is None:
                raise NotFound(f"{obj.name} {record_id} is not in the trash", code="trash.not_found")
            data, deleted_by = row.data, row.deleted_by
            problems = _restore_problems(store, conn, data)
            if problems:
                raise _refused(store, obj, record_id, deleted_by, access, problems)
            journal = Journal(store.app)
            _put_back(store, conn, data, actor, now, journal)
            try:  # raising here rolls the put-back back
                guard.reach(store, conn, obj, record_id, DELETE, access)
            except (NotFound, Forbidden):
                raise NotFound(f"{obj.name} {record_id} is not in the trash", code="trash.not_found") from None
            _settle_parent(store, conn, obj, row.data["record"], actor, now, journal)
            store.cascade.propagate(conn, journal, actor, now)
            conn.execute(delete(trash).where(trash.c.id == row.id))
            record = store._fetch(conn, obj, record_id)
    except IntegrityError:  # a concurrent writer took a value or removed a record after the check
        with store.db.read() as conn:
            problems = _restore_problems(store, conn, data)
        if not problems:
            raise Conflict(f"{obj.name} {record_id} was changed meanwhile; try again", code="record.stale") from None
        raise _refused(store, obj, record_id, deleted_by, access, problems) from None
    return record


def _restore_problems(store: Store, conn: Connection, entry: dict[str, Any]) -> list[FieldProblem]:
    """Unique values of everything the entry puts back that are now taken, and references to
    records (other than those it puts back) that are gone; one query per index and per kind of
    reference of each object."""
    restored: dict[str, list[dict[str, Any]]] = {}
    _collect(store, entry, restored)
    inside = {(name, int(r["id"])) for name, rows in restored.items() for r in rows}
    problems: list[FieldProblem] = []
    for name, rows in restored.items():
        obj = store.app.object(name)
        locs = [(name, int(r["id"])) for r in rows]
        problems += integrity.unique_problems(store, conn, obj, rows, locs)
        links = [(str(f.column), str(f.target)) for f in obj.stored_fields if f.type == "lookup" and f.target]
        if obj.parent:
            links.append((f"{obj.parent}_id", obj.parent))
        outside = [{**r, **{c: None for c, target in links if (target, r.get(c)) in inside}} for r in rows]
        problems += integrity.reference_problems(store, conn, obj, outside, locs)
    return problems


def _collect(store: Store, entry: dict[str, Any], out: dict[str, list[dict[str, Any]]]) -> None:
    """The column values of every record and line a trash entry holds, by object."""
    obj = store.app.object(entry["object"])
    record = dict(entry["record"])
    for f in obj.child_fields:
        child = str(f.target)
        out.setdefault(child, []).extend(store.codec.from_json(child, line) for line in record.pop(f.name, []))
    out.setdefault(obj.name, []).append(store.codec.from_json(obj.name, record))
    for sub in entry["cascaded"]:
        _collect(store, sub, out)


def _refused(
    store: Store,
    obj: ObjectDef,
    record_id: int,
    deleted_by: int | None,
    access: Access | None,
    problems: list[FieldProblem],
) -> LoomworkError:
    """The problems, for a user who may see the entry in their trash (what `list_trash` shows);
    for anyone else the entry is not in the trash, so its values do not leak."""
    if access is not None:
        table = store.tables[obj.name]
        mine = deleted_by is not None and deleted_by == access.actor_id
        if not (access.may(obj.name, DELETE) and access.may(obj.name, READ)) or not (
            mine or access.rows(obj.name, DELETE, table) is None
        ):
            return NotFound(f"{obj.name} {record_id} is not in the trash", code="trash.not_found")
    return InputInvalid(problems)


def _put_back(
    store: Store, conn: Connection, entry: dict[str, Any], actor: int | None, now: datetime, journal: Journal
) -> None:
    """Insert the record, its lines and what cascaded from it, and link what was cleared back;
    their stored formulas are recomputed (what they read may have changed meanwhile)."""
    obj = store.app.object(entry["object"])
    table = store.tables[obj.name]
    record = dict(entry["record"])
    children = {f.name: record.pop(f.name, []) for f in obj.child_fields}
    known = {c.key for c in table.c}
    values = store.codec.from_json(obj.name, {k: v for k, v in record.items() if k in known})
    conn.execute(insert(table), values)
    journal.created(obj, [values], settled=False)
    history.write(
        conn,
        store.history_table,
        [
            {
                "object": obj.name,
                "record_id": record["id"],
                "action": "restore",
                "field": None,
                "old": None,
                "new": entry["record"],
                "actor_id": actor,
                "at": now,
            }
        ],
    )
    for fname, lines in children.items():
        child = store.app.object(str(obj.field(fname).target))
        child_table = store.tables[child.name]
        child_known = {c.key for c in child_table.c}
        for line in lines:
            line_values = store.codec.from_json(child.name, {k: v for k, v in line.items() if k in child_known})
            conn.execute(insert(child_table), line_values)
            journal.created(child, [line_values], settled=False)
    for sub in entry["cascaded"]:
        _put_back(store, conn, sub, actor, now, journal)
    for nulled in entry["nulled"]:
        relinked = _relink(store, conn, nulled, None, record["id"], actor, now)
        journal.relinked(store.app.object(nulled["object"]), relinked, nulled["column"], int(record["id"]))


def _relink(
    store: Store,
    conn: Connection,
    nulled: dict[str, Any],
    old: int | None,
    new: int | None,
    actor: int | None,
    now: datetime,
) -> list[int]:
    """Clear (`set_null`, on delete) or put back (on restore, where still empty) the references
    of other records to a trashed one: a change of those records, with its version and history.
    Returns the ids of the records changed."""
    table = store.tables[nulled["object"]]
    column = table.c[nulled["column"]]
    ids = nulled["ids"]
    if new is not None:  # only references nobody has set since
        ids = list(conn.execute(select(table.c.id).where(table.c.id.in_(ids), column.is_(None))).scalars())
        if not ids:
            return []
    conn.execute(
        update(table)
        .where(table.c.id.in_(ids))
        .values({column.key: new, "version": table.c.version + 1, "updated_at": now})
    )
    codec, name = store.codec, nulled["object"]
    history.write(
        conn,
        store.history_table,
        [
            {
                "object": name,
                "record_id": int(i),
                "action": "update",
                "field": column.key,
                "old": codec.value_json(name, column.key, old),
                "new": codec.value_json(name, column.key, new),
                "actor_id": actor,
                "at": now,
            }
            for i in ids
        ],
    )
    return [int(i) for i in ids]


def list_trash(
    store: Store, object_name: str | None = None, limit: int = 100, *, access: Access | None = None
) -> list[dict[str, Any]]:
    """The newest trash entries: of objects the user may delete, all of them where their scope is
    every record (an administrator), else what they deleted themselves; the system sees everything.
    `object_name` (the request's `object`) must name an object of the app."""
    refuse_nul([("object", object_name)])
    if object_name and not any(o.name == object_name for o in store.app.objects):
        close = difflib.get_close_matches(object_name, [o.name for o in store.app.objects], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        message = f"unknown object '{object_name[:64]}'{hint}"
        raise InputInvalid([FieldProblem(("query", "object"), message, "query.unknown_object")])
    trash = store.trash_table
    stmt = select(trash.c.id, trash.c.object, trash.c.record_id, trash.c.deleted_by, trash.c.deleted_at)
    if object_name:
        stmt = stmt.where(trash.c.object == object_name)
    if access is not None:
        allowed = [o for o in store.app.objects if access.may(o.name, DELETE) and access.may(o.name, READ)]
        every = [o.name for o in allowed if access.rows(o.name, DELETE, store.tables[o.name]) is None]
        own = [o.name for o in allowed if o.name not in every]
        stmt = stmt.where(
            or_(trash.c.object.in_(every), and_(trash.c.object.in_(own), trash.c.deleted_by == access.actor_id))
        )
    with store.db.read() as conn:
        rows = conn.execute(stmt.order_by(trash.c.id.desc()).limit(limit)).mappings()
        return [dict(r) for r in rows]
