"""Integrity checks made before a write, so that refusals name the field and the value.

The database enforces the same rules (foreign keys, unique indexes); these checks turn what
would be a bare constraint error into a located 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Table, exists, false, select, tuple_
from sqlalchemy.exc import IntegrityError

from engine.blueprint.model import ObjectDef
from engine.errors import Conflict, FieldProblem, InputInvalid, LoomworkError
from engine.store.access import READ, Access
from engine.store.tables import object_indexes

if TYPE_CHECKING:
    from engine.store.records import Store

Loc = tuple[str | int, ...]
#: (column, the table it points at, the rows the acting user may point at: None for all).
Target = tuple[str, Table, ColumnElement[bool] | None]


def _reachable(access: Access | None, object_name: str, table: Table) -> ColumnElement[bool] | None:
    """A lookup may only point at a record the acting user can read (else it "does not exist")."""
    if access is None:
        return None
    if not access.may(object_name, READ):
        return false()
    return access.rows(object_name, READ, table)


def check_references(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    rows: Sequence[Mapping[str, Any]],
    locs: Sequence[Loc],
    access: Access | None = None,
    *,
    within_parent: bool = False,
) -> None:
    """Every lookup, user and parent id given must exist (and, for a user, be readable by them);
    otherwise a 422 located at the field. `within_parent`: the rows are lines written through
    their parent, which the write has reached already (it may be brand new, not yet in scope)."""
    problems = reference_problems(store, conn, obj, rows, locs, access, within_parent=within_parent)
    if problems:
        raise InputInvalid(problems)


def reference_problems(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    rows: Sequence[Mapping[str, Any]],
    locs: Sequence[Loc],
    access: Access | None = None,
    *,
    within_parent: bool = False,
) -> list[FieldProblem]:
    """The problems `check_references` raises: one query per kind of reference (one in all for
    a single record)."""
    targets: list[Target] = []
    for f in obj.stored_fields:
        if f.type == "lookup" and f.target:
            table = store.tables[f.target]
            targets.append((str(f.column), table, _reachable(access, f.target, table)))
        elif f.type == "user":
            targets.append((str(f.column), store.users, None))
    if obj.owned:
        targets.append(("owner_id", store.users, None))
    if obj.parent and not within_parent:  # a parent the user cannot read "does not exist" for them
        table = store.tables[obj.parent]
        targets.append((f"{obj.parent}_id", table, _reachable(access, obj.parent, table)))
    if len(rows) == 1:
        return _one_record(conn, targets, rows[0], locs[0], store)
    problems = []
    for column, target, where in targets:
        wanted = {r[column] for r in rows if r.get(column) is not None}
        if not wanted:
            continue
        stmt = select(target.c.id).where(target.c.id.in_(wanted))
        if where is not None:
            stmt = stmt.where(where)
        found = set(conn.execute(stmt).scalars())
        for row, loc in zip(rows, locs, strict=True):
            value = row.get(column)
            if value is not None and value not in found:
                what = "user" if target is store.users else target.name
                problems.append(FieldProblem((*loc, column), f"no {what} with id {value}", "field.not_found"))
    return problems


def check_rows(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    rows: Sequence[Mapping[str, Any]],
    locs: Sequence[Loc],
    access: Access | None = None,
) -> None:
    """References and unique values of new rows, every problem of every row reported at once
    (in row order)."""
    problems = reference_problems(store, conn, obj, rows, locs, access)
    problems += unique_problems(store, conn, obj, rows, locs)
    if problems:
        raise InputInvalid(sorted(problems, key=_row_order) if len(rows) > 1 else problems)


def check_unique(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    rows: Sequence[Mapping[str, Any]],
    locs: Sequence[Loc],
    current: Mapping[str, Any] | None = None,
) -> None:
    """Raise the problems of `unique_problems` (a 422 `field.unique` at each row and field)."""
    problems = unique_problems(store, conn, obj, rows, locs, current)
    if problems:
        raise InputInvalid(problems)


def unique_problems(
    store: Store,
    conn: Connection,
    obj: ObjectDef,
    rows: Sequence[Mapping[str, Any]],
    locs: Sequence[Loc],
    current: Mapping[str, Any] | None = None,
) -> list[FieldProblem]:
    """Values of every unique index (a `unique` field or a declared multi-field index) may not
    repeat within the rows nor match another stored record. `current` is the stored record of an
    update: it is not "another" record, and gives the index values the change leaves out.

    Each problem is located at the row's first index field it sets; the holder is not named
    (it may be a record the writer cannot see). One query per unique index."""
    table = store.tables[obj.name]
    problems: list[FieldProblem] = []
    for _name, columns, unique in object_indexes(obj):
        if not unique:
            continue
        wanted: dict[tuple[Any, ...], list[int]] = {}
        for i, row in enumerate(rows):
            given = [c for c in columns if c in row]
            if not given:
                continue
            key = tuple(row[c] if c in row else (current or {}).get(c) for c in columns)
            if any(v is None for v in key):  # NULLs never collide (on either database)
                continue
            wanted.setdefault(key, []).append(i)
        if not wanted:
            continue
        cols = [table.c[c] for c in columns]
        target = cols[0] if len(cols) == 1 else tuple_(*cols)
        stmt = select(*cols).where(target.in_([k[0] if len(cols) == 1 else k for k in wanted]))
        if current is not None:
            stmt = stmt.where(table.c.id != current["id"])
        taken = {tuple(row) for row in conn.execute(stmt)}
        for key, at in wanted.items():
            if key in taken:  # every row giving it is told, rather than only the repeats
                message = f"{_shown(columns, key)} is already used by another {obj.name}"
                problems += [FieldProblem(_at(locs[i], rows[i], columns), message, "field.unique") for i in at]
                continue
            for i in at[1:]:
                message = f"{_shown(columns, key)} is given twice (at {_where(locs[at[0]])} and {_where(locs[i])})"
                problems.append(FieldProblem(_at(locs[i], rows[i], columns), message, "field.unique"))
    return sorted(problems, key=_row_order) if len(rows) > 1 else problems


def _at(loc: Loc, row: Mapping[str, Any], columns: Sequence[str]) -> Loc:
    return (*loc, next(c for c in columns if c in row))


def _where(loc: Loc) -> str:
    """A place in the request body as a JSON pointer: `/3`, `/lines/2`, `/1/lines/0`."""
    return "".join(f"/{p}" for p in loc[1:]) or "/"


def _shown(columns: Sequence[str], values: Sequence[Any]) -> str:
    if len(columns) == 1:
        return f"{columns[0]} '{values[0]}'"
    return f"({', '.join(columns)}) ({', '.join(repr(v) if isinstance(v, str) else str(v) for v in values)})"


def _row_order(problem: FieldProblem) -> tuple[int, ...]:
    return tuple(p for p in problem.loc if isinstance(p, int))


def _one_record(
    conn: Connection, targets: list[Target], row: Mapping[str, Any], loc: Loc, store: Store
) -> list[FieldProblem]:
    """All references of one record probed in a single statement (the hot path of single writes)."""
    probes = [(column, target, where, row[column]) for column, target, where in targets if row.get(column) is not None]
    if not probes:
        return []
    checks = [
        (exists().where(target.c.id == value) if where is None else exists().where(target.c.id == value, where)).label(
            f"p{i}"
        )
        for i, (_, target, where, value) in enumerate(probes)
    ]
    found = conn.execute(select(*checks)).one()
    return [
        FieldProblem(
            (*loc, column), f"no {'user' if target is store.users else target.name} with id {value}", "field.not_found"
        )
        for (column, target, _, value), ok in zip(probes, found, strict=True)
        if not ok
    ]


def refusal(
    store: Store,
    exc: IntegrityError,
    obj: ObjectDef,
    rows: Sequence[Mapping[str, Any]],
    locs: Sequence[Loc],
    current: Mapping[str, Any] | None = None,
) -> LoomworkError:
    """What a constraint error that got past the checks means to the user (a concurrent writer
    stored the same unique value between our check and our insert): for a unique index the same
    located 422 as the checks, found by checking the rows again against what is stored now;
    otherwise a 409."""
    text = str(exc.orig).lower()
    if "unique" in text or "duplicate" in text:
        with store.db.read() as conn:
            problems = unique_problems(store, conn, obj, rows, locs, current)
        return InputInvalid(problems or [_unlocated_duplicate(store, exc, obj)])
    if "foreign key" in text:
        return Conflict("a referenced record does not exist or is still referred to", code="record.reference")
    return Conflict("the change breaks a database constraint", code="record.constraint")


def _unlocated_duplicate(store: Store, exc: IntegrityError, obj: ObjectDef) -> FieldProblem:
    """The unique index named by the database error (PostgreSQL: its name; SQLite: table.columns)."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    text = str(exc.orig)
    for other in store.app.objects:
        for index, columns, unique in object_indexes(other):
            named = ", ".join(f"{other.name}.{c}" for c in columns)
            if unique and (index == name or text.endswith(f"failed: {named}")):
                lines = [f.name for f in obj.child_fields if f.target == other.name]
                loc: Loc = ("body", columns[0]) if other is obj else ("body", *lines[:1])
                what = ", ".join(columns)
                return FieldProblem(loc, f"another {other.name} already has this {what}", "field.unique")
    return FieldProblem(("body",), "a unique value is already used by another record", "field.unique")
