"""Type-check every expression of a blueprint at load: formulas (in dependency order) and rules.

Problems are located at the expression's YAML value, with the column inside the expression:
`crm/quotes.yaml:88:23 objects.quote.rules[0].when: expression col 10: cannot compare ... [expr.type]`.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from engine.blueprint.conditions import check_conditions
from engine.blueprint.formula_reads import direct_reads
from engine.blueprint.model import App, FieldDef, ObjectDef
from engine.blueprint.roles import check_role_scopes
from engine.blueprint.scope import READS_CLOCK, FormulaPending, ObjectScope
from engine.blueprint.source import Path_, Source
from engine.blueprint.views import check_view_filters
from engine.errors import ExprError, Problem
from engine.expr import (
    FunctionRegistry,
    Kind,
    Typed,
    builtin_functions,
    check,
    clock_reader,
    expression_cost,
    parse,
)
from engine.expr.typed import TCall

#: Decimal places a stored number formula keeps when the blueprint does not say (`scale:`).
DEFAULT_FORMULA_SCALE = 2


def _problem(src: Source, path: Path_, exc: ExprError) -> Problem:
    prefix = f"expression col {exc.col}: " if exc.col else "expression: "
    return src.problem(path, f"{prefix}{exc.message}", exc.code)


def _with_field(obj: ObjectDef, new: FieldDef) -> ObjectDef:
    return replace(obj, fields=tuple(new if f.name == new.name else f for f in obj.fields))


def _replace_object(app: App, obj: ObjectDef) -> App:
    return replace(app, objects=tuple(obj if o.name == obj.name else o for o in app.objects))


def type_formulas(app: App, src: Source, types: Any, functions: FunctionRegistry, problems: list[Problem]) -> App:
    """Give every formula field its result kind and scale; report errors and cycles."""
    pending = [(o.name, f.name) for o in app.objects for f in o.formula_fields]
    while pending:
        progressed = False
        waiting = []
        for obj_name, field_name in pending:
            obj = app.object(obj_name)
            f = obj.field(field_name)
            path: Path_ = ("objects", obj_name, "fields", field_name, "expression")
            expression = str(f.settings.get("expression", ""))
            try:
                typed = check(parse(expression), ObjectScope(app, obj, types), functions, sql=True)
                _refuse_stored_clock(f, typed)
            except FormulaPending as waiting_for:
                waiting.append(((obj_name, field_name), waiting_for.key))
                continue
            except ExprError as exc:
                problems.append(_problem(src, path, exc))
                typed = None
            progressed = True
            reads = () if typed is None else direct_reads(app, obj, typed)
            app = _replace_object(app, _with_field(obj, _typed_formula(f, typed, reads)))
        pending = [key for key, _ in waiting]
        if waiting and not progressed:
            for (obj_name, field_name), needs in waiting:
                problems.append(
                    src.problem(
                        ("objects", obj_name, "fields", field_name, "expression"),
                        f"formula depends on itself (through {needs[0] or obj_name}.{needs[1]})",
                        "expr.cycle",
                    )
                )
            break
    return app


def _refuse_stored_clock(f: FieldDef, typed: Typed) -> None:
    """A stored value is computed when the record is written; one that reads the clock would be
    wrong a moment later, so it must be computed in each query instead (`stored: false`)."""
    reader = clock_reader(typed)
    if reader is None or not f.settings.get("stored", True):
        return
    what = f"{reader.fn.name}()" if isinstance(reader, TCall) else f"'{'.'.join(reader.path)}' (it reads the clock)"
    raise ExprError(
        f"a stored formula cannot use {what}: its stored value would go stale as time passes; "
        "add 'stored: false' to compute it in each query",
        col=reader.col,
        code="formula.reads_clock",
    )


def _typed_formula(f: FieldDef, typed: Typed | None, reads: tuple[str, ...]) -> FieldDef:
    settings = dict(f.settings)
    settings["reads"] = reads
    if typed is not None and clock_reader(typed) is not None:
        settings[READS_CLOCK] = True
    if typed is None or typed.kind in (Kind.NULL, Kind.LIST):
        settings["result"] = Kind.TEXT.value if typed is None or typed.kind is Kind.NULL else Kind.LIST.value
    else:
        settings["result"] = typed.kind.value
    if settings["result"] == Kind.NUMBER.value:
        settings.setdefault("scale", DEFAULT_FORMULA_SCALE)
    if typed is not None:
        settings["cost"] = expression_cost(typed)  # a virtual formula is computed in every query using it
    return replace(f, settings=MappingProxyType(settings))


def check_rules(app: App, src: Source, types: Any, functions: FunctionRegistry, problems: list[Problem]) -> None:
    for obj in app.objects:
        scope = ObjectScope(app, obj, types)
        for i, rule in enumerate(obj.rules):
            try:
                check(parse(rule.when), scope, functions, expected=Kind.BOOLEAN)
            except ExprError as exc:
                problems.append(_problem(src, ("objects", obj.name, "rules", i, "when"), exc))
            except FormulaPending:  # a formula that failed to type; already reported
                continue


def check_expressions(app: App, src: Source, types: Any, problems: list[Problem]) -> App:
    """The app with typed formulas; every expression problem appended to `problems`."""
    functions = builtin_functions()
    app = type_formulas(app, src, types, functions, problems)
    check_rules(app, src, types, functions, problems)
    check_role_scopes(app, src, types, functions, problems)
    check_view_filters(app, src, types, functions, problems)
    check_conditions(app, src, types, functions, problems)
    return app
