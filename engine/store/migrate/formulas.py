"""Stored formulas a migration computes: new ones, changed ones, and those that read changed values.

`formula_ops` lists them in the order they must be computed (a formula after the formulas it
reads). The schema writer retypes a formula's column when its result type or scale changed;
after every schema operation, `compute_formulas` evaluates each formula in SQL over the existing
records, `BATCH` records at a time, and writes the values that changed (no history rows: nobody
edited the records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from engine.blueprint.diff import AddField, AlterField, ChangeFieldType, CreateObject, Op, RenameObject
from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.store.computed import compile_logic
from engine.store.database import Database
from engine.store.dependencies import build_dependents
from engine.store.records import Store
from engine.types.registry import TypeRegistry

#: Records computed per statement while migrating.
BATCH = 1000
_SHAPE = ("expression", "result", "scale")


@dataclass(frozen=True)
class ComputeFormula(Op):
    """Compute a stored formula for every existing record of `object` (`old_object` before the
    migration). `old` is the formula's column as stored before, when its type must change."""

    object: str
    old_object: str
    field: FieldDef
    reason: str
    old: FieldDef | None = None

    def describe(self) -> str:
        return f"compute formula {self.object}.{self.field.name} for existing records ({self.reason})"


def formula_ops(old: App | None, new: App, ops: Sequence[Op], types: TypeRegistry) -> list[ComputeFormula]:
    """The stored formulas of `new` to compute after `ops` have changed the schema from `old`."""
    if old is None:
        return []
    created = {op.obj.name for op in ops if isinstance(op, CreateObject)}
    was = {op.new: op.old for op in ops if isinstance(op, RenameObject)}
    added = {(op.object, op.field.name) for op in ops if isinstance(op, AddField)}
    found: dict[tuple[str, str], ComputeFormula] = {}
    seeds: set[tuple[str, str]] = set()
    for obj in new.objects:
        old_name = was.get(obj.name, obj.name)
        if obj.name in created or not old.has_object(old_name):
            continue
        for f in obj.formula_fields:
            before = _before(old.object(old_name), f)
            if f.column is None:  # a virtual formula: the stored ones reading it follow its change
                if before is None or _shape(before) != _shape(f):
                    seeds.add((obj.name, f.name))
                continue
            reason, retype = _why(obj, f, before, added)
            if reason:
                found[(obj.name, f.name)] = ComputeFormula(obj.name, old_name, f, reason, retype)
    seeds |= set(found)
    for op in ops:
        if isinstance(op, AddField) and op.object not in created:
            seeds.add((op.object, str(op.field.column)))  # its values are new (null or the default)
        elif isinstance(op, ChangeFieldType | AlterField):
            seeds.add((op.object, str(op.new.column)))  # its values were converted
    logic = compile_logic(new, types)
    dependents = build_dependents(new, logic)
    for obj_name, name in dependents.closure(seeds):
        if (obj_name, name) not in found and obj_name not in created:
            f = new.object(obj_name).field(name)
            found[(obj_name, name)] = ComputeFormula(obj_name, was.get(obj_name, obj_name), f, "reads a changed value")
    order = {(o.name, f.name): (i, j) for i, o in enumerate(new.objects) for j, f in enumerate(o.fields)}
    return sorted(found.values(), key=lambda op: (dependents.rank[(op.object, op.field.name)], order[_key(op)]))


def _key(op: ComputeFormula) -> tuple[str, str]:
    return (op.object, op.field.name)


def _before(old_obj: ObjectDef, f: FieldDef) -> FieldDef | None:
    for name in (f.name, f.renamed_from):
        if name and old_obj.has_field(name):
            return old_obj.field(name)
    return None


def _shape(f: FieldDef) -> tuple[object, ...]:
    return (f.type, *(f.settings.get(k) for k in _SHAPE))


def _why(
    obj: ObjectDef, f: FieldDef, before: FieldDef | None, added: set[tuple[str, str]]
) -> tuple[str, FieldDef | None]:
    """Why a stored formula must be computed again (empty: it need not), and its column as stored
    before when that column's type changes."""
    if (obj.name, f.name) in added or before is None or before.column is None:
        return "new formula", None
    if before.type != "formula":
        return "became a formula", None
    if _shape(before) == _shape(f):
        return "", None
    if (before.settings.get("result"), before.settings.get("scale")) != (
        f.settings.get("result"),
        f.settings.get("scale"),
    ):
        return "result type changed", before
    return "expression changed", None


def compute_formulas(conn: Connection, db: Database, new: App, types: TypeRegistry, ops: Sequence[Op]) -> None:
    """Evaluate every `ComputeFormula` of `ops`, in order, over the existing records, in batches."""
    todo = [op for op in ops if isinstance(op, ComputeFormula)]
    if not todo:
        return
    store = Store(new, types, db)
    now = datetime.now(UTC)
    for op in todo:
        obj = new.object(op.object)
        table = store.tables[obj.name]
        after = 0
        while True:
            stmt = select(table.c.id).where(table.c.id > after).order_by(table.c.id).limit(BATCH)
            ids = [int(i) for i in conn.execute(stmt).scalars()]
            if not ids:
                break
            store.cascade.recompute(conn, obj, [op.field.name], ids, actor=None, now=now, record_history=False)
            after = ids[-1]
