"""The typed tree `check` returns: every node carries its kind, nullability and number scale."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.expr.ast import Scalar
from engine.expr.types import FieldInfo, Kind

if TYPE_CHECKING:
    from engine.expr.functions import FunctionDef


@dataclass(frozen=True, slots=True)
class Out:
    """The type of a value: kind, whether it may be null, and facts used by the backends."""

    kind: Kind
    nullable: bool = True
    #: Decimal places of a number (exact for literals and fields, fixed for quotients).
    scale: int = 0
    #: Longest text, when known (for the text-growth limit).
    length: int | None = None
    #: Kind of list elements.
    item_kind: Kind | None = None
    #: How the type is shown in messages ("currency").
    label: str = ""
    #: The option ids a select field's value (or a multi-select's items) must be one of.
    options: tuple[str, ...] | None = None

    @property
    def shown(self) -> str:
        return self.label or self.kind.value


@dataclass(frozen=True, slots=True)
class Typed:
    col: int
    out: Out

    @property
    def kind(self) -> Kind:
        return self.out.kind


@dataclass(frozen=True, slots=True)
class TLiteral(Typed):
    value: Scalar


@dataclass(frozen=True, slots=True)
class TField(Typed):
    """A field path read from record frame `frame` (0: the record; n: the n-th aggregate item)."""

    frame: int
    path: tuple[str, ...]
    info: FieldInfo


@dataclass(frozen=True, slots=True)
class TList(Typed):
    items: tuple[Typed, ...]


@dataclass(frozen=True, slots=True)
class TUnary(Typed):
    op: str
    operand: Typed


@dataclass(frozen=True, slots=True)
class TBinary(Typed):
    """`op` is one of `and or + - * / concat = != < <= > >= in` (`not in` is `not(in)`)."""

    op: str
    left: Typed
    right: Typed


@dataclass(frozen=True, slots=True)
class TIf(Typed):
    cond: Typed
    then: Typed
    other: Typed


@dataclass(frozen=True, slots=True)
class TCall(Typed):
    fn: FunctionDef
    args: tuple[Typed, ...]


@dataclass(frozen=True, slots=True)
class TAggregate(Typed):
    """`count|sum|avg|min|max(collection [as alias], value, filter)`; items are frame `frame`."""

    name: str
    collection: str
    frame: int
    value: Typed | None
    where: Typed | None


@dataclass(frozen=True, slots=True)
class TRecordFn(Typed):
    """`changed(field)` or `previous(field)`: looks at the update being checked (Python only)."""

    name: str
    path: tuple[str, ...]


def nodes(typed: Any) -> Iterator[Any]:
    """Every node of a typed expression tree, depth first."""
    stack = [typed]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            yield node
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))


def clock_reader(node: Typed) -> TCall | TField | None:
    """The first part of `node` whose value changes as time passes: a call of now() or today(),
    or a field that reads them (a virtual formula); None when the value depends on data only."""
    if isinstance(node, TCall) and node.fn.clock:
        return node
    if isinstance(node, TField):
        return node if node.info.reads_clock else None
    children: tuple[Typed | None, ...] = ()
    if isinstance(node, TList):
        children = node.items
    elif isinstance(node, TUnary):
        children = (node.operand,)
    elif isinstance(node, TBinary):
        children = (node.left, node.right)
    elif isinstance(node, TIf):
        children = (node.cond, node.then, node.other)
    elif isinstance(node, TCall):
        children = node.args
    elif isinstance(node, TAggregate):
        children = (node.value, node.where)
    for child in children:
        found = clock_reader(child) if child is not None else None
        if found is not None:
            return found
    return None
