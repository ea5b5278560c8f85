"""The record page `/app/{object}/{id}`: highlights, the fields by layout, lines, related lists and
the timeline.

Everything is read through the reader's access: hidden fields are absent from the record the
store returns (and so from the page), related lists are the reader's own lists of the objects
that refer to this one, and the timeline is the record's history as the reader may see it. The
number of queries depends on the blueprint (objects referring to this one), never on the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from engine.blueprint.model import FieldDef, Label, LayoutSection, ObjectDef
from engine.errors import LoomworkError, NotFound
from engine.store.query import Condition, ListQuery
from engine.web.app_social import read_timeline
from engine.web.display import Display
from engine.web.i18n import Words
from engine.web.identity import Identity
from engine.web.listing import default_view, key, views_of
from engine.web.shell import page_template

if TYPE_CHECKING:
    from engine.web.app_pages import Pages

#: Records shown per related list (its header links to the full, filtered list).
RELATED_ROWS = 5
#: Fields of the highlights panel: the first of the first section, after the title.
HIGHLIGHTS = 4


@dataclass(frozen=True)
class Related:
    """Records of another object whose lookup points at this record."""

    obj: ObjectDef
    via: FieldDef
    columns: tuple[str, ...]


def sections_of(obj: ObjectDef, hidden: frozenset[str]) -> list[LayoutSection]:
    """The record's sections: its first layout, every field it leaves out in a last section, and
    no field the reader may not see."""
    layout = obj.layouts[0] if obj.layouts else None
    placed: set[str] = set()
    out = []
    for s in layout.sections if layout else ():
        names = tuple(n for n in s.fields if n not in hidden and obj.field(n).type != "child_table")
        placed.update(s.fields)
        if names:
            out.append(LayoutSection(label=s.label, fields=names, columns=s.columns))
    rest = tuple(
        f.name for f in obj.fields if f.name not in placed and f.name not in hidden and f.type != "child_table"
    )
    if rest:
        out.append(LayoutSection(label=Label(en="Other", zh="其他") if out else None, fields=rest, columns=2))
    return out


def related_of(pages: Pages, who: Identity, obj: ObjectDef) -> list[Related]:
    out = []
    for other in pages.app.objects:
        if other.parent is not None or not who.access.may(other.name, "read"):
            continue
        hidden = who.access.hidden(other.name)
        for f in other.fields:
            if f.type == "lookup" and f.target == obj.name and f.name not in hidden:
                view = views_of(other)[0] if other.views else default_view(other)
                columns = tuple(c for c in view.columns if c != f.name and c not in hidden)[:4]
                out.append(Related(other, f, columns))
    return out


def read_record(pages: Pages, who: Identity, words: Words, obj: ObjectDef, record_id: int) -> dict[str, Any]:
    store = pages.store
    record = store.get(obj.name, record_id, access=who.access)
    hidden = who.access.hidden(obj.name)
    display: Display = pages.display(who, words)
    sections = sections_of(obj, hidden)
    shown = [n for s in sections for n in s.fields]
    display.prepare(obj, [record], [*shown, "owner_id", "created_by"])
    lines = []
    for f in obj.child_fields:
        if f.name in hidden or f.target is None:
            continue
        child = store.object(f.target)
        child_hidden = who.access.hidden(child.name)
        columns = [c.name for c in child.fields if c.name not in child_hidden and c.type != "child_table"]
        rows = record.get(f.name) or []
        display.prepare(child, rows, columns)
        lines.append(
            {
                "field": f,
                "obj": child,
                "columns": [(c, display.label(child, c)) for c in columns],
                "rows": [[display.cell(child, r, c) for c in columns] for r in rows],
            }
        )
    related = []
    for rel in related_of(pages, who, obj):
        q = ListQuery(
            conditions=[Condition(key(rel.obj, rel.via.name), "eq", record_id, rel.via.name)],
            fields=["id", *(key(rel.obj, n) for n in (rel.obj.title_field, *rel.columns) if n != "id")],
            limit=RELATED_ROWS,
            total=True,
            sort=["-updated_at"],
        )
        page = store.find(rel.obj.name, q, access=who.access)
        display.prepare(rel.obj, page.records, rel.columns)
        related.append(
            {
                "obj": rel.obj,
                "via": rel.via,
                "total": page.total or 0,
                "columns": [(c, display.label(rel.obj, c)) for c in rel.columns],
                "rows": [
                    {
                        "id": r["id"],
                        "title": str(r.get(rel.obj.title_field) or f"#{r['id']}"),
                        "cells": [display.cell(rel.obj, r, c) for c in rel.columns],
                    }
                    for r in page.records
                ],
                "href": f"/app/{rel.obj.name}?{key(rel.obj, rel.via.name)}={record_id}",
                "key": key(rel.obj, rel.via.name),
                "may_create": who.access.may(rel.obj.name, "create"),
            }
        )
    title_value = record.get(obj.title_field) if obj.title_field != "id" else None
    highlights = [n for n in (sections[0].fields if sections else ()) if n != obj.title_field][:HIGHLIGHTS]
    return {
        "record": record,
        "record_title": str(title_value) if title_value else f"#{record_id}",
        "sections": [
            {
                "label": words.label(s.label) if s.label else None,
                "columns": s.columns,
                "fields": [(n, display.label(obj, n), display.cell(obj, record, n)) for n in s.fields],
            }
            for s in sections
        ],
        "highlights": [(display.label(obj, n), display.cell(obj, record, n)) for n in highlights],
        "owner": display.cell(obj, record, "owner_id") if obj.owned else None,
        "lines": lines,
        "related": related,
        "timeline": read_timeline(pages, who, words, obj, record_id),
    }


async def record_response(
    pages: Pages, request: Request, who: Identity, object_name: str, record_id: int, status: int = 200, **extra: Any
) -> Response:
    """The record page (also after a refused comment: `comment_error`, `draft`)."""
    words = pages.words(request, who)
    try:
        obj = pages.store.object(object_name)
        if obj.parent is not None or not who.access.may(obj.name, "read"):
            raise NotFound(f"no object '{object_name}'", code="object.unknown")
        data = await pages.read(read_record, pages, who, words, obj, record_id)
    except LoomworkError as exc:
        return pages.problem_page(request, who, words, exc)
    context = {
        "obj": obj,
        "title": data["record_title"],
        "may_update": who.access.may(obj.name, "update"),
        **data,
        **extra,
    }
    return pages.render(request, who, words, page_template(pages.env, "record", obj.name), status=status, **context)


def record_routes(router: APIRouter, pages: Pages) -> None:
    @router.get("/{object_name}/{record_id}")
    async def record_page(object_name: str, record_id: int, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        return await record_response(pages, request, who, object_name, record_id)
