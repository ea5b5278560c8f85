"""The expression language: parse once, type-check against a scope, run in Python or in SQL.

    tree = parse("amount > 100000 and stage = 'won'")
    typed = check(tree, scope, functions, expected=Kind.BOOLEAN)
    is_big = to_python(typed)(record)          # one record
    where = to_sql(typed, sql_scope)           # a million rows

`docs/expressions.md` is the reference for users.
"""

from engine.expr.ast import Node
from engine.expr.builtins import builtin_functions
from engine.expr.check import check
from engine.expr.cost import expression_cost
from engine.expr.functions import SPECIAL_FORMS, FunctionDef, FunctionRegistry
from engine.expr.limits import DEFAULT_LIMITS, REQUEST_LIMITS, Limits
from engine.expr.parse import parse
from engine.expr.python import to_python
from engine.expr.sql import to_sql
from engine.expr.sqlite import register_sqlite_functions
from engine.expr.typed import Typed, clock_reader
from engine.expr.types import FieldInfo, Kind, RecordView, SqlCollection, SqlScope, TypeScope

__all__ = [
    "DEFAULT_LIMITS",
    "REQUEST_LIMITS",
    "SPECIAL_FORMS",
    "FieldInfo",
    "FunctionDef",
    "FunctionRegistry",
    "Kind",
    "Limits",
    "Node",
    "RecordView",
    "SqlCollection",
    "SqlScope",
    "TypeScope",
    "Typed",
    "builtin_functions",
    "check",
    "clock_reader",
    "expression_cost",
    "parse",
    "register_sqlite_functions",
    "to_python",
    "to_sql",
]
