"""Applying an `Access` to records: row scopes, field masks, locked fields, scope after a write.

Every path of the store (records, lists, aggregates, trash, files, history) goes through these
functions with the request's `Access`; `access=None` is the system and passes everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, select

from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem, Forbidden, InputInvalid, NotFound
from engine.store.access import ASSIGN, READ, Access, masked

if TYPE_CHECKING:
    from engine.store.records import Store


def rows(store: Store, obj: ObjectDef, action: str, access: Access | None) -> ColumnElement[bool] | None:
    """The rows of `obj` that `access` reaches for `action` (None: every row)."""
    return None if access is None else access.rows(obj.name, action, store.tables[obj.name])


def mask(obj: ObjectDef, record: dict[str, Any], access: Access | None) -> dict[str, Any]:
    """`record` (with its lines) without the fields hidden from `access`."""
    if access is None:
        return record
    out = masked(record, access.hidden(obj.name))
    for f in obj.child_fields:
        hidden = access.hidden(str(f.target))
        if hidden and f.name in out:
            out[f.name] = [masked(line, hidden) for line in out[f.name]]
    return out


def shown(
    store: Store, obj: ObjectDef, record: dict[str, Any], access: Access | None, conn: Connection | None = None
) -> dict[str, Any]:
    """`record` as the user may see it: without the lines outside their scope on the lines
    (a role's line condition, such as `internal = false`) and without hidden fields."""
    if access is None:
        return record
    out = dict(record)
    for f in obj.child_fields:
        lines = out.get(f.name)
        if not lines:
            continue
        child = str(f.target)
        if not access.may(child, READ):
            out[f.name] = []
            continue
        table = store.tables[child]
        where = access.rows(child, READ, table)
        if where is None:
            continue
        probe = select(table.c.id).where(table.c.id.in_([int(line["id"]) for line in lines]), where)
        if conn is None:
            with store.db.read() as c:
                seen = set(c.execute(probe).scalars())
        else:
            seen = set(conn.execute(probe).scalars())
        out[f.name] = [line for line in lines if line["id"] in seen]
    return mask(obj, out, access)


def masked_json(value: Any, hidden: frozenset[str]) -> Any:
    """A history snapshot (a record as JSON) without hidden fields; other values as they are."""
    return masked(value, hidden) if isinstance(value, dict) and hidden else value


def reach(store: Store, conn: Connection, obj: ObjectDef, record_id: int, action: str, access: Access | None) -> None:
    """Raise unless `access` may do `action` on this record: NotFound when the user cannot even
    read it (its existence does not leak), Forbidden when they can read but not change it."""
    if access is None:
        return
    table = store.tables[obj.name]
    probe = select(table.c.id).where(table.c.id == record_id)
    where = rows(store, obj, action, access)
    if conn.execute(probe if where is None else probe.where(where)).first() is not None:
        return
    if action != READ and access.may(obj.name, READ):
        readable = rows(store, obj, READ, access)
        if conn.execute(probe if readable is None else probe.where(readable)).first() is not None:
            if action == ASSIGN:
                raise Forbidden(
                    f"you may not change the owner or the shares of {obj.name} {record_id}: "
                    "it is not in your own records (a share lends a record, it does not give it)"
                )
            raise Forbidden(f"you may read but not {action} {obj.name} {record_id}")
    raise NotFound(f"{obj.name} {record_id} not found", code="record.not_found")


def in_scope(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    ids: Sequence[int],
    action: str,
    access: Access | None,
    owner_given: bool,
    locs: Sequence[tuple[str | int, ...]] | None = None,
) -> None:
    """After a write, inside its transaction: every written row must still be in the user's scope
    (no giving a record away, no stealing one by changing its owner). Raising rolls back.

    The problem is at `owner_id` when it was given, else at the record; `locs` (a bulk create)
    gives each row's place, already pointing at `owner_id` where that row gave it."""
    where = rows(store, obj, action, access)
    if where is None or not ids:
        return
    table = store.tables[obj.name]
    inside = set(conn.execute(select(table.c.id).where(table.c.id.in_(ids), where)).scalars())
    if len(inside) == len(set(ids)):
        return
    verb = "own or manage" if action == ASSIGN else action
    message = f"the {obj.name} would fall outside the records you may {verb}"
    if locs is None:
        locs = [("body", "owner_id") if owner_given else ("body",)] * len(ids)
    outside = [loc for i, loc in zip(ids, locs, strict=True) if i not in inside]
    raise InputInvalid([FieldProblem(loc, message, "permission.out_of_scope") for loc in outside])


def check_locked(obj: ObjectDef, data: Mapping[str, Any], access: Access | None, loc: tuple[str | int, ...]) -> None:
    """Hidden and read-only fields may not be written (a 422 naming each), nor lines' ones."""
    problems = locked_problems(obj, data, access, loc)
    if problems:
        raise InputInvalid(problems)


def locked_problems(
    obj: ObjectDef, data: Mapping[str, Any], access: Access | None, loc: tuple[str | int, ...]
) -> list[FieldProblem]:
    """The problems `check_locked` raises."""
    if access is None or not isinstance(data, Mapping):
        return []  # not an object: coercion reports it
    problems = _locked_keys(data, access.locked(obj.name), loc)
    for f in obj.child_fields:
        lines = data.get(f.name)
        child_locked = access.locked(str(f.target))
        if child_locked and isinstance(lines, list):
            for i, line in enumerate(lines):
                if isinstance(line, Mapping):
                    problems += _locked_keys(line, child_locked, (*loc, f.name, i))
    return problems


def _locked_keys(data: Mapping[str, Any], locked: frozenset[str], loc: tuple[str | int, ...]) -> list[FieldProblem]:
    return [
        FieldProblem((*loc, k), f"you may not change '{k}'", "field.read_only")
        for k in data
        if k in locked or (k.endswith("_id") and k[:-3] in locked)
    ]
