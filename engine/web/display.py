"""Records as people read them: each value of a page formatted for its field type and language.

A list of 25 records with three lookup columns costs one query per referenced object and one for
user names, whatever the number of rows (no N+1): `Display.prepare` collects the ids of a whole
page first. Titles of records the reader may not read are not shown (only `#id`): the title is
read through the reader's own access, like every other read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from engine.auth.directory import AuthDb
from engine.auth.users import user_names
from engine.blueprint.model import FieldDef, ObjectDef
from engine.store.query import Condition, ListQuery
from engine.store.records import Store
from engine.web.i18n import Words

#: Columns every record has, shown by their own labels.
SYSTEM_LABELS = {"id": "ID", "created_at": "Created", "updated_at": "Updated", "owner_id": "Owner"}
#: Field types shown right-aligned (numbers).
NUMERIC = frozenset({"integer", "decimal", "currency", "percent"})


@dataclass(frozen=True)
class Chip:
    text: str
    color: str | None = None


@dataclass(frozen=True)
class Cell:
    """One shown value: its text, a link, chips (select options) and whether it is a number."""

    text: str = ""
    href: str | None = None
    chips: tuple[Chip, ...] = ()
    numeric: bool = False
    empty: bool = False


@dataclass
class Display:
    """Formats records of one page; call `prepare` with all of them before `cell`."""

    store: Store
    auth: AuthDb
    access: Any
    words: Words
    titles: dict[tuple[str, int], str] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)

    # -- batched reads --------------------------------------------------------------------------
    def prepare(self, obj: ObjectDef, records: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> None:
        """Read the titles and user names the columns of these records show: one query per
        referenced object, one for users."""
        wanted: dict[str, set[int]] = {}
        people: set[int] = set()
        rows = list(records)
        for name in columns:
            if name in ("owner_id", "created_by"):
                people.update(r[name] for r in rows if r.get(name))
                continue
            if not obj.has_field(name):
                continue
            f = obj.field(name)
            key = f.column or name
            if f.type == "lookup" and f.target:
                wanted.setdefault(f.target, set()).update(r[key] for r in rows if r.get(key))
            elif f.type == "user":
                people.update(r[key] for r in rows if r.get(key))
        for target, ids in wanted.items():
            if self.access is None or self.access.may(target, "read"):  # else only `#id` is shown
                self.read_titles(target, ids)
        self.read_users(people)

    def read_titles(self, target: str, ids: Iterable[int]) -> None:
        missing = sorted({i for i in ids if (target, i) not in self.titles})
        if not missing:
            return
        tobj = self.store.object(target)
        title = tobj.title_field
        fields = ["id"] if title == "id" else ["id", title]
        for start in range(0, len(missing), 200):
            chunk = missing[start : start + 200]
            q = ListQuery(
                conditions=[Condition("id", "in", ",".join(map(str, chunk)), "id__in")], fields=fields, limit=len(chunk)
            )
            for rec in self.store.find(target, q, access=self.access).records:
                self.titles[(target, rec["id"])] = str(rec.get(title) if title != "id" else f"#{rec['id']}")

    def read_users(self, ids: Iterable[int]) -> None:
        missing = {i for i in ids if i not in self.users}
        if missing:
            self.users.update(user_names(self.auth, missing))

    # -- one value ------------------------------------------------------------------------------
    def label(self, obj: ObjectDef, name: str) -> str:
        if obj.has_field(name):
            return self.words.label(obj.field(name).label)
        return self.words(SYSTEM_LABELS.get(name, name))

    def cell(self, obj: ObjectDef, record: Mapping[str, Any], name: str) -> Cell:
        if name in ("owner_id", "created_by"):
            return self._user(record.get(name))
        if name in ("created_at", "updated_at"):
            value = record.get(name)
            return Cell(self.words.datetime(value)) if isinstance(value, datetime) else Cell(empty=True)
        if name == "id":
            return Cell(f"#{record['id']}")
        f = obj.field(name)
        return self.value(f, record.get(f.column or name))

    def value(self, f: FieldDef, value: Any) -> Cell:
        if value is None or value == "" or value == []:
            return Cell(empty=True, numeric=f.type in NUMERIC)
        kind = f.type
        if kind == "formula":
            kind = {"number": "decimal", "boolean": "boolean", "date": "date", "datetime": "datetime"}.get(
                str(f.settings.get("result")), "text"
            )
        t = self.words
        if kind == "lookup" and f.target:
            title = self.titles.get((f.target, int(value)))
            if title is None:
                return Cell(f"#{value}")
            return Cell(title, href=f"/app/{f.target}/{value}")
        if kind == "user":
            return self._user(value)
        if kind == "select":
            option = f.option(str(value))
            return Cell(
                chips=(Chip(t.label(option.label) if option else str(value), option.color if option else None),)
            )
        if kind == "multi_select":
            chips = []
            for v in value:
                option = f.option(str(v))
                chips.append(Chip(t.label(option.label) if option else str(v), option.color if option else None))
            return Cell(chips=tuple(chips))
        if kind == "boolean":
            return Cell(t("Yes") if value else t("No"))
        if kind == "currency":
            return Cell(t.money(Decimal(value), str(f.settings.get("currency", "CNY"))), numeric=True)
        if kind == "percent":
            return Cell(t.percent(Decimal(value)), numeric=True)
        if kind in ("integer", "decimal"):
            return Cell(t.number(Decimal(value) if not isinstance(value, int) else value), numeric=True)
        if kind == "datetime" and isinstance(value, datetime):
            return Cell(t.datetime(value))
        if kind == "date" and isinstance(value, date):
            return Cell(t.date(value))
        if kind == "attachment" and isinstance(value, Mapping):
            return Cell(str(value.get("name", "file")))
        if kind == "email":
            return Cell(str(value), href=f"mailto:{value}")
        if kind == "url" and str(value).startswith(("http://", "https://")):
            return Cell(str(value), href=str(value))
        return Cell(str(value))

    def _user(self, user_id: Any) -> Cell:
        if not user_id:
            return Cell(empty=True)
        return Cell(self.users.get(int(user_id), f"#{user_id}"))


def shown_change(display: Display, f: FieldDef | None, value: Any) -> str:
    """A value as history stored it (JSON), in words: option labels, yes/no, titles of records."""
    if value is None or f is None:
        return "" if value is None else str(value)
    if f.type in ("select", "multi_select", "boolean", "lookup", "user"):
        cell = display.value(f, value)
        return cell.text or ", ".join(c.text for c in cell.chips)
    if isinstance(value, dict | list):
        return ""
    return str(value)
