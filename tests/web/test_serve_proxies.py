"""`loomwork serve` behind a proxy, through a real uvicorn server: X-Forwarded-For is believed only
with `--forwarded-allow-ips` (uvicorn alone would believe it from 127.0.0.1). No database behaviour
is checked here, so SQLite only."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from engine.auth.audit import audit_entries
from engine.auth.directory import AuthDb
from engine.cli import main
from engine.store.database import Database
from tests.helpers import EVERYTHING

CSRF = "c" * 43


@pytest.fixture
def url(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["migrate", str(EVERYTHING), "--db", sqlite_url]) == 0
    capsys.readouterr()
    return sqlite_url


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """What `serve` hands to uvicorn.run, instead of serving forever; the environment is restored."""
    for name in (
        "LOOMWORK_BLUEPRINT",
        "DATABASE_URL",
        "LOOMWORK_FILES",
        "LOOMWORK_FORWARDED_ALLOW_IPS",
        "LOOMWORK_PASSWORD_HASHERS",
    ):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


def bound_socket() -> socket.socket:
    """A loopback socket bound to a free port, handed to uvicorn (no parallel worker can take it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def running() -> Iterator[list[uvicorn.Server]]:
    servers: list[uvicorn.Server] = []
    yield servers
    for server in servers:
        server.should_exit = True


def start(app: Any, kw: dict[str, Any], servers: list[uvicorn.Server]) -> str:
    """Run `app` with serve's uvicorn settings on a free port; returns its base URL."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, **{**kw, "port": port}))
    servers.append(server)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}"


def failed_login_ip(base: str, url: str, forwarded_for: str) -> str | None:
    """Send one failed login from 127.0.0.1 claiming `forwarded_for`; the address it was audited with."""
    form = {"email": "nobody@example.com", "password": "wrong password", "csrf_token": CSRF}
    headers = {"Cookie": f"lw_csrf={CSRF}", "X-Forwarded-For": forwarded_for}
    r = httpx.post(f"{base}/login", data=form, headers=headers, timeout=30)
    assert r.status_code == 401, r.text
    db = Database(url)
    try:
        return audit_entries(AuthDb(db), kind="login_failed", limit=1)[0].ip
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("options", "expected"),
    [([], "127.0.0.1"), (["--forwarded-allow-ips", "127.0.0.1"], "203.0.113.7")],
)
def test_serve_believes_x_forwarded_for_only_from_configured_proxies(
    url: str, served: list[tuple[Any, dict[str, Any]]], running: list[uvicorn.Server], options: list[str], expected: str
) -> None:
    assert main(["serve", str(EVERYTHING), "--db", url, *options]) == 0
    ((app, kw),) = served
    assert kw["proxy_headers"] is False
    assert failed_login_ip(start(app, kw, running), url, "203.0.113.7") == expected


def test_serve_reads_the_proxies_from_the_environment(
    url: str, served: list[tuple[Any, dict[str, Any]]], running: list[uvicorn.Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOMWORK_FORWARDED_ALLOW_IPS", "127.0.0.0/8")
    assert main(["serve", str(EVERYTHING), "--db", url]) == 0
    ((app, kw),) = served
    assert failed_login_ip(start(app, kw, running), url, "203.0.113.9") == "203.0.113.9"


def test_serve_workers_get_the_proxies_and_the_pool_size_through_the_environment(
    url: str, served: list[tuple[Any, dict[str, Any]]], running: list[uvicorn.Server]
) -> None:
    argv = ["serve", str(EVERYTHING), "--db", url, "--workers", "2", "--forwarded-allow-ips", "127.0.0.1"]
    assert main([*argv, "--password-hashers", "3"]) == 0
    ((target, kw),) = served
    assert (target, kw["workers"], kw["factory"], kw["proxy_headers"]) == (
        "engine.web.app:app_from_environment",
        2,
        True,
        False,
    )
    assert (os.environ["LOOMWORK_FORWARDED_ALLOW_IPS"], os.environ["LOOMWORK_PASSWORD_HASHERS"]) == ("127.0.0.1", "3")
    from engine.web.app import app_from_environment
    from engine.web.runtime import ServedBlueprint

    app = app_from_environment()
    assert isinstance(app, ServedBlueprint)  # the app a worker serves follows `loomwork migrate`
    assert app.app.state.auth.hashers.size == 3
    worker_kw = {k: v for k, v in kw.items() if k not in ("workers", "factory")}
    assert failed_login_ip(start(app, worker_kw, running), url, "203.0.113.7") == "203.0.113.7"


def test_serve_refuses_a_proxy_that_is_not_an_address_in_one_line(
    url: str, served: list[tuple[Any, dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(EVERYTHING), "--db", url, "--forwarded-allow-ips", "10.0.0.1, proxy.local"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: forwarded-allow-ips: 'proxy.local' is not an IP address, a network (10.0.0.0/8) nor * "
        "[config.invalid]\n"
    )
    assert served == []


def test_serve_refuses_a_pool_of_no_hashers(
    url: str, served: list[tuple[Any, dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", str(EVERYTHING), "--db", url, "--password-hashers", "0"])
    assert exited.value.code == 2
    assert "argument --password-hashers: expected a whole number of at least 1, got '0'" in capsys.readouterr().err
    assert served == []
