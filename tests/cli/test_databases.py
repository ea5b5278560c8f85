"""Every command that opens a database says in one line why it cannot (exit 1), never a traceback."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests.conftest import PG_URL
from tests.helpers import EVERYTHING

BP = str(EVERYTHING)
#: Each command that opens a database, with the arguments it needs besides `--db`.
COMMANDS: dict[str, list[str]] = {
    "plan": ["plan", BP],
    "migrate": ["migrate", BP],
    "serve": ["serve", BP],
    "demo": ["demo", "--no-serve"],
    "user create": ["user", "create", "--email", "a@b.io", "--name", "A", "--role", "admin", "--password-stdin"],
    "user list": ["user", "list"],
    "user set-role": ["user", "set-role", "--email", "a@b.io", "--role", "admin"],
    "user set-password": ["user", "set-password", "--email", "a@b.io", "--password-stdin"],
    "user deactivate": ["user", "deactivate", "--email", "a@b.io"],
    "team create": ["team", "create", "East"],
    "team list": ["team", "list"],
    "token create": ["token", "create", "--user", "a@b.io"],
    "token list": ["token", "list"],
    "token revoke": ["token", "revoke", "1"],
    "explain": ["explain", "--user", "a@b.io", "company"],
}
#: Commands that make a database that does not exist yet (or, for plan, show the plan for one).
CREATING = {"migrate", "demo", "plan"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough password\n"))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _expect_one_line(command: str, code: int, err: str, expected: str) -> None:
    """Exit 1 (explain: 2, its documented code for errors) and exactly `expected` on stderr."""
    assert (code, err) == (2 if command == "explain" else 1, expected + "\n")


def _cases(tmp: Path) -> dict[str, tuple[str, str]]:
    """Case -> (URL, the one line printed)."""
    port = _closed_port()
    closed = f"postgresql://postgres:secret@127.0.0.1:{port}/test"
    return {
        "mysql": (
            "mysql://u:pw@db.example/crm",
            "error: mysql://u:***@db.example/crm: 'mysql' databases are not supported; use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/NAME [db.unsupported]",
        ),
        "not-a-url": (
            "loomwork.db",
            "error: 'loomwork.db' is not a database URL; use sqlite:///PATH or postgresql://USER@HOST:PORT/NAME "
            "[db.bad_url]",
        ),
        "missing-folder": (
            f"sqlite:///{tmp}/nowhere/crm.db",
            f"error: sqlite:///{tmp}/nowhere/crm.db: the folder {tmp}/nowhere does not exist (SQLite creates "
            "the file, not its folder) [db.no_folder]",
        ),
        "closed-port": (
            closed,
            f"error: cannot open postgresql://postgres:***@127.0.0.1:{port}/test: connection failed: connection "
            f'to server at "127.0.0.1", port {port} failed: Connection refused [db.unreachable]',
        ),
    }


@pytest.mark.parametrize("case", ["mysql", "not-a-url", "missing-folder", "closed-port"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_database_that_cannot_be_opened_is_one_line(
    command: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, expected = _cases(tmp_path)[case]
    code, out, err = _run(capsys, monkeypatch, [*COMMANDS[command], "--db", url])
    _expect_one_line(command, code, err, expected)
    assert out == ""


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"demo"}))  # demo makes ./loomwork-demo.db
def test_database_url_from_the_environment_is_checked_the_same_way(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, expected = _cases(tmp_path)["closed-port"]
    monkeypatch.setenv("DATABASE_URL", url)
    code, _, err = _run(capsys, monkeypatch, COMMANDS[command])
    _expect_one_line(command, code, err, expected)


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - CREATING))
def test_a_missing_sqlite_file_is_refused_and_not_created(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "typo.db"
    code, _, err = _run(capsys, monkeypatch, [*COMMANDS[command], "--db", f"sqlite:///{path}"])
    expected = (
        f"error: sqlite:///{path}: there is no database file {path}; `loomwork migrate BLUEPRINT --db URL` "
        "creates one (`loomwork demo` makes loomwork-demo.db) [db.missing]"
    )
    _expect_one_line(command, code, err, expected)
    assert not path.exists()


def test_plan_for_a_new_sqlite_file_shows_the_whole_schema_without_creating_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new.db"
    code, out, _ = _run(capsys, monkeypatch, ["plan", BP, "--db", f"sqlite:///{path}"])
    assert code == 0
    assert out.startswith(f"(there is no database file {path} yet: `migrate` would create it with this plan)\n")
    assert "+ create object company" in out
    assert not path.exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_missing_postgresql_database_is_one_line(
    command: str, pg_available: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL not reachable")
    url = PG_URL.rsplit("/", 1)[0] + "/lw_no_such_database"
    code, _, err = _run(capsys, monkeypatch, [*COMMANDS[command], "--db", url])
    host = url.split("@", 1)[1].split("/", 1)[0]
    address, port = host.rsplit(":", 1)
    expected = (
        f'error: cannot open {url}: connection failed: connection to server at "{address}", port {port} failed: '
        'database "lw_no_such_database" does not exist [db.unreachable]'
    )
    _expect_one_line(command, code, err, expected)


def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "user", "list", "--db", "mysql://u@h/db"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr.splitlines() == [
        "error: mysql://u@h/db: 'mysql' databases are not supported; use sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/NAME [db.unsupported]"
    ]
