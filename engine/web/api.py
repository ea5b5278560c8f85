"""The REST API: /api/v1/{object} and /api/v1/{object}/{id}, for every object of the blueprint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from engine.auth.directory import AuthDb
from engine.auth.shares import Shares
from engine.errors import Conflict, FieldProblem, InputInvalid
from engine.store.database import ReadTooSlow
from engine.store.files import read_file, store_file
from engine.store.query import AggregateQuery, Condition, ListQuery
from engine.store.records import Store
from engine.web.bodies import MAX_BATCH_BODY, MAX_FILE_BODY, read_json, read_limited
from engine.web.envelope import JSONBody, error_response, ok
from engine.web.identity import Identity, require_identity

T = TypeVar("T")
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: Every API route needs a user (token or session); their `access` goes to every store call.
Who = Annotated[Identity, Depends(require_identity)]
#: How long a read may run on the event loop before it moves to a worker thread (seconds).
INLINE_READ_LIMIT = 0.02
LIST_PARAMS = frozenset({"sort", "limit", "cursor", "fields", "with_total", "filter", "q"})
AGGREGATE_PARAMS = frozenset({"group_by", "metrics", "filter"})


def conditions_from(params: Sequence[tuple[str, str]], reserved: frozenset[str]) -> list[Condition]:
    out = []
    for name, value in params:
        if name in reserved:
            continue
        key, _, op = name.partition("__")
        out.append(Condition(key=key, op=op or "eq", value=value, param=name))
    return out


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputInvalid(
            [FieldProblem(("query", name), f"'{raw[:20]}' is not a whole number", "query.bad_value")]
        ) from None


def _csv(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    return None if raw is None else [p.strip() for p in raw.split(",") if p.strip()]


def _flag(request: Request, name: str) -> bool:
    return (request.query_params.get(name) or "").lower() in ("1", "true", "yes")


def _if_match(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if not raw:
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit()):  # "²" is a digit to str.isdigit, not to int()
        raise InputInvalid(
            [FieldProblem(("header", "if-match"), 'expected the record version, e.g. "3"', "header.invalid")]
        )
    return int(tag)


def api_router(store: Store, auth: AuthDb) -> APIRouter:
    """Routes bound to one store; the blueprint decides which objects exist. `auth` is the app's
    (its clock stamps audit rows)."""
    router = APIRouter(prefix="/api/v1")
    codec = store.codec

    async def write(func: Callable[..., T], *args: Any) -> T:
        # SQLite admits one writer at a time (BEGIN IMMEDIATE) and a single-record write takes about
        # a millisecond, so a worker thread would only add a hand-off; PostgreSQL writes go to threads.
        if store.db.is_sqlite:
            return func(*args)
        return await run_in_threadpool(func, *args)

    async def local(func: Callable[..., T], *args: Any) -> T:
        # Pages (at most 1,000 rows, keyset-paged) and single records read from the embedded SQLite
        # file in about a millisecond: inline is faster than a hand-off to a thread under concurrency.
        # A read that cannot use an index could scan for long and stall every other request, so
        # inline reads get a time limit; past it the read starts again on a worker thread.
        if not store.db.is_sqlite:
            return await run_in_threadpool(func, *args)
        try:
            with store.db.time_limit(INLINE_READ_LIMIT):
                return func(*args)
        except ReadTooSlow:
            return await run_in_threadpool(func, *args)

    def one(name: str, record: dict[str, Any], status: int = 200) -> JSONBody:
        return ok(codec.to_json(name, record), status=status, headers={"ETag": f'"{record["version"]}"'})

    @router.get("")
    async def index(who: Who) -> Response:
        return ok(
            [
                {"name": o.name, "label": o.label.as_dict(), "plural": o.plural.as_dict(), "url": f"/api/v1/{o.name}"}
                for o in store.app.objects
                if who.access.may(o.name, "read")
            ]
        )

    @router.get("/trash")
    async def trash(request: Request, who: Who) -> Response:
        from engine.store.trash import list_trash

        items = await run_in_threadpool(
            partial(list_trash, access=who.access), store, request.query_params.get("object")
        )
        return ok([codec.to_json_plain(i) for i in items])

    @router.get("/{object_name}")
    async def list_(object_name: str, request: Request, who: Who) -> Response:
        q = ListQuery(
            conditions=conditions_from(request.query_params.multi_items(), LIST_PARAMS),
            sort=_csv(request, "sort") or [],
            limit=_int_param(request, "limit", 25),
            cursor=request.query_params.get("cursor"),
            fields=_csv(request, "fields"),
            total=_flag(request, "with_total"),
            filter=request.query_params.get("filter"),
            search=request.query_params.get("q"),
        )
        page = await local(partial(store.find, access=who.access), object_name, q)
        extra: dict[str, Any] = {"next_cursor": page.next_cursor}
        if page.total is not None:
            extra["total"] = page.total
        return ok([codec.to_json(object_name, r) for r in page.records], **extra)

    @router.get("/{object_name}/aggregate")
    async def aggregate(object_name: str, request: Request, who: Who) -> Response:
        q = AggregateQuery(
            group_by=_csv(request, "group_by") or [],
            metrics=_csv(request, "metrics") or ["count"],
            filter=request.query_params.get("filter"),
            conditions=conditions_from(request.query_params.multi_items(), AGGREGATE_PARAMS),
        )
        rows = await run_in_threadpool(partial(store.aggregate, access=who.access), object_name, q)
        return ok([codec.to_json(object_name, r) for r in rows])

    @router.post("/{object_name}")
    async def create(object_name: str, request: Request, who: Who) -> Response:
        store.object(object_name)
        data = await read_json(request)
        record = await write(partial(store.create, access=who.access), object_name, data)
        return one(object_name, record, 201)

    @router.post("/{object_name}/bulk")
    async def bulk(object_name: str, request: Request, who: Who) -> Response:
        store.object(object_name)
        rows = await read_json(request, MAX_BATCH_BODY)
        if not isinstance(rows, list):
            raise InputInvalid([FieldProblem(("body",), "expected a JSON array of records", "type.list")])
        ids = await run_in_threadpool(partial(store.create_many, access=who.access), object_name, rows)
        return ok(None, status=201, ids=ids, count=len(ids))

    @router.get("/{object_name}/{record_id}")
    async def get(object_name: str, record_id: RecordId, who: Who) -> Response:
        return one(object_name, await local(partial(store.get, access=who.access), object_name, record_id))

    @router.patch("/{object_name}/{record_id}")
    async def patch(object_name: str, record_id: RecordId, request: Request, who: Who) -> Response:
        store.object(object_name)
        data = await read_json(request)
        try:
            update = partial(store.update, version=_if_match(request), access=who.access)
            record = await write(update, object_name, record_id, data)
        except Conflict as exc:
            if exc.current is None:
                raise
            return error_response(exc, {"current": codec.to_json(object_name, exc.current)})
        return one(object_name, record)

    @router.delete("/{object_name}/{record_id}")
    async def delete(object_name: str, record_id: RecordId, who: Who) -> Response:
        trash_id = await write(partial(store.delete, access=who.access), object_name, record_id)
        return ok(None, trash_id=trash_id)

    @router.post("/{object_name}/{record_id}/restore")
    async def restore(object_name: str, record_id: RecordId, who: Who) -> Response:
        return one(object_name, await write(partial(store.restore, access=who.access), object_name, record_id))

    @router.get("/{object_name}/{record_id}/history")
    async def history(object_name: str, record_id: RecordId, who: Who) -> Response:
        return ok(await run_in_threadpool(partial(store.history, access=who.access), object_name, record_id))

    shares = Shares(store, auth)

    @router.get("/{object_name}/{record_id}/shares")
    async def list_shares(object_name: str, record_id: RecordId, who: Who) -> Response:
        found = await run_in_threadpool(shares.list_shares, object_name, record_id, who.access)
        return ok([s.as_dict() for s in found])

    @router.post("/{object_name}/{record_id}/shares")
    async def share(object_name: str, record_id: RecordId, request: Request, who: Who) -> Response:
        body = await read_json(request)
        made = await run_in_threadpool(shares.share, object_name, record_id, body, who.access)
        return ok(made.as_dict(), status=201)

    @router.delete("/{object_name}/{record_id}/shares/{share_id}")
    async def unshare(object_name: str, record_id: RecordId, share_id: RecordId, who: Who) -> Response:
        await run_in_threadpool(shares.unshare, object_name, record_id, share_id, who.access)
        return ok(None)

    @router.put("/{object_name}/{record_id}/files/{field}")
    async def upload(object_name: str, record_id: RecordId, field: str, request: Request, who: Who) -> Response:
        store.object(object_name)
        body = await read_limited(request, MAX_FILE_BODY)
        content_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
        name = request.query_params.get("name") or "file"
        save = partial(store_file, access=who.access)
        record = await run_in_threadpool(save, store, object_name, record_id, field, body, content_type, name)
        return one(object_name, record)

    @router.get("/{object_name}/{record_id}/files/{field}")
    async def download(object_name: str, record_id: RecordId, field: str, who: Who) -> Response:
        meta, data = await run_in_threadpool(
            partial(read_file, access=who.access), store, object_name, record_id, field
        )
        disposition = f"attachment; filename*=UTF-8''{_quote(meta['name'])}"
        return Response(
            data,
            media_type=meta["content_type"],
            headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
        )

    return router


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
