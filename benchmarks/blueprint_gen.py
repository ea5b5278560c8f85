"""A large synthetic blueprint (default 200 objects) for timing `loomwork check`.

Every object has a dozen fields of assorted types, select options, a lookup to an earlier
object, a compound index and a layout, so the check exercises shape, semantic and reference
checks at scale. Deterministic: the same arguments always write the same file.

CLI: `python benchmarks/blueprint_gen.py --objects 200 --out /tmp/big.yaml`
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

FIELD_CYCLE = [
    "text",
    "integer",
    "decimal",
    "currency",
    "date",
    "datetime",
    "boolean",
    "email",
    "phone",
    "url",
    "long_text",
    "percent",
]


def big_blueprint(objects: int = 200, fields_per_object: int = 12) -> dict[str, Any]:
    """The blueprint document: `objects` objects of `fields_per_object` fields plus name/status/lookup."""
    doc: dict[str, Any] = {"app": {"name": "big", "label": {"en": "Big", "zh": "大"}, "version": "1"}, "objects": {}}
    for k in range(objects):
        name = f"object_{k:03d}"
        fields: dict[str, Any] = {
            "name": {"type": "text", "required": True, "label": {"en": f"Name {k}", "zh": f"名称 {k}"}},
            "status": {"type": "select", "options": ["new", "active", {"id": "closed", "color": "#999999"}]},
        }
        for j in range(fields_per_object):
            ftype = FIELD_CYCLE[(j + k) % len(FIELD_CYCLE)]
            spec: dict[str, Any] = {"type": ftype, "label": f"Field {j}"}
            if ftype in ("decimal", "currency", "percent"):
                spec["scale"] = 2
            if ftype == "currency":
                spec["currency"] = "CNY"
            if ftype == "integer":
                spec.update(min=0, max=1000, default=1)
            if ftype == "text":
                spec["max_length"] = 120
            fields[f"field_{j:02d}"] = spec
        if k:
            fields["parent"] = {"type": "lookup", "object": f"object_{(k - 1) // 2:03d}", "on_delete": "set_null"}
        doc["objects"][name] = {
            "label": {"en": f"Object {k}", "zh": f"对象 {k}"},
            "fields": fields,
            "indexes": [{"fields": ["status", "name"]}],
            "layouts": {"default": {"sections": [{"columns": 2, "fields": ["name", "status"]}]}},
        }
    return doc


def write_big_blueprint(path: Path, objects: int = 200, fields_per_object: int = 12) -> Path:
    path.write_text(yaml.safe_dump(big_blueprint(objects, fields_per_object), sort_keys=False, allow_unicode=True))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a large synthetic blueprint.")
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--fields", type=int, default=12, help="generated fields per object")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    write_big_blueprint(args.out, args.objects, args.fields)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
