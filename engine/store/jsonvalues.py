"""Records to and from JSON-ready values (exact decimals as strings, ISO dates), per object."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from engine.blueprint.model import App, FieldDef
from engine.types.registry import TypeRegistry

_SYSTEM_TIMES = ("created_at", "updated_at")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RecordCodec:
    """Knows, for every object, which column holds which field and how its values look in JSON."""

    def __init__(self, app: App, types: TypeRegistry) -> None:
        self.types = types
        self.columns: dict[str, dict[str, FieldDef]] = {
            o.name: {f.column: f for f in o.fields if f.column is not None} for o in app.objects
        }
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
        fields = self.columns[obj]
        out: dict[str, Any] = {}
        for key, value in record.items():
            if value is None:
                out[key] = None
                continue
            f = fields.get(key)
            if f is not None:
                out[key] = self.types[f.type].to_json(f, value)
            elif key in _SYSTEM_TIMES:
                out[key] = iso(value)
            elif isinstance(value, list) and key in self.children_of(obj):
                child = self.children_of(obj)[key]
                out[key] = [self.to_json(child, r) for r in value]
            else:
                out[key] = value
        return out

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
