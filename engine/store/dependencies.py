"""Which stored formulas read which fields of which records, and the route back to them.

A stored formula reads fields of its own record, of records reached through lookups
(`account.sector`), and of the items of collections (`sum(opportunity, o.amount)`); a virtual
formula on the way is followed into its own expression, and another stored formula is a field
like any other (its changes are followed in turn: see `engine.store.cascade`). Built once per
store from the compiled formulas; pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.blueprint.model import App, ObjectDef
from engine.blueprint.scope import collections_of
from engine.expr.typed import TAggregate, TField, TRecordFn, Typed

if TYPE_CHECKING:
    from engine.store.computed import ObjectLogic

#: (object, formula field) of a stored formula.
FormulaKey = tuple[str, str]


@dataclass(frozen=True)
class Hop:
    """One step of a route: from a `source` record to the `target` record its lookup `column`
    names (`lookup`), or to the `target` items whose `column` names it (`items`)."""

    kind: str
    source: str
    target: str
    column: str


Route = tuple[Hop, ...]


@dataclass(frozen=True)
class Read:
    """Stored formula `formula` reads `fields` (columns; virtual formulas by name) of the
    `reached` records found from its record along `route`."""

    formula: FormulaKey
    route: Route
    reached: str
    fields: frozenset[str]

    @property
    def last(self) -> Hop | None:
        return self.route[-1] if self.route else None


@dataclass
class Dependents:
    """Every read of every stored formula, by the object read, and each formula's rank: a formula
    reads only formulas of lower rank, so recomputing in rank order settles every chain."""

    readers: dict[str, list[Read]] = field(default_factory=dict)
    rank: dict[FormulaKey, int] = field(default_factory=dict)
    reads: dict[FormulaKey, list[Read]] = field(default_factory=dict)

    def remote(self, obj: str) -> bool:
        """Whether a stored formula of `obj` reads another record (so another write can change it)."""
        return any(r.route for (o, _), reads in self.reads.items() if o == obj for r in reads)

    def closure(self, seeds: Iterable[tuple[str, str]]) -> set[FormulaKey]:
        """Stored formulas reading any of `seeds` ((object, column or virtual formula name)),
        directly or through other stored formulas."""
        found: set[FormulaKey] = set()
        todo = list(seeds)
        while todo:
            obj, name = todo.pop()
            for read in self.readers.get(obj, ()):
                if name in read.fields and read.formula not in found:
                    found.add(read.formula)
                    todo.append(read.formula)  # a stored formula's column is its name
        return found


def link_columns(app: App, obj: ObjectDef) -> tuple[str, ...]:
    """Columns of `obj` that point at another record: lookups and the link to a line's parent."""
    columns = [str(f.column) for f in obj.stored_fields if f.type == "lookup"]
    if obj.parent_column:
        columns.append(obj.parent_column)
    return tuple(columns)


def build_dependents(app: App, logic: Mapping[str, ObjectLogic]) -> Dependents:
    """The reads of every stored formula of `app` (from its compiled, typed expressions)."""
    deps = Dependents()
    walker = _Walker(app, logic)
    for obj in app.objects:
        for f, compiled in logic[obj.name].stored:
            found: dict[tuple[Route, str], set[str]] = {}
            walker.walk(compiled.typed, [((), obj)], found)
            key = (obj.name, f.name)
            deps.reads[key] = [Read(key, route, reached, frozenset(cols)) for (route, reached), cols in found.items()]
            for read in deps.reads[key]:
                deps.readers.setdefault(read.reached, []).append(read)
    stored = {(o.name, str(f.column)) for o in app.objects for f, _ in logic[o.name].stored}
    for key in deps.reads:
        _rank(deps, key, stored)
    return deps


def _rank(deps: Dependents, key: FormulaKey, stored: set[tuple[str, str]]) -> int:
    if key not in deps.rank:
        deps.rank[key] = 0  # formulas are acyclic (checked at load): this only stops a broken model
        below = [
            _rank(deps, (r.reached, name), stored)
            for r in deps.reads[key]
            for name in r.fields
            if (r.reached, name) in stored and (r.reached, name) != key
        ]
        deps.rank[key] = 1 + max(below) if below else 0
    return deps.rank[key]


Frame = tuple[Route, ObjectDef]


class _Walker:
    def __init__(self, app: App, logic: Mapping[str, ObjectLogic]) -> None:
        self.app = app
        self.logic = logic

    def walk(self, node: Typed, frames: list[Frame], found: dict[tuple[Route, str], set[str]]) -> None:
        if isinstance(node, TField):
            self._path(node.path, frames[node.frame], found)
        elif isinstance(node, TRecordFn):
            self._path(node.path[:1], frames[0], found)
        elif isinstance(node, TAggregate):
            route, obj = frames[node.frame - 1]
            item, back = collections_of(self.app, obj)[node.collection]
            inner = (*route, Hop("items", obj.name, item.name, back))
            found.setdefault((inner, item.name), set()).add(back)
            frames = [*frames[: node.frame], (inner, item)]
            for part in (node.value, node.where):
                if part is not None:
                    self.walk(part, frames, found)
        else:
            for child in _children(node):
                self.walk(child, frames, found)

    def _path(self, path: tuple[str, ...], frame: Frame, found: dict[tuple[Route, str], set[str]]) -> None:
        route, obj = frame
        for i, name in enumerate(path):
            fields = {f.name: f for f in obj.fields}
            f = fields.get(name)
            here = found.setdefault((route, obj.name), set())
            if i == len(path) - 1:
                if f is not None and f.type == "formula" and f.column is None:
                    here.add(name)
                    self.walk(self.logic[obj.name].virtual[name].typed, [(route, obj)], found)
                else:
                    here.add(f.column or name if f is not None else name)
                return
            if f is not None and f.type == "lookup" and f.target:
                column, target = str(f.column), f.target
            elif name == obj.parent:
                column, target = f"{obj.parent}_id", obj.parent
            else:  # a checked expression only navigates lookups and the parent
                return
            here.add(column)
            route = (*route, Hop("lookup", obj.name, target, column))
            obj = self.app.object(target)


def _children(node: Any) -> Iterable[Typed]:
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Typed):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, Typed))
