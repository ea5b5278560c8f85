"""Between HTML inputs and the record API: what a form post means, and what an input shows.

A form post is text; the store takes the API's JSON values and does all the checking (one path
for every client, the same messages at the same fields). This module only translates:

- checkboxes post `false` (a hidden input) then `true` when ticked: the last value counts;
- a multi-select posts one value per option chosen;
- lookups and users post an id; percents are typed in percent (`25` means 25 %) and stored as a
  fraction (0.25); `datetime-local` inputs are in the app's time zone and sent in UTC;
- child table lines post `lines-0-product_id`, `lines-0-quantity`, ... with `lines-0-id` for a line
  that exists; their order on the page is their order.

Anything that is not a valid value is passed on as typed, for the store to refuse with its
located message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from engine.blueprint.model import FieldDef, ObjectDef
from engine.forms.spec import FieldSpec, FormSpec, LineSpec

WHOLE = re.compile(r"-?[0-9]{1,18}")
LINE_KEY = re.compile(r"^([a-z][a-z0-9_]*)-([0-9]{1,4})-([a-z][a-z0-9_]*)$")
#: Lines a form may post for one child table.
MAX_LINES = 500


def _last(values: Sequence[str]) -> str:
    return values[-1] if values else ""


def field_value(f: FieldSpec | FieldDef, values: Sequence[str], timezone: str) -> Any:
    """The API value of one field from the texts posted for it."""
    if f.type == "boolean":
        return _last(values) == "true"
    if f.type == "multi_select":
        return [v for v in values if v]
    text = _last(values).strip()
    if text == "":
        return None
    if f.type in ("lookup", "user", "integer"):
        return int(text) if WHOLE.fullmatch(text) else text
    if f.type == "percent":
        try:
            return format(Decimal(text) / 100, "f")
        except InvalidOperation:
            return text
    if f.type == "datetime":
        try:
            local = datetime.fromisoformat(text)
        except ValueError:
            return text
        if local.tzinfo is None:
            local = local.replace(tzinfo=ZoneInfo(timezone))
        return local.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def posted_data(spec: FormSpec, form: Mapping[str, Sequence[str]], timezone: str) -> dict[str, Any]:
    """The record data a form post gives: every field of the object it names, and the lines of
    child tables. A field the form does not offer (hidden from the user, read-only, not shown now:
    its inputs are disabled and not posted) is passed on when a crafted post names it, for the
    store to refuse with its located message; a field the post does not name is left as it is."""
    obj = spec.definition
    if obj is None:
        raise ValueError("the spec was not built by form_spec")
    data: dict[str, Any] = {}
    for f in obj.fields:
        if f.type == "child_table":
            if f.name + "-present" in form and f.target is not None:
                data[f.name] = posted_lines(obj_of(spec, f.name), f.name, form, timezone)
            continue
        key = f.column or f.name
        if key in form:
            data[key] = field_value(f, form[key], timezone)
    return data


def obj_of(spec: FormSpec, table: str) -> ObjectDef:
    """The line object of a child table of the spec's object."""
    obj = spec.definition
    assert obj is not None
    f = obj.field(table)
    for fs in spec.fields:
        if fs.name == table and fs.lines is not None and fs.lines.definition is not None:
            return fs.lines.definition
    raise KeyError(f.target)


def posted_lines(
    child: ObjectDef | LineSpec, table: str, form: Mapping[str, Sequence[str]], timezone: str
) -> list[dict[str, Any]]:
    """The lines of one child table, in the order their inputs came (the page's order)."""
    definition = child.definition if isinstance(child, LineSpec) else child
    assert definition is not None
    rows: dict[int, dict[str, list[str]]] = {}
    for key, values in form.items():
        m = LINE_KEY.match(key)
        if m is None or m.group(1) != table:
            continue
        index = int(m.group(2))
        if index >= MAX_LINES:
            continue
        rows.setdefault(index, {})[m.group(3)] = list(values)
    out = []
    for i in line_indexes(table, form, rows):
        row = rows[i]
        line: dict[str, Any] = {}
        if WHOLE.fullmatch(_last(row.get("id", []))):
            line["id"] = int(_last(row["id"]))
        for f in definition.fields:
            key = f.column or f.name
            if key in row:
                line[key] = field_value(f, row[key], timezone)
        out.append(line)
    return out


def line_indexes(table: str, form: Mapping[str, Sequence[str]], rows: Mapping[int, Any] | None = None) -> list[int]:
    """The indexes (`lines-<i>-...`) of a child table's posted lines, in the page's order."""
    if rows is None:
        rows = {int(m.group(2)): True for k in form if (m := LINE_KEY.match(k)) and m.group(1) == table}
    order = [int(i) for i in form.get(table + "-order", []) if i.isdigit()]
    return [i for i in dict.fromkeys(order) if i in rows] + sorted(i for i in rows if i not in order)


def input_text(f: FieldSpec, value: Any, timezone: str) -> str:
    """What an input shows for a stored value (the inverse of `field_value`)."""
    if value is None:
        return ""
    if f.type == "percent":
        try:
            return format((Decimal(str(value)) * 100).normalize(), "f")
        except InvalidOperation:
            return str(value)
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
