"""DDL for each schema operation, through alembic `Operations` on either database.

The same `SchemaWriter` renders a plan (offline: alembic writes SQL text to a buffer) and applies
it (online: alembic executes on the migration's connection). Data steps (defaults for existing
rows, converted values) run only online; offline they are written as `--` comment lines.
SQLite changes what it can with plain ALTER TABLE and rebuilds the table (alembic batch) otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from sqlalchemy import ForeignKeyConstraint, MetaData, Table
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable
from sqlalchemy.types import TypeEngine

from engine.blueprint.diff import (
    AddField,
    AddIndex,
    AddOwner,
    AlterField,
    ChangeFieldType,
    ChangeOnDelete,
    CreateObject,
    DropField,
    DropIndex,
    DropObject,
    DropOwner,
    Op,
    RenameField,
    RenameObject,
)
from engine.blueprint.model import FieldDef
from engine.store.migrate.convert import Conversion, converted, narrowing_conversion, stored_values, write_values
from engine.store.migrate.convert import column_of as _column_of
from engine.store.migrate.convert import type_conversion as _type_conversion
from engine.store.migrate.formulas import ComputeFormula
from engine.store.tables import field_column
from engine.types.registry import TypeRegistry

#: Finds the current definition of a table for a SQLite rebuild while rendering offline
#: (the columns given replace the reflected ones of the same name).
CopySource = Callable[[str, Sequence[sa.Column[Any]]], Table | None]
#: The name of the foreign key on (table, column) as stored before the plan, while rendering offline.
ForeignKeyName = Callable[[str, str], str | None]


class SchemaWriter:
    """Emits one operation at a time; `existing` names the tables present before each step."""

    def __init__(
        self,
        ops: Operations,
        types: TypeRegistry,
        target: MetaData,
        existing: Iterable[str],
        copy_source: CopySource | None = None,
        foreign_key_name: ForeignKeyName | None = None,
    ) -> None:
        self.ops = ops
        self.types = types
        self.target = target
        self.existing = set(existing)
        self.copy_source = copy_source
        self.foreign_key_name = foreign_key_name
        self.pending_fks: list[ForeignKeyConstraint] = []
        context = ops.get_context()
        self.dialect = context.dialect.name
        self.offline = bool(context.as_sql)
        self.quote = context.dialect.identifier_preparer.quote

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"

    # -- entry points -------------------------------------------------------------------------
    def create_tables(self, names: Iterable[str]) -> None:
        """Create tables of the target metadata; foreign keys to tables not there yet wait."""
        for name in names:
            table = self.target.tables[name]
            ready = [
                fk for fk in table.foreign_key_constraints if self.sqlite or fk.referred_table.name in self.existing
            ]
            self.pending_fks += [fk for fk in table.foreign_key_constraints if fk not in ready]
            self.ops.execute(CreateTable(table, include_foreign_key_constraints=ready))
            for index in sorted(table.indexes, key=lambda ix: ix.name or ""):
                self.ops.execute(CreateIndex(index))
            self.existing.add(name)

    def add_columns(self, columns: Iterable[tuple[str, str]]) -> None:
        """Add (table, column) pairs of the target metadata to existing tables (system columns)."""
        for table, name in columns:
            column = self.target.tables[table].c[name]
            # a fresh column: alembic's copy of a column bound to a table drops its foreign keys
            fks = [sa.ForeignKey(fk.target_fullname, ondelete=fk.ondelete) for fk in column.foreign_keys]
            fresh: sa.Column[Any] = sa.Column(name, column.type, *fks, nullable=column.nullable)
            self.ops.add_column(table, fresh, inline_references=self.sqlite)

    def add_pending_foreign_keys(self) -> None:
        """Foreign keys of created tables that refer to tables created after them (cycles)."""
        for fk in self.pending_fks:
            self.ops.execute(AddConstraint(fk, isolate_from_table=True))
        self.pending_fks = []

    def run(self, op: Op) -> None:
        handler = getattr(self, f"_{type(op).__name__}")
        handler(op)

    # -- objects ------------------------------------------------------------------------------
    def _CreateObject(self, op: CreateObject) -> None:
        self.create_tables([op.obj.name])

    def _DropObject(self, op: DropObject) -> None:
        self.ops.drop_table(op.obj.name)
        self.existing.discard(op.obj.name)

    def _RenameObject(self, op: RenameObject) -> None:
        self.ops.rename_table(op.old, op.new)
        if not self.sqlite:
            # the id sequence and primary key index keep their names; free them for a new object
            self.ops.execute(
                f"ALTER SEQUENCE {self.quote(op.old + '_id_seq')} RENAME TO {self.quote(op.new + '_id_seq')}"
            )
            self.ops.execute(f"ALTER INDEX {self.quote(op.old + '_pkey')} RENAME TO {self.quote(op.new + '_pkey')}")
        self.existing.discard(op.old)
        self.existing.add(op.new)

    # -- fields -------------------------------------------------------------------------------
    def _AddField(self, op: AddField) -> None:
        column = field_column(op.field, self.types)
        self.ops.add_column(op.object, column, inline_references=self.sqlite)
        if op.field.default is not None:
            table, col = _column_of(op.object, column.name, column.type)
            self.ops.execute(sa.update(table).values({col.name: op.field.default}))

    def _DropField(self, op: DropField) -> None:
        self._drop_column(op.object, _column(op.field), referencing=op.field.type in ("lookup", "user"))

    def _AddOwner(self, op: AddOwner) -> None:
        self.add_columns([(op.object, "owner_id")])

    def _DropOwner(self, op: DropOwner) -> None:
        self._drop_column(op.object, "owner_id", referencing=True)

    def _ChangeOnDelete(self, op: ChangeOnDelete) -> None:
        """Re-create the field's foreign key with the new action (SQLite: rebuild the table)."""
        column = field_column(op.new, self.types)
        (fk,) = column.foreign_keys
        if self.sqlite:
            # offline the copy comes from the stored table, where the column may still have its old name
            stored = sa.Column(_column(op.old), column.type, sa.ForeignKey(fk.target_fullname, ondelete=fk.ondelete))
            with self._rebuild(op.object, [stored if self.offline else column]):
                pass
            return
        name = self._foreign_key_name(op)
        if name is not None:
            self.ops.drop_constraint(name, op.object, type_="foreignkey")
        target_table, target_column = fk.target_fullname.rsplit(".", 1)
        self.ops.create_foreign_key(
            name or f"{op.object}_{column.name}_fkey",
            op.object,
            target_table,
            [column.name],
            [target_column],
            ondelete=fk.ondelete,
        )

    def _RenameField(self, op: RenameField) -> None:
        self.ops.alter_column(op.object, _column(op.old), new_column_name=_column(op.new))

    def _ChangeFieldType(self, op: ChangeFieldType) -> None:
        self._rewrite(op.object, op.old, op.new, _type_conversion(self.types, op))

    def _AlterField(self, op: AlterField) -> None:
        self._rewrite(op.object, op.old, op.new, narrowing_conversion(op))

    def _ComputeFormula(self, op: ComputeFormula) -> None:
        """Retype the column if the result changed; the values are computed after every schema op."""
        column = _column(op.field)
        if op.old is not None and not self._same_column_type(op.old, op.field):
            self.ops.execute(sa.update(_column_of(op.object, column, sa.Integer())[0]).values({column: None}))
            self._alter_type(op.object, column, op.old, op.field, cleared=True)
        if self.offline:
            note = f"-- then {op.object}.{column} computed in SQL for the existing records and written back by id"
            self.ops.get_context().impl.static_output(note)

    # -- indexes ------------------------------------------------------------------------------
    def _AddIndex(self, op: AddIndex) -> None:
        self.ops.create_index(op.name, op.object, list(op.columns), unique=op.unique)

    def _DropIndex(self, op: DropIndex) -> None:
        self.ops.drop_index(op.name, table_name=op.object)

    # -- helpers ------------------------------------------------------------------------------
    def _sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return self.types[f.type].sql_type(f)

    def _same_column_type(self, old: FieldDef, new: FieldDef) -> bool:
        dialect = self.ops.get_context().dialect
        return bool(self._sql_type(old).compile(dialect) == self._sql_type(new).compile(dialect))

    def _rewrite(self, table: str, old: FieldDef, new: FieldDef, convert: Conversion | None) -> None:
        """Change a column's type and/or its values: read, convert, clear, alter, write back."""
        column = _column(new)
        retype = not self._same_column_type(old, new)
        values: list[tuple[int, Any, Any]] = []
        if convert is not None:
            values = self._read_converted(table, column, old, convert)
            if retype:
                self.ops.execute(sa.update(_column_of(table, column, sa.Integer())[0]).values({column: None}))
        if retype:
            self._alter_type(table, column, old, new, cleared=convert is not None)
        if convert is None:
            return
        if self.offline:
            note = f"-- then each stored value converted in Python and written back by id into {table}.{column}"
            self.ops.get_context().impl.static_output(note)
            return
        # a value equal in Python may still be stored differently (a scaled decimal on SQLite)
        same_storage = old.type == new.type and old.settings.get("scale") == new.settings.get("scale")
        rows = [(rid, after) for rid, before, after in values if retype or not same_storage or after != before]
        write_values(self.ops.get_bind(), table, column, self._sql_type(new), rows)

    def _read_converted(
        self, table: str, column: str, old: FieldDef, convert: Conversion
    ) -> list[tuple[int, Any, Any]]:
        if self.offline:
            return []
        stored = stored_values(self.ops.get_bind(), table, column, self._sql_type(old))
        try:
            return converted(stored, convert, (table, column))
        except ValueError as exc:
            raise ConversionFailed(str(exc)) from None

    def _alter_type(self, table: str, column: str, old: FieldDef, new: FieldDef, *, cleared: bool) -> None:
        old_type, new_type = self._sql_type(old), self._sql_type(new)
        if self.sqlite:
            with self._rebuild(table) as batch:
                batch.alter_column(column, type_=new_type, existing_type=old_type)
        else:
            using = "NULL" if cleared else None
            self.ops.alter_column(table, column, type_=new_type, existing_type=old_type, postgresql_using=using)

    def _drop_column(self, table: str, column: str, *, referencing: bool) -> None:
        """SQLite cannot drop a column of a foreign key with ALTER TABLE: that one rebuilds the table."""
        if self.sqlite and referencing:
            with self._rebuild(table) as batch:
                batch.drop_column(column)
        elif self.sqlite:
            self.ops.execute(f"ALTER TABLE {self.quote(table)} DROP COLUMN {self.quote(column)}")
        else:
            self.ops.drop_column(table, column)

    def _foreign_key_name(self, op: ChangeOnDelete) -> str | None:
        """The stored name of the field's foreign key (PostgreSQL names it; a renamed table keeps it)."""
        if self.offline:
            return self.foreign_key_name(op.object, _column(op.old)) if self.foreign_key_name else None
        column = _column(op.new)
        for fk in sa.inspect(self.ops.get_bind()).get_foreign_keys(op.object):
            if fk["constrained_columns"] == [column] and fk.get("name"):
                return str(fk["name"])
        return None

    def _rebuild(self, table: str, overrides: Sequence[sa.Column[Any]] = ()) -> Any:
        """Re-create `table` (alembic batch); `overrides` replace columns (with their foreign keys)."""
        copy_from = self.copy_source(table, overrides) if self.offline and self.copy_source else None
        return self.ops.batch_alter_table(
            table,
            recreate="always",
            copy_from=copy_from,
            reflect_args=tuple(overrides),
            table_kwargs={"sqlite_autoincrement": True},
        )


class ConversionFailed(ValueError):
    """A stored value could not be converted while applying (the data changed since the plan)."""


def _column(f: FieldDef) -> str:
    if f.column is None:
        raise ValueError(f"field '{f.name}' has no column")
    return f.column


def run_ops(writer: SchemaWriter, ops: Sequence[Op], after_each: Callable[[Op], None]) -> None:
    """Run every op in order; cyclic foreign keys are added right after the last created object."""
    for i, op in enumerate(ops):
        writer.run(op)
        if isinstance(op, CreateObject) and not (i + 1 < len(ops) and isinstance(ops[i + 1], CreateObject)):
            writer.add_pending_foreign_keys()
        after_each(op)
