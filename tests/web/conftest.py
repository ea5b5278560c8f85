"""The CRM demo for the generated app's tests: a copy of its own for a test that writes (`crm`),
one per module and database for tests that only read (`demo`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.auth.directory import AuthDb
from engine.store.records import Store
from tests.helpers import crm_demo, open_demo


@pytest.fixture
def crm(demo_url: str, tmp_path: Path) -> Iterator[tuple[Store, AuthDb]]:
    store, auth = open_demo(demo_url, tmp_path / "files")
    yield store, auth
    store.db.dispose()


@pytest.fixture(scope="module")
def demo(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, AuthDb]]:
    store, auth = crm_demo(module_db_url, tmp_path_factory.mktemp("files"))
    yield store, auth
    store.db.dispose()
