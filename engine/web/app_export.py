"""CSV export of a list as shown: `/app/{object}/export.csv` with the list page's own parameters.

The same query as the page (view, filter, search, sort, columns, the reader's scope and field
mask), read page by page and streamed: memory stays flat for 100,000 rows. Values are written for
spreadsheets: ISO dates, plain decimal numbers, option labels and record titles in the reader's
language. A formula-looking text (`=`, `+`, `-`, `@` first) is prefixed with `'` so a spreadsheet
shows it instead of running it (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from engine.blueprint.model import ObjectDef
from engine.errors import LoomworkError, NotFound
from engine.web.display import Display
from engine.web.identity import Identity
from engine.web.listing import ListState, list_state

if TYPE_CHECKING:
    from engine.web.app_pages import Pages

#: Rows read per query while exporting.
CHUNK = 500
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def plain(display: Display, obj: ObjectDef, record: dict[str, Any], name: str) -> str:
    """A value for a spreadsheet cell."""
    if name in ("owner_id", "created_by") or (
        obj.has_field(name) and obj.field(name).type in ("lookup", "user", "select", "multi_select", "boolean")
    ):
        c = display.cell(obj, record, name)
        text = c.text or ", ".join(ch.text for ch in c.chips)
    else:
        value = record.get(obj.field(name).column or name) if obj.has_field(name) else record.get(name)
        if value is None:
            text = ""
        elif isinstance(value, datetime | date):
            text = value.isoformat()
        elif isinstance(value, Decimal):
            text = format(value, "f")
        elif isinstance(value, dict):
            text = str(value.get("name", ""))
        else:
            text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def rows(pages: Pages, who: Identity, display: Display, state: ListState) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([display.label(state.obj, c) for c in state.columns])
    cursor: str | None = None
    first = True
    while first or cursor:
        first = False
        page = pages.store.find(state.obj.name, state.query(total=False, limit=CHUNK, cursor=cursor), access=who.access)
        display.prepare(state.obj, page.records, state.columns)
        for record in page.records:
            writer.writerow([plain(display, state.obj, record, c) for c in state.columns])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        cursor = page.next_cursor


def export_routes(router: APIRouter, pages: Pages) -> None:
    @router.get("/{object_name}/export.csv")
    async def export(object_name: str, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        try:
            obj = pages.store.object(object_name)
            if obj.parent is not None or not who.access.may(obj.name, "read"):
                raise NotFound(f"no object '{object_name}'", code="object.unknown")
            hidden = who.access.hidden(obj.name)
            state = list_state(obj, request.query_params, request.query_params.multi_items(), hidden)
            state.cursor = None
            # The first chunk is read now, so a bad filter is a page with its message, not a broken file.
            display = pages.display(who, words)
            chunks = rows(pages, who, display, state)
            head = await pages.read(lambda: next(chunks) + next(chunks, ""))
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)

        def body() -> Iterator[bytes]:
            yield ("\ufeff" + head).encode("utf-8")  # the BOM: spreadsheets then read UTF-8 (Chinese) right
            for chunk in chunks:
                yield chunk.encode("utf-8")

        name = f"{words.label(obj.plural)}.csv"
        disposition = f"attachment; filename=\"{obj.name}.csv\"; filename*=UTF-8''{quote(name, safe='')}"
        headers = {"Content-Disposition": disposition, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)
