"""Browser sessions (cookie + CSRF): not recognised yet; API tokens are the only way in for now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from engine.auth.directory import AuthDb
from engine.store.records import Store

if TYPE_CHECKING:
    from engine.web.identity import Identity


async def session_identity(request: Request, store: Store, auth: AuthDb) -> Identity | None:
    return None
