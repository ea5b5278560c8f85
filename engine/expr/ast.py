"""The untyped syntax tree `parse` returns. Every node knows its 1-based column in the text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

Scalar = Decimal | str | bool | date | datetime | None


@dataclass(frozen=True, slots=True)
class Node:
    col: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A number (Decimal), text, true/false or null."""

    value: Scalar


@dataclass(frozen=True, slots=True)
class Path(Node):
    """A field reference: `amount`, or a related path through lookups: `account.industry`."""

    parts: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class ListExpr(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """`-x` or `not x` (`!x`)."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """Arithmetic, comparison, `and`/`or`, `in`/`not in`; `op_col` is where the operator is."""

    op: str
    left: Node
    right: Node
    op_col: int


@dataclass(frozen=True, slots=True)
class Call(Node):
    """`name(args)`; `alias` is set for `count(lines as l, ...)` (the first argument's alias)."""

    name: str
    args: tuple[Node, ...]
    alias: str | None = None
    alias_col: int = 0
