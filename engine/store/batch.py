"""Bulk creates: up to `MAX_BATCH` records in one transaction, all or nothing.

Every problem is located by row (`["body", 12, "amount"]`) and all of them are found before
anything is written: locked fields, values, lines and missing parents of every row at once,
then references and unique values of every row at once, then rules and scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem, InputInvalid
from engine.store import events, guard, integrity
from engine.store.access import CREATE, READ, Access
from engine.store.values import Loc, coerce_record, missing_parent

if TYPE_CHECKING:
    from engine.store.records import Store

MAX_BATCH = 10_000


def create_many(
    store: Store, obj: ObjectDef, rows: Sequence[Mapping[str, Any]], actor: int | None, access: Access | None
) -> list[int]:
    """Store `rows` as new records of `obj`; returns their ids in the order given."""
    from engine.store.records import utcnow

    if len(rows) > MAX_BATCH:
        message = f"at most {MAX_BATCH} records per batch (got {len(rows)})"
        raise InputInvalid([FieldProblem(("body",), message, "batch.too_large")])
    if not rows:  # nothing to store (the database would be asked to insert nothing)
        return []
    locs: list[Loc] = [("body", i) for i in range(len(rows))]
    by_key = store._inputs[obj.name]
    coerced = [
        coerce_record(obj, r, store.types, creating=True, loc=loc, by_key=by_key)
        for r, loc in zip(rows, locs, strict=True)
    ]
    problems: list[FieldProblem] = []
    for row, c, loc in zip(rows, coerced, locs, strict=True):
        locked = guard.locked_problems(obj, row, access, loc)
        if locked:  # as for one record: what the user may not write, before what they wrote wrong
            problems += locked
            continue
        problems += c.problems + store._coerce_children(obj, c, loc)
        if isinstance(row, Mapping):  # not an object: coercion said so
            problems += missing_parent(obj, c.values, loc)
    if problems:
        raise InputInvalid(problems)
    owner_locs = [(*loc, "owner_id") if "owner_id" in c.values else loc for c, loc in zip(coerced, locs, strict=True)]
    try:
        with events.transaction(store) as conn:
            ids = store._insert(conn, obj, coerced, locs, actor, utcnow(), access=access)
            reach = CREATE if obj.parent else READ  # a new line changes its parent
            guard.in_scope(store, conn, obj, ids, reach, access, False, locs=owner_locs)
            return ids
    except IntegrityError as exc:
        raise integrity.refusal(store, exc, obj, [c.values for c in coerced], locs) from None
