from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.expr.support import Backends, database


@pytest.fixture
def backends(db_url: str) -> Iterator[Backends]:
    with database(db_url) as db:
        yield Backends(db)
