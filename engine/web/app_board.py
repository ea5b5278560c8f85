"""The kanban board: `/app/{object}/board?by={select field}`, and moving a card.

Columns are the select field's options in order, each with its count and (when the board says
`sum:`) the sum, from one aggregate query; each column shows its first cards (one query per
column: the number of queries does not grow with the cards). A move is an update of that one
field through the store, with the card's version: the same checks as any other write (rules,
permissions, read-only fields, optimistic locking). A refused move re-renders the board with the
card back in its column and the reason on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from engine.blueprint.model import BoardDef, FieldDef, ObjectDef
from engine.errors import Conflict, InputInvalid, LoomworkError, NotFound
from engine.store.query import AggregateQuery, Condition, ListQuery
from engine.web import offload
from engine.web.i18n import Words
from engine.web.identity import Identity
from engine.web.listing import key
from engine.web.pages import form_fields
from engine.web.problems import problem_text
from engine.web.shell import page_template

if TYPE_CHECKING:
    from engine.web.app_pages import Pages

#: Cards shown per column (the header's count says how many there are).
CARDS_PER_COLUMN = 25
NO_VALUE = "__none__"


def board_of(obj: ObjectDef, by: str | None) -> BoardDef | None:
    """The board asked for: the blueprint's, or one by any select field (`?by=`)."""
    selects = [f.name for f in obj.fields if f.type == "select"]
    declared = obj.board
    if by is None:
        return declared or (BoardDef(by=selects[0]) if selects else None)
    if by not in selects:
        return None
    if declared is not None and declared.by == by:
        return declared
    return BoardDef(by=by, card=declared.card if declared else (), sum=declared.sum if declared else None)


def visible_board(board: BoardDef, hidden: frozenset[str]) -> BoardDef:
    """The board without the fields the reader may not see (cards and the summed number)."""
    return BoardDef(
        by=board.by,
        card=tuple(n for n in board.card if n not in hidden),
        sum=None if board.sum in hidden else board.sum,
    )


def read_board(pages: Pages, who: Identity, words: Words, obj: ObjectDef, board: BoardDef) -> dict[str, Any]:
    store = pages.store
    by = obj.field(board.by)
    metrics = ["count"] + ([f"sum:{board.sum}"] if board.sum else [])
    groups = store.aggregate(obj.name, AggregateQuery(group_by=[board.by], metrics=metrics), access=who.access).rows
    totals = {g[board.by]: g for g in groups}
    shown = [board.by, *([obj.title_field] if obj.title_field != "id" else []), *board.card]
    fields = ["id", "version", *(key(obj, n) for n in shown)]
    display = pages.display(who, words)
    columns = []
    options: list[tuple[str | None, str, str | None]] = [(o.id, words.label(o.label), o.color) for o in by.options]
    if None in totals:
        options.append((None, words("No value"), None))
    # The biggest first when the board sums a number (an index on (stage, amount) serves it), else
    # the most recently changed.
    order = [f"-{key(obj, board.sum)}", "-id"] if board.sum else ["-updated_at"]
    cards_by_column = {}
    for option_id, _, _ in options:
        cond = (
            Condition(board.by, "isnull", "true", board.by)
            if option_id is None
            else Condition(board.by, "eq", option_id, board.by)
        )
        q = ListQuery(conditions=[cond], fields=list(dict.fromkeys(fields)), limit=CARDS_PER_COLUMN, sort=order)
        cards_by_column[option_id] = store.find(obj.name, q, access=who.access).records
    display.prepare(obj, [c for cards in cards_by_column.values() for c in cards], board.card)
    summed = obj.field(board.sum) if board.sum else None
    for option_id, label, color in options:
        group = totals.get(option_id, {})
        total = group.get(f"sum_{board.sum}") if board.sum else None
        columns.append(
            {
                "id": option_id or NO_VALUE,
                "label": label,
                "color": color,
                "count": int(group.get("count", 0)),
                "sum": display.value(summed, total) if summed is not None and total is not None else None,
                "cards": [
                    {
                        "id": c["id"],
                        "version": c["version"],
                        "title": str(c.get(obj.title_field) or f"#{c['id']}")
                        if obj.title_field != "id"
                        else f"#{c['id']}",
                        "cells": [(display.label(obj, n), display.cell(obj, c, n)) for n in board.card],
                    }
                    for c in cards_by_column[option_id]
                ],
            }
        )
    return {"columns": columns, "by": by, "board": board}


def move_value(by: FieldDef, raw: str) -> str | None:
    return None if raw == NO_VALUE else raw


def board_routes(router: APIRouter, pages: Pages) -> None:
    store = pages.store

    async def show(
        request: Request, who: Identity, obj: ObjectDef, board: BoardDef, status: int = 200, **extra: Any
    ) -> Response:
        words = pages.words(request, who)
        data = await pages.read(read_board, pages, who, words, obj, board)
        selects = [f for f in obj.fields if f.type == "select"]
        shown = {card["id"] for col in data["columns"] for card in col["cards"]}
        refused = extra.get("refused") or {}
        context = {
            "notice": next((m for i, m in refused.items() if i not in shown), None),
            "obj": obj,
            "may_update": who.access.may(obj.name, "update") and board.by not in who.access.locked(obj.name),
            "selects": selects,
            "title": f"{words.label(obj.plural)} · {words.label(obj.field(board.by).label)}",
            **data,
            **extra,
        }
        page = "_board" if pages.htmx(request) else "board"
        return pages.render(request, who, words, page_template(pages.env, page, obj.name), status=status, **context)

    def asked(who: Identity, object_name: str, by: str | None) -> tuple[ObjectDef, BoardDef]:
        obj = store.object(object_name)
        if obj.parent is not None or not who.access.may(obj.name, "read"):
            raise NotFound(f"no object '{object_name}'", code="object.unknown")
        board = board_of(obj, by)
        hidden = who.access.hidden(obj.name)
        if board is None or board.by in hidden:
            raise NotFound(f"'{object_name}' has no board by '{by}'", code="board.unknown")
        return obj, visible_board(board, hidden)

    @router.get("/{object_name}/board")
    async def board_page(object_name: str, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        try:
            obj, board = asked(who, object_name, request.query_params.get("by"))
        except LoomworkError as exc:
            return pages.problem_page(request, who, pages.words(request, who), exc)
        return await show(request, who, obj, board)

    @router.post("/{object_name}/{record_id}/move")
    async def move(object_name: str, record_id: int, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        fields = await form_fields(request)
        try:
            obj, board = asked(who, object_name, fields.get("by"))
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        version = int(fields["version"]) if fields.get("version", "").isdigit() else None
        change = {board.by: move_value(obj.field(board.by), fields.get("to", ""))}
        try:
            update = store.update
            await offload.write_inline(
                store.db, lambda: update(obj.name, record_id, change, version=version, access=who.access)
            )
        except (InputInvalid, Conflict, LoomworkError) as exc:
            message = refusal(obj, exc, words)
            if not pages.htmx(request):
                return await show(request, who, obj, board, status=422, refused={record_id: message})
            return await show(request, who, obj, board, refused={record_id: message})
        if not pages.htmx(request):
            return RedirectResponse(f"/app/{obj.name}/board?by={board.by}", status_code=303)
        return await show(request, who, obj, board, moved=record_id)


def refusal(obj: ObjectDef, exc: LoomworkError, words: Words) -> str:
    if isinstance(exc, Conflict):
        return words("Someone changed this record meanwhile; the board shows it as it is now.")
    if isinstance(exc, InputInvalid) and exc.problems:
        return "; ".join(problem_text(obj, p, words) for p in exc.problems[:3])
    return exc.message
