"""Refusals in the reader's words: a store problem (`loc`, `code`, message) as a page shows it.

Problems about one field name it by its label (`Lost reason is required`, `输单原因为必填项`)
instead of its machine name; rule messages come in the blueprint's own languages; anything else
keeps the store's message.
"""

from __future__ import annotations

from engine.blueprint.model import ObjectDef
from engine.errors import FieldProblem
from engine.web.i18n import Words

#: Codes whose message a page words itself, with the field's label.
WORDED = {
    "field.required": "{field} is required",
    "field.not_visible": "{field} cannot be filled in now",
}


def field_of(obj: ObjectDef, problem: FieldProblem) -> str | None:
    """The field a problem is located at (`["body", "lost_reason"]` -> `lost_reason`), if any."""
    names = [p for p in problem.loc if isinstance(p, str) and obj.has_field(p)]
    return names[-1] if names else None


def problem_text(obj: ObjectDef, problem: FieldProblem, words: Words) -> str:
    name = field_of(obj, problem)
    if name is not None and problem.code in WORDED:
        return words(WORDED[problem.code], field=words.label(obj.field(name).label))
    return str(problem.as_dict(words.lang)["msg"])
