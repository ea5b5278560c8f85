"""Which fields a formula reads: its own record's, through lookups, its parent and collections.

The policy hides a formula from a role that may not see a field the formula reads (also through
other formulas): a formula is a window onto its inputs, so `margin = unit_price - product.cost_price`
must not show a rep the cost price their role hides. `type_formulas` stores each formula's direct
reads in its settings (`reads`: strings such as `opportunity.amount`); `formula_inputs` follows them through
formulas that read formulas.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.blueprint.model import App, ObjectDef
from engine.blueprint.scope import collections_of
from engine.expr.typed import TAggregate, TField, Typed

Read = tuple[str, str]  # (object, field)


def direct_reads(app: App, obj: ObjectDef, typed: Typed) -> tuple[str, ...]:
    """`object.field` strings for every field the typed expression on `obj` reads, sorted."""
    return tuple(sorted({f"{o}.{f}" for o, f in _reads(app, [obj], typed)}))


def _reads(app: App, frames: list[ObjectDef], node: Typed) -> Iterator[Read]:
    if isinstance(node, TField):
        yield from _path(app, frames[node.frame], node.path)
        return
    if isinstance(node, TAggregate):
        owner = frames[node.frame - 1]
        item, _ = collections_of(app, owner)[node.collection]
        if owner.has_field(node.collection):  # a child table: its field on the parent holds the lines
            yield owner.name, node.collection
        inner = [*frames[: node.frame], item]
        for part in (node.value, node.where):
            if part is not None:
                yield from _reads(app, inner, part)
        return
    for child in _children(node):
        yield from _reads(app, frames, child)


def _path(app: App, obj: ObjectDef, path: tuple[str, ...]) -> Iterator[Read]:
    for i, name in enumerate(path):
        yield obj.name, name
        if i == len(path) - 1:
            return
        if obj.parent and name == obj.parent:
            obj = app.object(obj.parent)
            continue
        target = obj.field(name).target if obj.has_field(name) else None
        if target is None or not app.has_object(target):
            return
        obj = app.object(target)


def _children(node: Typed) -> Iterator[Typed]:
    for slot in node.__slots__:  # typed nodes are slotted dataclasses
        value = getattr(node, slot)
        if isinstance(value, Typed):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, Typed))


def formula_inputs(app: App, object_name: str, field_name: str) -> frozenset[Read]:
    """Every (object, field) the formula reads, also through the formulas it reads."""
    seen: set[Read] = set()
    todo: list[Read] = [(object_name, field_name)]
    while todo:
        o, f = todo.pop()
        if not app.has_object(o) or not app.object(o).has_field(f):
            continue
        fdef = app.object(o).field(f)
        if fdef.type != "formula":
            continue
        for read in fdef.settings.get("reads", ()):
            pair = tuple(str(read).split(".", 1))
            if len(pair) == 2 and pair not in seen:
                seen.add((pair[0], pair[1]))
                todo.append((pair[0], pair[1]))
    return frozenset(seen)
