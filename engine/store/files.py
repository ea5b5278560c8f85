"""Attachment files: stored by content hash under the files directory, size- and type-checked."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import FieldProblem, InputInvalid, NotFound, PayloadTooLarge
from engine.store import guard
from engine.store.access import UPDATE, Access, require
from engine.store.resolve import refuse_nul

if TYPE_CHECKING:
    from engine.store.records import Store

#: Leading bytes of common formats; a declared type with a known signature must match it.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/zip": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
}
_EXECUTABLE = (b"MZ", b"\x7fELF", b"#!")
#: type/subtype, as RFC 9110 spells a media type (parameters are cut off before this check).
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")


def _field(store: Store, object_name: str, field_name: str) -> Any:
    obj = store.object(object_name)
    if not obj.has_field(field_name) or obj.field(field_name).type != "attachment":
        raise NotFound(f"{object_name} has no attachment field '{field_name[:64]}'", code="field.not_found")
    return obj.field(field_name)


def check_upload(store: Store, f: Any, data: bytes, content_type: str) -> None:
    ftype = store.types["attachment"]
    limit = ftype.max_size(f)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is {len(data)} bytes; '{f.name}' accepts at most {limit}")
    loc = ("body",)
    if not _MEDIA_TYPE.fullmatch(content_type):
        message = f"'{content_type[:64]}' is not a media type such as application/pdf"
        raise InputInvalid([FieldProblem(("header", "content-type"), message, "file.type")])
    if not data:
        raise InputInvalid([FieldProblem(loc, "the file is empty", "file.empty")])
    if not ftype.accepts(f, content_type):
        accept = ", ".join(f.settings.get("accept") or [])
        raise InputInvalid(
            [FieldProblem(loc, f"'{content_type}' is not accepted here (accepts {accept})", "file.type")]
        )
    signatures = SIGNATURES.get(content_type)
    if signatures and not data.startswith(signatures):
        raise InputInvalid([FieldProblem(loc, f"the content is not {content_type}", "file.content_mismatch")])
    if not signatures and not content_type.startswith("application/octet-stream") and data.startswith(_EXECUTABLE):
        raise InputInvalid([FieldProblem(loc, "executable content is not accepted", "file.content_mismatch")])


def store_file(
    store: Store,
    object_name: str,
    record_id: int,
    field_name: str,
    data: bytes,
    content_type: str,
    name: str,
    *,
    access: Access | None = None,
) -> dict[str, Any]:
    """Save an upload and point the record's attachment field at it; returns the updated record.

    With `access`, the user must be able to change the record and the field (checked first)."""
    f = _field(store, object_name, field_name)
    obj = store.object(object_name)
    require(access, obj.name, UPDATE)
    refuse_nul([("name", name)])
    with store.db.read() as conn:
        guard.reach(store, conn, obj, record_id, UPDATE, access)
    if access is not None and field_name in access.locked(obj.name):
        raise InputInvalid(
            [FieldProblem(("body", field_name), f"you may not change '{field_name}'", "field.read_only")]
        )
    check_upload(store, f, data, content_type)
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise InputInvalid([FieldProblem(("query", "name"), "control characters in the file name", "file.name")])
    digest = hashlib.sha256(data).hexdigest()
    target = store.files_dir / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    meta = {"name": Path(name).name[:255] or "file", "size": len(data), "content_type": content_type, "sha256": digest}
    return store.set_attachment(object_name, record_id, field_name, meta, access=access)


def read_file(
    store: Store, object_name: str, record_id: int, field_name: str, *, access: Access | None = None
) -> tuple[dict[str, Any], bytes]:
    _field(store, object_name, field_name)
    if access is not None and field_name in access.hidden(object_name):
        raise NotFound(f"{object_name} {record_id} has no file in '{field_name}'", code="file.not_found")
    meta = store.get(object_name, record_id, access=access).get(field_name)
    if not meta:
        raise NotFound(f"{object_name} {record_id} has no file in '{field_name}'", code="file.not_found")
    path = store.files_dir / meta["sha256"][:2] / meta["sha256"]
    if not path.exists():
        raise NotFound("the stored file is missing", code="file.missing")
    return meta, path.read_bytes()
