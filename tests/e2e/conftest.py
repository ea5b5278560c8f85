"""A real server and a real Chromium for the browser tests.

The server is uvicorn in a background thread on a free loopback port, serving the CRM blueprint
(blueprints/crm) on a freshly migrated temporary SQLite database with the demo fixtures loaded.
The browser is Debian's Chromium (/usr/bin/chromium) driven by Playwright; `playwright install`
is never used. Without Chromium or Playwright the suite is skipped, except under CI=true, where
that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("LOOMWORK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
CRM = Path(__file__).resolve().parents[2] / "blueprints" / "crm"
DEMO_PASSWORD = "demo-password"
XSS_EMAIL = "xss@demo.loomwork.dev"
XSS_NAME = "<script>alert(1)</script>"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@dataclass(frozen=True)
class LiveServer:
    url: str
    db_url: str


def _bound_socket() -> socket.socket:
    """A loopback socket already bound to a free port, handed to uvicorn: no other process (a
    parallel test worker) can take the port between choosing it and serving on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`loomwork demo` in miniature: migrate blueprints/crm, load its demo data, serve it."""
    import uvicorn

    from engine.auth.directory import AuthDb
    from engine.auth.passwords import PasswordHashing
    from engine.auth.people import DirectoryPeople
    from engine.auth.users import Users
    from engine.blueprint.load import load_blueprint
    from engine.store.database import Database
    from engine.store.fixtures import load_fixtures
    from engine.store.migrate import apply_plan, plan_migration
    from engine.store.records import Store
    from engine.types.registry import TypeRegistry
    from engine.web.app import create_app

    folder = tmp_path_factory.mktemp("e2e")
    db_url = f"sqlite:///{folder / 'demo.db'}"
    hashing = PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)  # behaviour, not cost
    types = TypeRegistry.with_builtins()
    app = load_blueprint(CRM, types)
    db = Database(db_url)
    apply_plan(db, plan_migration(db, app, types))
    store = Store(app, types, db, files_dir=folder / "files")
    auth = AuthDb(db, hashing=hashing)
    load_fixtures(store, CRM / "demo", DirectoryPeople(auth))
    Users(auth).create_user(XSS_EMAIL, XSS_NAME, "sales_rep", password=DEMO_PASSWORD)

    sock = _bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(store, auth=auth), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", db_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db.dispose()


# Package scope (tests/e2e/__init__.py makes this a package): Playwright's sync API runs an event
# loop in the main thread while the browser is open, and asyncio.run() elsewhere must not meet it.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    problem = _missing()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"the browser tests must run under CI=true: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) per test, with a short default timeout."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


#: The widths the app's pages are tried at: a desktop and a phone.
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


#: A refused form answers 422 (problems at the fields) or 409 (saved meanwhile by someone else):
#: Chromium logs the page's own status; the tests check those pages for what they must say.
REFUSALS = ("status of 422 (", "status of 409 (")


def console_error(message: Any) -> bool:
    return bool(message.type == "error" and not any(r in message.text for r in REFUSALS))


@pytest.fixture(params=list(WIDTHS))
def screen(request: pytest.FixtureRequest, browser: Any, live_server: LiveServer) -> Iterator[tuple[Any, str]]:
    """A fresh browser context at one width; fails the test on any console error or page error."""
    context = browser.new_context(base_url=live_server.url, viewport=WIDTHS[request.param], locale="en-US")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if console_error(m) else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status == 404 else None)
    try:
        yield tab, request.param
    finally:
        context.close()
    assert problems == []
