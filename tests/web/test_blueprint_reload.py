"""A running server follows `loomwork migrate` run by another process, on SQLite and PostgreSQL:
to the blueprint in its folder it switches (fields, OpenAPI); to any other it answers 503
`database.blueprint_changed`, saying to restart, instead of serving the old schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.auth.passwords import PasswordHashing
from engine.auth.tokens import Tokens
from engine.auth.users import Users
from engine.cli import main
from engine.store.records import Store
from engine.web.app import create_app
from engine.web.runtime import ServedBlueprint, open_store

V1 = """
app: {name: reload, version: "1"}
objects:
  deal:
    fields:
      name: {type: text}
"""
V2 = V1.replace('version: "1"', 'version: "2"') + "      amount: {type: currency}\n"
V3 = V2.replace('version: "2"', 'version: "3"') + "      stage: {type: select, options: [new, won]}\n"


def write(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "app.yaml").write_text(text, encoding="utf-8")
    return folder


def migrate(folder: Path, url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`loomwork migrate`, as another process would run it."""
    assert main(["migrate", str(folder), "--db", url]) == 0
    capsys.readouterr()


def build(store: Store) -> Any:
    return create_app(store, auth=AuthDb(store.db, hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)))


@pytest.fixture
def served(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[ServedBlueprint, str]]:
    folder = write(tmp_path / "served", V1)
    migrate(folder, db_url, capsys)
    store = open_store(folder, db_url)
    user = Users(AuthDb(store.db)).create_user("admin@example.com", "Admin", "admin")
    _, secret = Tokens(AuthDb(store.db)).create_token(user.id)
    app = ServedBlueprint(folder, store, build=build, check_every=0)
    yield app, secret
    app.store.db.dispose()


def client(app: ServedBlueprint, secret: str) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {secret}"})


def test_a_migration_to_the_served_folder_is_followed(
    served: tuple[ServedBlueprint, str], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app, secret = served
    with client(app, secret) as http:
        r = http.post("/api/v1/deal", json={"name": "before", "amount": "5.00"})
        assert (r.status_code, r.json()["errors"][0]["code"]) == (422, "field.unknown"), r.text
        migrate(write(app.path, V2), db_url, capsys)
        r = http.post("/api/v1/deal", json={"name": "after", "amount": "5.00"})
        assert r.status_code == 201, r.text
        assert r.json()["data"]["amount"] == "5.00"
        assert "amount" in http.get("/openapi.json").json()["components"]["schemas"]["deal"]["properties"]
        assert [d["name"] for d in http.get("/api/v1/deal", params={"sort": "id"}).json()["data"]] == ["after"]
    assert app.store.app.version == "2" and app.refusal is None


def test_a_migration_to_another_blueprint_is_refused_until_the_folder_holds_it(
    served: tuple[ServedBlueprint, str], db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app, secret = served
    with client(app, secret) as http:
        assert http.get("/api/v1/deal").status_code == 200
        migrate(write(tmp_path / "elsewhere", V3), db_url, capsys)
        for path in ("/api/v1/deal", "/healthz", "/openapi.json"):
            r = http.get(path)
            assert r.status_code == 503, r.text
            assert r.json() == {
                "ok": False,
                "errors": [
                    {
                        "loc": [],
                        "msg": f"the database was migrated to blueprint reload 3, not the one at {app.path}; "
                        "restart `loomwork serve` with the migrated blueprint",
                        "code": "database.blueprint_changed",
                    }
                ],
            }
        write(app.path, V3)  # the served folder now holds the migrated blueprint: it is served
        r = http.get("/api/v1/deal", params={"stage": "won"})
        assert r.status_code == 200, r.text


def test_the_database_is_looked_at_once_per_interval(served: tuple[ServedBlueprint, str]) -> None:
    app, secret = served
    app.check_every = 60
    looks: list[int] = []
    latest = app._latest_id

    def counted() -> int | None:
        looks.append(1)
        return latest()

    app._latest_id = counted  # type: ignore[method-assign]
    with client(app, secret) as http:
        for _ in range(20):
            assert http.get("/api/v1/deal").status_code == 200
    assert looks == []
    app._checked_at = 0.0
    with client(app, secret) as http:
        for _ in range(20):
            assert http.get("/api/v1/deal").status_code == 200
    assert looks == [1]
