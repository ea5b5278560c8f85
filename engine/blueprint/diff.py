"""The schema change between two blueprints, as a list of small operations.

`diff` is pure: it compares two frozen models and never touches a database. Renames come only
from `renamed_from`; a name that disappears is a drop and a name that appears is an add.
The order is the order of application: index drops, field drops (and owner drops), object drops
(dependents first), renames, object creates (referenced objects first), owner adds, field adds,
field changes (type, storage, then foreign key actions), index adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.blueprint.model import App, FieldDef, Label, ObjectDef

#: (name, columns, unique) of one index of an object's table.
IndexSpec = tuple[str, tuple[str, ...], bool]
IndexRule = Callable[[ObjectDef], list[IndexSpec]]
#: The effective maximum length of a text-like field (None: unbounded or not text).
LengthRule = Callable[[FieldDef], int | None]

#: Type changes that never lose a value (a value that does not fit still fails the dry run).
LOSSLESS_TYPE_CHANGES = frozenset(
    {
        ("text", "long_text"),
        ("email", "text"),
        ("email", "long_text"),
        ("phone", "text"),
        ("phone", "long_text"),
        ("url", "text"),
        ("url", "long_text"),
        ("select", "text"),
        ("select", "long_text"),
        ("autonumber", "text"),
        ("integer", "decimal"),
        ("integer", "currency"),
        ("decimal", "currency"),
        ("currency", "decimal"),
    }
)
_SCALED = ("decimal", "currency", "percent")


def declared_indexes(obj: ObjectDef) -> list[IndexSpec]:
    """Only the indexes a blueprint declares (the store passes its full rule instead)."""
    out: list[IndexSpec] = []
    for ix in obj.indexes:
        cols = tuple(obj.field(n).column or n for n in ix.fields)
        out.append((ix.name or f"{'ux' if ix.unique else 'ix'}_{obj.name}_{'_'.join(cols)}", cols, ix.unique))
    return out


def declared_length(f: FieldDef) -> int | None:
    return f.max_length


# -- operations --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One schema change. `destructive` ops may lose data and need explicit permission."""

    @property
    def destructive(self) -> bool:
        return False

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class CreateObject(Op):
    obj: ObjectDef

    def describe(self) -> str:
        return f"create object {self.obj.name} ({len(self.obj.stored_fields)} fields)"


@dataclass(frozen=True)
class DropObject(Op):
    obj: ObjectDef

    @property
    def destructive(self) -> bool:
        return True

    def describe(self) -> str:
        return f"drop object {self.obj.name} and all its records"


@dataclass(frozen=True)
class RenameObject(Op):
    old: str
    new: str

    def describe(self) -> str:
        return f"rename object {self.old} to {self.new}"


@dataclass(frozen=True)
class AddField(Op):
    object: str
    field: FieldDef

    def describe(self) -> str:
        default = f" (default {self.field.default!r} for existing records)" if self.field.default is not None else ""
        return f"add field {self.object}.{self.field.name} ({self.field.type}){default}"


@dataclass(frozen=True)
class DropField(Op):
    object: str
    field: FieldDef

    @property
    def destructive(self) -> bool:
        return True

    def describe(self) -> str:
        return f"drop field {self.object}.{self.field.name} and its values"


@dataclass(frozen=True)
class RenameField(Op):
    object: str
    old: FieldDef
    new: FieldDef

    def describe(self) -> str:
        return f"rename field {self.object}.{self.old.name} to {self.new.name}"


@dataclass(frozen=True)
class ChangeFieldType(Op):
    """A field keeps its column but changes type; stored values are converted one by one."""

    object: str
    old_object: str
    old: FieldDef
    new: FieldDef

    @property
    def destructive(self) -> bool:
        return (self.old.type, self.new.type) not in LOSSLESS_TYPE_CHANGES

    def describe(self) -> str:
        return f"change type of {self.object}.{self.new.name} from {self.old.type} to {self.new.type}"


@dataclass(frozen=True)
class AlterField(Op):
    """A field keeps its type but its storage narrows or widens (length, scale, options)."""

    object: str
    old_object: str
    old: FieldDef
    new: FieldDef
    old_length: int | None = None
    new_length: int | None = None

    @property
    def removed_options(self) -> tuple[str, ...]:
        kept = {o.id for o in self.new.options}
        return tuple(o.id for o in self.old.options if o.id not in kept)

    @property
    def old_scale(self) -> int | None:
        return _scale(self.old)

    @property
    def new_scale(self) -> int | None:
        return _scale(self.new)

    @property
    def narrows_length(self) -> bool:
        return self.new_length is not None and (self.old_length is None or self.new_length < self.old_length)

    @property
    def narrows_scale(self) -> bool:
        return self.old_scale is not None and self.new_scale is not None and self.new_scale < self.old_scale

    @property
    def destructive(self) -> bool:
        return self.narrows_length or self.narrows_scale or bool(self.removed_options)

    def describe(self) -> str:
        parts = []
        if self.old_length != self.new_length:
            parts.append(f"max length {self.old_length or 'unbounded'} -> {self.new_length or 'unbounded'}")
        if self.old_scale != self.new_scale:
            parts.append(f"scale {self.old_scale} -> {self.new_scale}")
        if self.removed_options:
            parts.append(f"remove options {', '.join(self.removed_options)}")
        return f"alter field {self.object}.{self.new.name}: {'; '.join(parts)}"


@dataclass(frozen=True)
class ChangeOnDelete(Op):
    """A lookup (or user) field keeps its column but its foreign key gets another ON DELETE action."""

    object: str
    old: FieldDef
    new: FieldDef

    def describe(self) -> str:
        return f"change on_delete of {self.object}.{self.new.name}: {self.old.on_delete} -> {self.new.on_delete}"


@dataclass(frozen=True)
class AddOwner(Op):
    """An object becomes owned: its table gains `owner_id` (existing records get no owner)."""

    object: str

    def describe(self) -> str:
        return f"add owner to {self.object} (owner_id; existing records get no owner)"


@dataclass(frozen=True)
class DropOwner(Op):
    """An object stops being owned: its table loses `owner_id` and who owns each record."""

    object: str

    @property
    def destructive(self) -> bool:
        return True

    def describe(self) -> str:
        return f"drop owner of {self.object} (owner_id) and who owns each record"


@dataclass(frozen=True)
class AddIndex(Op):
    object: str
    name: str
    columns: tuple[str, ...]
    unique: bool = False

    def describe(self) -> str:
        kind = "unique index" if self.unique else "index"
        return f"add {kind} {self.name} on {self.object}({', '.join(self.columns)})"


@dataclass(frozen=True)
class DropIndex(Op):
    object: str
    name: str
    columns: tuple[str, ...]
    unique: bool = False

    def describe(self) -> str:
        return f"drop index {self.name} on {self.object}"


def _scale(f: FieldDef) -> int | None:
    if f.type not in _SCALED:
        return None
    return int(f.settings.get("scale", 4 if f.type == "percent" else 2))


# -- diff -------------------------------------------------------------------------------------
def diff(
    old: App | None,
    new: App,
    *,
    indexes: IndexRule = declared_indexes,
    max_length: LengthRule = declared_length,
) -> list[Op]:
    """The operations that turn the schema of `old` (None: empty database) into that of `new`."""
    return _Differ(old, new, indexes, max_length).run()


class _Differ:
    def __init__(self, old: App | None, new: App, indexes: IndexRule, max_length: LengthRule) -> None:
        self.old = {o.name: o for o in (old.objects if old else ())}
        self.new = new
        self.indexes = indexes
        self.max_length = max_length
        #: new object name -> old object name, for objects kept or renamed
        self.kept: dict[str, str] = {}
        for o in new.objects:
            if o.name in self.old:
                self.kept[o.name] = o.name
            elif o.renamed_from and o.renamed_from in self.old:
                self.kept[o.name] = o.renamed_from

    def run(self) -> list[Op]:
        gone = [o for name, o in self.old.items() if name not in self.kept.values()]
        created = [o for o in self.new.objects if o.name not in self.kept]
        field_ops = [self._fields(self.old[old_name], self.new.object(name)) for name, old_name in self.kept.items()]
        index_drops, index_adds = self._indexes([op for group in field_ops for op in group if isinstance(op, AddField)])
        ops: list[Op] = list(index_drops)
        ops += [op for group in field_ops for op in group if isinstance(op, DropField | DropOwner)]
        ops += [DropObject(o) for o in _dependents_first(gone)]
        ops += [RenameObject(old, new) for new, old in self.kept.items() if old != new]
        ops += [op for group in field_ops for op in group if isinstance(op, RenameField)]
        ops += [CreateObject(o) for o in _referenced_first(created)]
        for kind in (AddOwner, AddField, ChangeFieldType, AlterField, ChangeOnDelete):
            ops += [op for group in field_ops for op in group if isinstance(op, kind)]
        ops += index_adds
        return ops

    def _fields(self, old_obj: ObjectDef, new_obj: ObjectDef) -> list[Op]:
        old_fields = {f.name: f for f in old_obj.stored_fields}
        ops: list[Op] = []
        matched: set[str] = set()
        for f in new_obj.stored_fields:
            source = f.name if f.name in old_fields else f.renamed_from
            before = old_fields.get(source) if source else None
            if before is None or before.column is None or self._replaced(before, f):
                ops.append(AddField(new_obj.name, f))
                continue
            matched.add(before.name)
            if before.name != f.name:
                ops.append(RenameField(new_obj.name, before, f))
            ops.extend(self._changes(old_obj.name, new_obj.name, before, f))
        ops += [DropField(old_obj.name, f) for name, f in old_fields.items() if name not in matched]
        if old_obj.owned != new_obj.owned:
            ops.append(AddOwner(new_obj.name) if new_obj.owned else DropOwner(old_obj.name))
        if old_obj.parent and new_obj.parent and self.kept.get(new_obj.parent) == old_obj.parent != new_obj.parent:
            ops.append(RenameField(new_obj.name, _parent_link(old_obj.parent), _parent_link(new_obj.parent)))
        return ops

    def _replaced(self, before: FieldDef, after: FieldDef) -> bool:
        """Whether a field's column cannot be kept (a new column name, or a lookup to another object)."""
        if before.column != after.column and before.name == after.name:
            return True
        if after.type in ("lookup", "user") or before.type in ("lookup", "user"):
            renamed_to = {old: new for new, old in self.kept.items()}
            return before.type != after.type or renamed_to.get(before.target or "", before.target) != after.target
        return False

    def _changes(self, old_name: str, name: str, before: FieldDef, after: FieldDef) -> list[Op]:
        if before.type != after.type:
            return [ChangeFieldType(name, old_name, before, after)]
        ops: list[Op] = []
        old_len, new_len = self.max_length(before), self.max_length(after)
        op = AlterField(name, old_name, before, after, old_len, new_len)
        if old_len != new_len or op.old_scale != op.new_scale or op.removed_options:
            ops.append(op)
        if after.type in ("lookup", "user") and before.on_delete != after.on_delete:
            ops.append(ChangeOnDelete(name, before, after))
        return ops

    def _indexes(self, added: list[AddField]) -> tuple[list[Op], list[Op]]:
        """Index drops and adds; an index on a re-created column is dropped and added again."""
        drops: list[Op] = []
        adds: list[Op] = []
        for name, old_name in self.kept.items():
            old_obj, new_obj = self.old[old_name], self.new.object(name)
            renamed = _column_renames(old_obj, new_obj)
            fresh = {op.field.column for op in added if op.object == name}
            before = {(n, tuple(renamed.get(c, c) for c in c_), u): (n, c_, u) for n, c_, u in self.indexes(old_obj)}
            after = self.indexes(new_obj)
            drops += [
                DropIndex(old_name, n, cols, u)
                for key, (n, cols, u) in before.items()
                if key not in after or fresh.intersection(key[1])
            ]
            adds += [AddIndex(name, *ix) for ix in after if ix not in before or fresh.intersection(ix[1])]
        return drops, adds


def _parent_link(parent: str) -> FieldDef:
    """The link column of a line object to its parent, as a field (for renaming it)."""
    return FieldDef(name=parent, type="lookup", label=Label(parent), target=parent)


def _column_renames(old_obj: ObjectDef, new_obj: ObjectDef) -> dict[str, str]:
    old_cols = {f.name: f.column for f in old_obj.stored_fields}
    out: dict[str, str] = {}
    for f in new_obj.stored_fields:
        was = old_cols.get(f.renamed_from or "") if f.name not in old_cols else None
        if was and f.column:
            out[was] = f.column
    return out


def _references(obj: ObjectDef) -> set[str]:
    refs = {f.target for f in obj.stored_fields if f.type == "lookup" and f.target}
    if obj.parent:
        refs.add(obj.parent)
    return refs - {obj.name}


def _referenced_first(objects: Iterable[ObjectDef]) -> list[ObjectDef]:
    """Objects ordered so each comes after those it refers to; cycles keep declaration order."""
    pending = list(objects)
    names = {o.name for o in pending}
    done: list[ObjectDef] = []
    placed: set[str] = set()
    while pending:
        ready = [o for o in pending if not (_references(o) & names) - placed]
        pick = ready[0] if ready else pending[0]
        done.append(pick)
        placed.add(pick.name)
        pending.remove(pick)
    return done


def _dependents_first(objects: Iterable[ObjectDef]) -> list[ObjectDef]:
    return list(reversed(_referenced_first(objects)))
