"""`loomwork user|team|token` on a migrated database (SQLite and PostgreSQL): output, exit codes, errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.auth.directory import AuthDb
from engine.auth.tokens import Tokens
from engine.cli import main
from engine.store.database import Database
from tests.auth.support import migrated


@pytest.fixture
def url(db_url: str) -> str:
    migrated(db_url).dispose()
    return db_url


def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_team_and_token_commands(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, monkeypatch, "team", "create", "Sales", "--db", url)[0] == 0
    code, out, _ = run(
        capsys,
        monkeypatch,
        "user",
        "create",
        "--db",
        url,
        "--email",
        "Li.Na@b.io",
        "--name",
        "李娜",
        "--role",
        "sales_manager",
        "--team",
        "Sales",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert (code, out) == (0, "created user li.na@b.io (id 1, role sales_manager, team Sales)\n")
    code, out, _ = run(
        capsys, monkeypatch, "team", "create", "East", "--parent", "Sales", "--manager", "li.na@b.io", "--db", url
    )
    assert code == 0
    _, out, _ = run(capsys, monkeypatch, "team", "list", "--db", url)
    assert out.splitlines() == ["2\tEast\tparent Sales\tmanager li.na@b.io", "1\tSales\tparent -\tmanager -"]
    _, out, _ = run(capsys, monkeypatch, "user", "list", "--db", url)
    assert out == "1\tli.na@b.io\t李娜\tsales_manager\tSales\tactive\n"

    code, out, _ = run(
        capsys,
        monkeypatch,
        "token",
        "create",
        "--db",
        url,
        "--user",
        "li.na@b.io",
        "--name",
        "ci",
        "--expires-days",
        "30",
    )
    assert code == 0
    secret = out.splitlines()[-1]
    assert secret.startswith("lw_")
    auth = AuthDb(Database(url))
    try:
        user = Tokens(auth).authenticate(secret)
        assert user is not None and user.email == "li.na@b.io"
    finally:
        auth.db.dispose()
    _, out, _ = run(capsys, monkeypatch, "token", "list", "--db", url, "--user", "li.na@b.io")
    assert out.startswith(f"1\t{secret[:8]}...\tli.na@b.io\tci\tactive\t")
    assert secret not in out
    assert run(capsys, monkeypatch, "token", "revoke", "1", "--db", url)[:2] == (0, "revoked token 1\n")
    assert "\trevoked\t" in run(capsys, monkeypatch, "token", "list", "--db", url)[1]

    code, out, _ = run(
        capsys,
        monkeypatch,
        "user",
        "set-password",
        "--db",
        url,
        "--email",
        "li.na@b.io",
        "--password-stdin",
        stdin="another long password\n",
    )
    assert (code, out) == (0, "password of li.na@b.io changed\n")
    assert run(capsys, monkeypatch, "user", "deactivate", "--db", url, "--email", "li.na@b.io")[0] == 0
    assert run(capsys, monkeypatch, "user", "list", "--db", url)[1].endswith("\tinactive\n")


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (
            ("user", "create", "--email", "a@b.io", "--name", "A", "--role", "admin", "--password-stdin"),
            "short\n",
            "error: the password has 5 characters; at least 10 are needed [auth.weak_password]",
        ),
        (
            (
                "user",
                "create",
                "--email",
                "a@b.io",
                "--name",
                "A",
                "--role",
                "admin",
                "--team",
                "Nope",
                "--password-stdin",
            ),
            "long enough password\n",
            "error: no team named 'Nope' [team.not_found]",
        ),
        (
            ("user", "create", "--email", "nope", "--name", "A", "--role", "admin", "--password-stdin"),
            "long enough password\n",
            "error: 'nope' is not an e-mail address [auth.bad_email]",
        ),
        (
            ("user", "set-password", "--email", "ghost@b.io", "--password-stdin"),
            "long enough password\n",
            "error: no user with e-mail ghost@b.io [user.not_found]",
        ),
        (("user", "deactivate", "--email", "ghost@b.io"), "", "error: no user with e-mail ghost@b.io [user.not_found]"),
        (("team", "create", "East", "--parent", "Nope"), "", "error: no team named 'Nope' [team.not_found]"),
        (
            ("team", "create", "East", "--manager", "ghost@b.io"),
            "",
            "error: no user with e-mail ghost@b.io [user.not_found]",
        ),
        (("token", "create", "--user", "ghost@b.io"), "", "error: no user with e-mail ghost@b.io [user.not_found]"),
        (("token", "revoke", "42"), "", "error: no token with id 42 [token.not_found]"),
    ],
)
def test_errors_exit_1_with_a_message_not_a_traceback(
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    code, out, err = run(capsys, monkeypatch, *argv, "--db", url, stdin=stdin)
    assert (code, out, err.strip()) == (1, "", message)


def test_user_create_and_set_role_refuse_a_role_the_blueprint_lacks(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("asked for a password"))
    argv = ("user", "create", "--db", url, "--email", "a@b.io", "--name", "A", "--role", "nosuchrole")
    code, out, err = run(capsys, monkeypatch, *argv)
    assert (code, out, err) == (
        1,
        "",
        "error: 'nosuchrole' is not a role of the blueprint; its roles are admin, finance, sales_director, "
        "sales_manager, sales_rep [auth.unknown_role]\n",
    )
    assert run(capsys, monkeypatch, "user", "list", "--db", url)[1] == ""
    argv = ("user", "create", "--db", url, "--email", "a@b.io", "--name", "A", "--role", "sales_rep")
    assert run(capsys, monkeypatch, *argv, "--password-stdin", stdin="long enough password\n")[0] == 0
    code, out, err = run(capsys, monkeypatch, "user", "set-role", "--db", url, "--email", "a@b.io", "--role", "finace")
    assert (code, out) == (1, "")
    assert err.startswith("error: 'finace' is not a role of the blueprint (did you mean 'finance'?); its roles are ")
    code, out, _ = run(capsys, monkeypatch, "user", "set-role", "--db", url, "--email", "a@b.io", "--role", "finance")
    assert (code, out) == (0, "role of a@b.io changed from sales_rep to finance\n")
    assert run(capsys, monkeypatch, "user", "list", "--db", url)[1] == "1\ta@b.io\tA\tfinance\t-\tactive\n"


def test_duplicate_emails_are_refused(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ("user", "create", "--db", url, "--email", "a@b.io", "--name", "A", "--role", "admin", "--password-stdin")
    assert run(capsys, monkeypatch, *argv, stdin="long enough password\n")[0] == 0
    code, _, err = run(capsys, monkeypatch, *argv, stdin="long enough password\n")
    assert (code, err.strip()) == (1, "error: a user with e-mail a@b.io already exists [user.exists]")


def test_the_password_is_prompted_twice_without_the_flag(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["long enough password", "long enough passw0rd"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    argv = ("user", "create", "--db", url, "--email", "a@b.io", "--name", "A", "--role", "admin")
    code, _, err = run(capsys, monkeypatch, *argv)
    assert (code, err.strip()) == (1, "error: the passwords do not match [auth.password_mismatch]")
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "long enough password")
    assert run(capsys, monkeypatch, *argv)[0] == 0


def test_an_unmigrated_database_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty.db").touch()
    url = f"sqlite:///{tmp_path}/empty.db"
    code, _, err = run(capsys, monkeypatch, "user", "list", "--db", url)
    assert code == 1
    assert "has no user tables (or old ones); run `loomwork migrate BLUEPRINT` first [db.not_migrated]" in err
