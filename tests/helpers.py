"""Building stores and API clients for tests."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from engine.auth.directory import AuthDb
from engine.blueprint.load import load_blueprint
from engine.store.database import Database
from engine.store.records import Store
from engine.types.registry import TypeRegistry

HERE = Path(__file__).parent
EVERYTHING = HERE / "everything.yaml"


def make_store(url: str, blueprint: Path = EVERYTHING, files_dir: Path | None = None) -> Store:
    """A store with fresh tables for `blueprint` on the database at `url`."""
    types = TypeRegistry.with_builtins()
    app = load_blueprint(blueprint, types)
    store = Store(app, types, Database(url), files_dir=files_dir)
    store.metadata.create_all(store.db.engine)
    return store


def api_client(store: Store, role: str = "admin", email: str = "admin@example.com", locale: str = "en") -> TestClient:
    """A TestClient for the store's API, signed in (Bearer token) as a new user with `role`."""
    from engine.auth.directory import AuthDb
    from engine.auth.passwords import PasswordHashing
    from engine.auth.tokens import Tokens
    from engine.auth.users import Users
    from engine.web.app import create_app

    auth = AuthDb(store.db, hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1))
    user = Users(auth).create_user(email, email.split("@")[0], role, locale=locale)
    _, secret = Tokens(auth).create_token(user.id)
    return TestClient(
        create_app(store, auth=auth),
        raise_server_exceptions=False,
        headers={"Authorization": f"Bearer {secret}"},
    )


def user_id(store: Store, email: str) -> int:
    """The id of the user with this e-mail (made by `api_client`)."""
    from engine.auth.directory import AuthDb
    from engine.auth.users import user_by_email

    with store.db.read() as conn:
        return user_by_email(AuthDb(store.db), conn, email).id


CRM = HERE.parent / "blueprints" / "crm"


def crm_demo(url: str, files_dir: Path) -> tuple[Store, AuthDb]:
    """The CRM blueprint migrated into the database at `url`, with its demo data (`loomwork demo`
    in miniature; passwords hashed cheaply: the tests check behaviour, not cost)."""
    from engine.auth.passwords import PasswordHashing
    from engine.auth.people import DirectoryPeople
    from engine.store.fixtures import load_fixtures
    from engine.store.migrate import apply_plan, plan_migration

    hashing = PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)
    types = TypeRegistry.with_builtins()
    app = load_blueprint(CRM, types)
    db = Database(url)
    apply_plan(db, plan_migration(db, app, types))
    store = Store(app, types, db, files_dir=files_dir)
    auth = AuthDb(db, hashing=hashing)
    load_fixtures(store, CRM / "demo", DirectoryPeople(auth))
    return store, auth


def open_demo(url: str, files_dir: Path) -> tuple[Store, AuthDb]:
    """The store and auth of a database already holding the CRM demo (the `demo_url` fixture)."""
    from engine.auth.passwords import PasswordHashing

    types = TypeRegistry.with_builtins()
    db = Database(url)
    store = Store(load_blueprint(CRM, types), types, db, files_dir=files_dir)
    return store, AuthDb(db, hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1))


def token_for(auth: AuthDb, email: str) -> str:
    """A new API token of the user with `email`."""
    from engine.auth.tokens import Tokens
    from engine.auth.users import Users

    return Tokens(auth).create_token(Users(auth).get(email).id)[1]


def demo_client(crm: tuple[Store, AuthDb], email: str, lang: str = "en") -> TestClient:
    """A client of the CRM demo signed in (API token) as `email`, who reads the app in `lang`."""
    from engine.auth.users import Users
    from engine.web.app import create_app

    store, auth = crm
    Users(auth).set_locale(user_id(store, email), lang)
    bearer = {"Authorization": f"Bearer {token_for(auth, email)}"}
    return TestClient(create_app(store, auth=auth), raise_server_exceptions=False, headers=bearer)
