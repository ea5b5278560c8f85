"""Create and edit forms: `/app/{object}/new` and `/app/{object}/{id}/edit`.

The form is the form spec (`engine.forms`) rendered: the layout's sections, each field with its
`<label>`, shown and required as its conditions say for the values entered (re-evaluated on the
server while the user types: `POST /app/{object}/form-state`, used by htmx), read-only and hidden
fields exactly as the policy says. A submitted form goes through the store like an API request
(one path: the same coercion, rules, conditions, permissions and messages); its problems are
shown at their fields with a summary at the top. Saving over someone else's change is refused
(the form carries the version it was read at) and the page shows their values beside yours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from engine.errors import Conflict, FieldProblem, InputInvalid, LoomworkError, NotFound, PayloadTooLarge
from engine.forms.conditions import FormState, LineState, form_state, initial_values, line_state, user_values
from engine.forms.preview import preview
from engine.forms.spec import FieldSpec, FormSpec, form_spec
from engine.store.query import ListQuery
from engine.web import offload
from engine.web.bodies import read_limited
from engine.web.display import Display
from engine.web.form_values import input_text, line_indexes, posted_data, posted_lines
from engine.web.i18n import Words
from engine.web.identity import Identity
from engine.web.problems import problem_text
from engine.web.shell import page_template

if TYPE_CHECKING:
    from engine.web.app_pages import Pages

#: The largest form post (files are uploaded apart, through the files API).
MAX_FORM = 2 * 1024 * 1024
#: Choices a type-ahead offers at once.
CHOICES = 10


async def posted_form(request: Request) -> dict[str, list[str]]:
    try:
        raw = await read_limited(request, MAX_FORM)
    except PayloadTooLarge:
        raise InputInvalid([FieldProblem(("body",), "the form is too large", "payload.too_large")]) from None
    return parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)


def key_of(problem: FieldProblem) -> str | None:
    """The input a problem belongs to: `lost_reason`, or `lines-2-quantity` for a line's field."""
    loc = [p for p in problem.loc if p != "body"]
    if len(loc) >= 3 and isinstance(loc[0], str) and isinstance(loc[1], int) and isinstance(loc[2], str):
        return f"{loc[0]}-{loc[1]}-{loc[2]}"
    return loc[0] if loc and isinstance(loc[0], str) else None


@dataclass(frozen=True)
class LineRow:
    """One line of a child table in a form: its position on the page, its id once stored, its
    inputs and its state (fields shown and required for its values)."""

    index: str
    id: int | None
    page: FormPage
    state: LineState
    lookups: dict[str, str]


class FormPage:
    """One form being shown: its spec, the values in its inputs and the problems to show."""

    def __init__(self, spec: FormSpec, words: Words, values: Mapping[str, Any], texts: Mapping[str, Sequence[str]]):
        self.spec = spec
        self.words = words
        self.values = values  # as the store holds them, by key (for conditions and titles)
        self.texts = texts  # what was typed, by input name (after a refused post)
        self.errors: dict[str, str] = {}
        self.summary: list[tuple[str | None, str]] = []
        self.prefix = ""
        self.user: dict[str, Any] = {}
        #: Titles of the records the lookups hold now, by input name (`account_id`, `lines-0-product_id`).
        self.lookups: dict[str, str] = {}

    def text(self, f: FieldSpec) -> str:
        if f.key in self.texts:
            return self.texts[f.key][-1] if self.texts[f.key] else ""
        return input_text(f, self.values.get(f.key), self.words.timezone)

    def chosen(self, f: FieldSpec) -> list[str]:
        if f.key in self.texts:
            return list(self.texts[f.key])
        value = self.values.get(f.key)
        return [str(v) for v in value] if isinstance(value, list) else ([] if value is None else [str(value)])

    def line_rows(self, f: FieldSpec) -> list[LineRow]:
        """The lines to show: as typed after a refused post, else as stored."""
        assert f.lines is not None
        rows: list[LineRow] = []
        if f.key + "-present" in self.texts:
            order = [int(i) for i in self.texts.get(f.key + "-order", []) if i.isdigit()]
            for i in order:
                prefix = f"{f.key}-{i}-"
                texts = {k[len(prefix) :]: v for k, v in self.texts.items() if k.startswith(prefix)}
                line_id = texts.get("id", [""])[-1]
                rows.append(self._row(f, i, int(line_id) if line_id.isdigit() else None, {}, texts))
            return rows
        for i, line in enumerate(self.values.get(f.key) or []):
            rows.append(self._row(f, i, line.get("id"), line, {}))
        return rows

    def blank_line(self, f: FieldSpec) -> LineRow:
        return self._row(f, 0, None, {}, {}, blank=True)

    def _row(
        self,
        f: FieldSpec,
        index: int,
        line_id: int | None,
        values: Mapping[str, Any],
        texts: Mapping[str, Sequence[str]],
        *,
        blank: bool = False,
    ) -> LineRow:
        assert f.lines is not None
        page = FormPage(self.spec, self.words, values, texts)
        page.errors = self.errors
        page.prefix = "__INDEX__" if blank else f"{f.key}-{index}-"
        typed = {k: v[-1] for k, v in texts.items() if v}
        state = line_state(f.lines, {**values, **typed}, self.user, self.spec.types)
        return LineRow("__INDEX__" if blank else str(index), line_id, page, state, self.lookups)

    def refuse(self, exc: InputInvalid) -> None:
        obj = self.spec.definition
        for p in exc.problems:
            key = key_of(p)
            message = problem_text(obj, p, self.words) if obj is not None else p.msg
            if key is not None and key not in self.errors:
                self.errors[key] = message
            self.summary.append((key, message))


def form_routes(router: APIRouter, pages: Pages) -> None:
    store = pages.store

    def spec_for(who: Identity, object_name: str, mode: str) -> FormSpec:
        obj = store.object(object_name)
        action = "create" if mode == "create" else "update"
        if obj.parent is not None or not who.access.may(obj.name, action):
            raise NotFound(f"no object '{object_name}'", code="object.unknown")
        return form_spec(store.app, store.types, obj.name, who.access, mode=mode, conditions=store.conditions)  # type: ignore[arg-type]

    def state_of(spec: FormSpec, who: Identity, values: Mapping[str, Any]) -> FormState:
        return form_state(spec, values, who.access.subject)

    async def show(
        request: Request,
        who: Identity,
        words: Words,
        page: FormPage,
        *,
        record: dict[str, Any] | None = None,
        status: int = 200,
        **extra: Any,
    ) -> Response:
        state = state_of(
            page.spec, who, {**page.values, **{k: v[-1] for k, v in page.texts.items() if v and "-" not in k}}
        )
        page.user = user_values(who.access.subject)
        display = pages.display(who, words)
        page.lookups = await pages.read(_titles, display, page)
        lookups = page.lookups
        obj = store.object(page.spec.object)
        context = {
            "obj": obj,
            "form": page,
            "spec": page.spec,
            "state": state,
            "record": record,
            "lookups": lookups,
            "title": words("New {object}", object=words.label(obj.label))
            if record is None
            else words("Edit {title}", title=_title(obj, record)),
            **extra,
        }
        return pages.render(request, who, words, page_template(pages.env, "form", obj.name), status=status, **context)

    @router.get("/{object_name}/new")
    async def new_form(object_name: str, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        try:
            spec = spec_for(who, object_name, "create")
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        given = {k: v for k, v in request.query_params.items() if k in {f.key for f in spec.fields}}
        values = initial_values(spec, who.access.subject, given)
        return await show(request, who, words, FormPage(spec, words, values, {}))

    @router.post("/{object_name}/new")
    async def create(object_name: str, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        try:
            spec = spec_for(who, object_name, "create")
            form = await posted_form(request)
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        data = posted_data(spec, form, words.timezone)
        try:
            record = await offload.write_inline(store.db, lambda: store.create(spec.object, data, access=who.access))
        except InputInvalid as exc:
            page = FormPage(spec, words, {}, form)
            page.refuse(exc)
            return await show(request, who, words, page, status=422)
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        return RedirectResponse(f"/app/{spec.object}/{record['id']}", status_code=303)

    @router.post("/{object_name}/form-state")
    async def live_state(object_name: str, request: Request) -> Response:
        """What the form shows and requires for the values typed so far (htmx, while typing)."""
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        form = await posted_form(request)
        mode = "edit" if form.get("_mode", [""])[-1] == "edit" else "create"
        try:
            spec = spec_for(who, object_name, mode)
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        state = state_of(spec, who, {k: v[-1] for k, v in form.items() if v})
        record_id = form.get("_id", [""])[-1]
        shown = await pages.read(
            live_formulas, pages, who, words, spec, form, int(record_id) if record_id.isdigit() else None
        )
        return pages.render(
            request, who, words, "app/_form_state.html", spec=spec, state=state, formulas=shown, title=""
        )

    @router.get("/{object_name}/choices/{field_name}")
    async def choices(object_name: str, field_name: str, request: Request) -> Response:
        """Type-ahead for a lookup: records of its object whose title holds the text, within the
        reader's own scope (the store's `q=` search with their access)."""
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        try:
            obj = store.object(object_name)
            f = obj.field(field_name) if obj.has_field(field_name) else None
            if f is None or f.type != "lookup" or f.target is None or f.name in who.access.hidden(obj.name):
                raise NotFound(f"no lookup '{field_name}' on '{object_name}'", code="field.unknown")
            target = store.object(f.target)
            text = (request.query_params.get(f"{f.column}-search") or request.query_params.get("q") or "").strip()[:100]
            title = target.title_field
            q = ListQuery(
                search=text or None,
                limit=CHOICES,
                fields=["id"] + ([title] if title != "id" else []),
                sort=["-updated_at"],
            )
            found = await pages.read(lambda: store.find(target.name, q, access=who.access).records)
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        options = [(r["id"], str(r.get(title) or f"#{r['id']}")) for r in found]
        return pages.render(request, who, words, "app/_choices.html", field=f, key=f.column, options=options, title="")

    @router.get("/{object_name}/{record_id}/edit")
    async def edit_form(object_name: str, record_id: int, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        try:
            spec = spec_for(who, object_name, "edit")
            record = await pages.read(lambda: store.get(spec.object, record_id, access=who.access))
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        return await show(request, who, words, FormPage(spec, words, record, {}), record=record)

    @router.post("/{object_name}/{record_id}/edit")
    async def update(object_name: str, record_id: int, request: Request) -> Response:
        who = await pages.who(request)
        if isinstance(who, Response):
            return who
        words = pages.words(request, who)
        try:
            spec = spec_for(who, object_name, "edit")
            form = await posted_form(request)
            record = await pages.read(lambda: store.get(spec.object, record_id, access=who.access))
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        version_text = form.get("_version", [""])[-1]
        version = int(version_text) if version_text.isdigit() else None
        data = posted_data(spec, form, words.timezone)
        try:
            saved = await offload.write_inline(
                store.db, lambda: store.update(spec.object, record_id, data, version=version, access=who.access)
            )
        except Conflict as exc:
            if exc.current is None:
                return pages.problem_page(request, who, words, exc)
            page = FormPage(spec, words, exc.current, form)
            theirs = _differences(spec, words, pages.display(who, words), exc.current, data)
            return await show(request, who, words, page, record=exc.current, status=409, conflict=theirs)
        except InputInvalid as exc:
            page = FormPage(spec, words, record, form)
            page.refuse(exc)
            return await show(request, who, words, page, record=record, status=422)
        except LoomworkError as exc:
            return pages.problem_page(request, who, words, exc)
        return RedirectResponse(f"/app/{spec.object}/{saved['id']}", status_code=303)


def live_formulas(
    pages: Pages, who: Identity, words: Words, spec: FormSpec, form: Mapping[str, Sequence[str]], record_id: int | None
) -> dict[str, str]:
    """The formulas the form shows, computed for the values typed: output id -> text."""
    data = posted_data(spec, form, words.timezone)
    tables = [f for f in spec.fields if f.lines is not None]
    lines = {f.name: posted_lines(f.lines, f.key, form, words.timezone) for f in tables if f.lines is not None}
    data = {k: v for k, v in data.items() if k in {f.key for f in spec.fields}}
    for f in tables:
        data.pop(f.key, None)
    result = preview(pages.store, spec.object, data, lines, record_id)
    display = pages.display(who, words)
    obj = pages.store.object(spec.object)
    out: dict[str, str] = {}
    for f in spec.fields:
        if f.type == "formula" and f.name in result.record:
            out[f"f-{f.key}"] = display.value(obj.field(f.name), result.record[f.name]).text or "—"
        if f.lines is None or f.name not in result.lines:
            continue
        child = pages.store.object(f.lines.object)
        shown = {lf.name for lf in f.lines.fields}
        for index, values in zip(line_indexes(f.key, form), result.lines[f.name], strict=False):
            for name, value in values.items():
                if name in shown:
                    out[f"f-{f.key}-{index}-{child.field(name).column or name}"] = (
                        display.value(child.field(name), value).text or "—"
                    )
    return out


def _title(obj: Any, record: Mapping[str, Any]) -> str:
    if obj.title_field == "id":
        return f"#{record['id']}"
    return str(record.get(obj.title_field) or f"#{record['id']}")


def _titles(display: Display, page: FormPage) -> dict[str, str]:
    """The titles of the records the form's lookups (its lines' included) hold now, by input name:
    one query per looked-up object, whatever the number of lines."""
    wanted: list[tuple[str, str, int]] = []  # (input name, object, id)
    for f in page.spec.fields:
        if f.type == "lookup" and f.target is not None and page.text(f).isdigit():
            wanted.append((f.key, f.target, int(page.text(f))))
        if f.lines is None:
            continue
        for row in page.line_rows(f):
            for lf in f.lines.fields:
                text = row.page.text(lf)
                if lf.type == "lookup" and lf.target is not None and text.isdigit():
                    wanted.append((f"{f.key}-{row.index}-{lf.key}", lf.target, int(text)))
    by_object: dict[str, set[int]] = {}
    for _, target, record_id in wanted:
        by_object.setdefault(target, set()).add(record_id)
    for target, ids in by_object.items():
        if display.access is None or display.access.may(target, "read"):
            display.read_titles(target, ids)
    return {name: display.titles.get((target, record_id), f"#{record_id}") for name, target, record_id in wanted}


def _differences(
    spec: FormSpec, words: Words, display: Display, current: Mapping[str, Any], mine: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The fields someone else changed to something other than what this form sends."""
    out: list[dict[str, str]] = []
    obj = spec.definition
    if obj is None:
        return out
    for f in spec.fields:
        if f.read_only or f.lines is not None or f.key not in mine:
            continue
        theirs = current.get(f.key)
        if not _same(input_text(f, theirs, words.timezone), input_text(f, mine[f.key], words.timezone)):
            out.append(
                {
                    "label": words.label(f.label),
                    "theirs": display.value(obj.field(f.name), theirs).text or "—",
                    "key": f.key,
                }
            )
    return out


def _same(a: str, b: str) -> bool:
    """Equal as text, or as numbers (`1000` and `1000.00`)."""
    if a == b:
        return True
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return False
