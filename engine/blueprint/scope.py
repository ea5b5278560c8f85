"""What names mean inside an expression written on an object: the `TypeScope` of the blueprint.

A record's own fields by name; lookups navigate (`account.industry`); child tables and the
objects that refer to this one are collections for aggregates (`sum(lines, l.line_total)`,
`count(activity)`). System fields `id`, `created_at`, `updated_at`, `owner_id`, `created_by`
are readable too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.expr import FieldInfo, Kind, TypeScope

SYSTEM_FIELDS: dict[str, FieldInfo] = {
    "id": FieldInfo(Kind.NUMBER, nullable=False, label="id"),
    "created_at": FieldInfo(Kind.DATETIME, nullable=False, label="datetime"),
    "updated_at": FieldInfo(Kind.DATETIME, nullable=False, label="datetime"),
    "created_by": FieldInfo(Kind.NUMBER, label="user"),
}
#: Formula setting (inferred at check, like `result`): the value reads now() or today().
READS_CLOCK = "reads_clock"
#: Field info of a formula whose type is not known yet (raises, so the caller can order formulas).
PendingFormula = Callable[[ObjectDef, FieldDef], FieldInfo]


class FormulaPending(Exception):
    """A formula refers to another formula that has not been typed yet."""

    def __init__(self, obj: str, field: str) -> None:
        super().__init__(f"{obj}.{field}")
        self.key = (obj, field)


def field_info(f: FieldDef, types: Any) -> FieldInfo | None:
    """The expression type of a stored or formula field, or None for fields expressions cannot use."""
    if f.type in ("child_table", "attachment"):
        return None
    if f.type == "formula":
        kind = f.settings.get("result")
        if kind is None:
            raise FormulaPending("", f.name)
        clock = bool(f.settings.get(READS_CLOCK))
        cost = int(f.settings.get("cost", 0)) if f.column is None else 0
        return FieldInfo(
            Kind(kind), label=str(kind), scale=int(f.settings.get("scale", 0)), reads_clock=clock, cost=cost
        )
    if f.type not in types:
        return None
    ftype = types[f.type]
    kind = Kind(ftype.expr_type) if f.type not in ("lookup", "user") else Kind.NUMBER
    scale = int(ftype.scale(f)) if hasattr(ftype, "scale") and kind is Kind.NUMBER else 0
    max_length = ftype.max_length(f) if hasattr(ftype, "max_length") else None
    item = Kind.TEXT if kind is Kind.LIST else None
    options = tuple(o.id for o in f.options) if f.type in ("select", "multi_select") else None
    return FieldInfo(
        kind,
        nullable=not f.required,
        label=f.type,
        scale=scale,
        max_length=max_length,
        item_kind=item,
        options=options,
    )


def collections_of(app: App, obj: ObjectDef) -> dict[str, tuple[ObjectDef, str]]:
    """Collections of `obj`: name -> (item object, the item's column pointing back at `obj`)."""
    out: dict[str, tuple[ObjectDef, str]] = {}
    for f in obj.child_fields:
        if f.target and app.has_object(f.target):
            out[f.name] = (app.object(f.target), f"{obj.name}_id")
    for other in app.objects:
        links = [f for f in other.stored_fields if f.type == "lookup" and f.target == obj.name]
        for link in links:
            name = other.name if len(links) == 1 else f"{other.name}__{link.name}"
            out.setdefault(name, (other, str(link.column)))
    return out


class ObjectScope(TypeScope):
    """The names an expression on `obj` may use."""

    def __init__(
        self, app: App, obj: ObjectDef, types: Any, readable: Callable[[str, str], bool] | None = None
    ) -> None:
        self.app = app
        self.obj = obj
        self.types = types
        self.readable = readable
        self.fields: Mapping[str, FieldDef] = {f.name: f for f in obj.fields}

    def _own(self, name: str) -> FieldInfo | None:
        info = self._system(name)
        if info is not None:
            if self.readable is not None and not self.readable(self.obj.name, name):
                return replace(info, readable=False)  # the object itself is closed to the reader
            return info
        f = self.fields.get(name)
        if f is None:
            return None
        try:
            info = field_info(f, self.types)
        except FormulaPending:
            raise FormulaPending(self.obj.name, f.name) from None
        if info is not None and self.readable is not None and not self.readable(self.obj.name, name):
            return replace(info, readable=False)
        return info

    def _system(self, name: str) -> FieldInfo | None:
        if name in SYSTEM_FIELDS:
            return SYSTEM_FIELDS[name]
        if name == "owner_id" and self.obj.owned:
            return FieldInfo(Kind.NUMBER, label="user")
        if self.obj.parent and name == f"{self.obj.parent}_id":
            return FieldInfo(Kind.NUMBER, nullable=False, label="lookup")
        return None

    def _target(self, name: str) -> ObjectScope | None:
        f = self.fields.get(name)
        if f is not None and f.type == "lookup" and f.target and self.app.has_object(f.target):
            return ObjectScope(self.app, self.app.object(f.target), self.types, self.readable)
        if self.obj.parent and name == self.obj.parent:
            return ObjectScope(self.app, self.app.object(self.obj.parent), self.types, self.readable)
        return None

    def field(self, path: tuple[str, ...]) -> FieldInfo | None:
        if len(path) == 1:
            return self._own(path[0])
        target = self._target(path[0])
        return target.field(path[1:]) if target is not None else None

    def names(self, prefix: tuple[str, ...]) -> Sequence[str]:
        if prefix:
            target = self._target(prefix[0])
            return target.names(prefix[1:]) if target is not None else []
        own = [f.name for f in self.obj.fields if f.type not in ("child_table", "attachment")]
        return sorted({*own, *SYSTEM_FIELDS, *collections_of(self.app, self.obj)})

    def collection(self, name: str) -> TypeScope | None:
        found = collections_of(self.app, self.obj).get(name)
        if found is None:
            return None
        return ObjectScope(self.app, found[0], self.types, self.readable)
