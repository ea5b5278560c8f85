"""Reading request bodies safely: size limits before parsing, JSON errors located."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from engine.errors import FieldProblem, InputInvalid, PayloadTooLarge

MAX_RECORD_BODY = 1024 * 1024
MAX_BATCH_BODY = 16 * 1024 * 1024
MAX_FILE_BODY = 256 * 1024 * 1024


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise InputInvalid([FieldProblem(("header", "content-length"), "not a number", "header.invalid")])
        if int(declared) > limit:
            raise PayloadTooLarge(f"the body is {int(declared)} bytes; at most {limit} are accepted here")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MAX_RECORD_BODY) -> Any:
    raw = await read_limited(request, limit)
    if not raw.strip():
        raise InputInvalid([FieldProblem(("body",), "the body is empty; send a JSON object", "json.empty")])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputInvalid(
            [
                FieldProblem(
                    ("body",), f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "json.invalid"
                )
            ]
        ) from None
