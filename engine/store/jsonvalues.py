"""Records to and from JSON-ready values (exact decimals as strings, ISO dates), per object."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from engine.blueprint.model import App, FieldDef
from engine.types.registry import TypeRegistry

_SYSTEM_TIMES = ("created_at", "updated_at")
#: Field types whose stored values are already what JSON carries.
_NATIVE_JSON = frozenset(
    {
        "text",
        "long_text",
        "integer",
        "boolean",
        "select",
        "multi_select",
        "email",
        "phone",
        "url",
        "lookup",
        "user",
        "autonumber",
        "attachment",
    }
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RecordCodec:
    """Knows, for every object, which column holds which field and how its values look in JSON."""

    def __init__(self, app: App, types: TypeRegistry) -> None:
        self.types = types
        self.columns: dict[str, dict[str, FieldDef]] = {
            o.name: {f.column: f for f in o.fields if f.column is not None} for o in app.objects
        }
        self._by_object: dict[str, dict[str, Callable[[Any], Any]]] = {}
        self._children: dict[str, dict[str, str]] = {
            o.name: {f.name: str(f.target) for f in o.child_fields} for o in app.objects
        }

    def value_json(self, obj: str, column: str, value: Any) -> Any:
        if value is None:
            return None
        f = self.columns[obj].get(column)
        if f is not None:
            return self.types[f.type].to_json(f, value)
        if isinstance(value, datetime):
            return iso(value)
        if isinstance(value, date):
            return value.isoformat()
        return value

    def to_json(self, obj: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON-ready copy of a record; child lists are converted with their own object."""
        converters = self._converters(obj)
        out: dict[str, Any] = {}
        for key, value in record.items():
            convert = converters.get(key)
            out[key] = value if value is None or convert is None else convert(value)
        return out

    def _converters(self, obj: str) -> dict[str, Callable[[Any], Any]]:
        """Per column, the function making a value JSON-ready (absent: the value already is)."""
        found = self._by_object.get(obj)
        if found is not None:
            return found
        out: dict[str, Callable[[Any], Any]] = dict.fromkeys(_SYSTEM_TIMES, iso)
        for column, f in self.columns[obj].items():
            if f.type in _NATIVE_JSON:
                continue
            out[column] = partial(self._field_json, self.types[f.type], f)
        for key, child in self.children_of(obj).items():
            out[key] = partial(self._lines_json, child)
        self._by_object[obj] = out
        return out

    @staticmethod
    def _field_json(ftype: Any, f: FieldDef, value: Any) -> Any:
        return ftype.to_json(f, value)

    def _lines_json(self, child: str, lines: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [self.to_json(child, line) for line in lines]

    @staticmethod
    def to_json_plain(item: Mapping[str, Any]) -> dict[str, Any]:
        """JSON-ready copy of a system row (datetimes and dates as ISO text)."""
        out: dict[str, Any] = {}
        for key, value in item.items():
            if isinstance(value, datetime):
                out[key] = iso(value)
            elif isinstance(value, date):
                out[key] = value.isoformat()
            else:
                out[key] = value
        return out

    def from_json(self, obj: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Column values back from `to_json` output (used to restore from the trash)."""
        fields = self.columns[obj]
        out: dict[str, Any] = {}
        for key, value in data.items():
            f = fields.get(key)
            if value is None:
                out[key] = None
            elif f is not None:
                out[key] = self.types[f.type].parse(f, value)
            elif key in _SYSTEM_TIMES:
                out[key] = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            else:
                out[key] = value
        return out

    def children_of(self, obj: str) -> dict[str, str]:
        return self._children.get(obj, {})
