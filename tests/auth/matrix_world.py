"""The permission matrix's world: a CRM database with an org (teams, one user per role, tokens) and
fixed records owned across it, on SQLite and PostgreSQL (module-scoped fixture `world`).

Used by tests/auth/test_permission_matrix.py and tests/auth/test_permission_leaks.py.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from engine.auth.directory import AuthDb
from engine.auth.teams import Teams
from engine.auth.tokens import Tokens
from engine.auth.users import Users
from engine.blueprint.load import load_blueprint
from engine.store.database import Database
from engine.store.migrate import apply_plan, plan_migration
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from tests.auth.conftest import FAST_HASHING
from tests.auth.matrix_support import (
    CHILDREN,
    CRM,
    HOLDERS,
    Org,
    Person,
    Row,
    TeamRow,
    leaked,
    load_roles,
    parent_rows,
    stored_rows,
)
from tests.conftest import PG_URL

ROLES = load_roles()

# The org: a director's team Sales with East (and East-Metro below it) and North below it.
TEAMS = (("Sales", None), ("East", "Sales"), ("East-Metro", "East"), ("North", "Sales"))
MANAGES = (("Sales", "director"), ("East", "manager"))
PEOPLE = (
    ("admin", "admin", None),
    ("director", "sales_director", "Sales"),
    ("manager", "sales_manager", "East"),
    ("rep_east", "sales_rep", "East"),
    ("rep_metro", "sales_rep", "East-Metro"),
    ("rep_north", "sales_rep", "North"),
    ("finance", "finance", None),
    ("service", "service_agent", None),
    ("marketing", "marketing", None),
)
#: The users the matrix acts as: one per role (two reps in different sub-teams).
ACTORS = ("admin", "director", "manager", "rep_east", "rep_north", "finance", "service", "marketing")
SALES = ("rep_east", "rep_metro", "rep_north", "manager", "director")
#: Who owns the records of each object (None: no owner). Tickets also carry a status.
OWNERS: dict[str, tuple[str | None, ...]] = {
    "lead": (*SALES, "marketing"),
    "activity": (*SALES, "service", "marketing"),
    "product": ("admin", "director"),
    "ticket": (*SALES, "service", None, None, "rep_north"),
}
TICKET_STATUS: tuple[str, ...] = ("assigned",) * len(SALES) + ("in_progress", "new", "assigned", "new")
MISSING_ID = 987654321
#: The text field each object is named by (tests rename records through it).
NAME_FIELD = {"ticket_note": "body"}


def owners(obj: str) -> tuple[str | None, ...]:
    return OWNERS.get(CHILDREN.get(obj, obj), SALES)


class Api:
    """A synchronous client over the ASGI app on one event loop of its own: much cheaper per request
    than `TestClient`'s thread portal, and the matrix makes a few thousand requests."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kw))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@dataclass
class World:
    store: Store
    client: Api
    org: Org
    headers: dict[str, dict[str, str]]
    #: object -> record ids of the fixed records (for line objects: their parent's records' lines).
    base: dict[str, list[int]] = field(default_factory=dict)
    #: object -> owner key -> one fixed record owned by them.
    by_owner: dict[str, dict[str, int]] = field(default_factory=dict)
    products: list[int] = field(default_factory=list)
    seq: Iterator[int] = field(default_factory=itertools.count)

    def person(self, key: str) -> Person:
        return self.org.people[key]

    def uid(self, key: str | None) -> int | None:
        return None if key is None else self.org.people[key].id

    def call(self, who: str | None, method: str, url: str, obj: str, **kw: Any) -> httpx.Response:
        """A request as `who` (None: no token); fails when a field hidden from them is in the body."""
        headers = {} if who is None else self.headers[who]
        r = self.client.request(method, url, headers=headers, **kw)
        if who is not None and r.headers.get("content-type", "").startswith("application/json"):
            found = leaked(r.json(), self.org.hidden(self.person(who), obj))
            assert not found, f"{who} ({self.person(who).role}) {method} {url}: hidden {sorted(found)} in {r.text}"
        return r

    # -- records made as the system ---------------------------------------------------------------------
    def make(self, obj: str, owner: str | None, *, status: str | None = None) -> int:
        """A new record of `obj` owned by `owner`; for a line object, a new parent with one line."""
        if obj in CHILDREN:
            parent = self.make(CHILDREN[obj], owner)
            record = self.store.get(CHILDREN[obj], parent)
            return int(record[HOLDERS[obj]][0]["id"])
        n = next(self.seq)
        body = self.body(obj, owner, f"{obj} {n} of {owner or 'nobody'}")
        if status is not None:
            body["status"] = status
        return int(self.store.create(obj, body, actor=self.uid(owner))["id"])

    def body(self, obj: str, owner: str | None, name: str) -> dict[str, Any]:
        """A valid new `obj` whose lookups point at records of `owner` (else of the director)."""

        def ref(target: str) -> int:
            mine = self.by_owner[target]
            return mine[owner] if owner is not None and owner in mine else mine["director"]

        line = {"product_id": self.products[0], "quantity": "1", "unit_price": "100"}
        if obj == "lead":
            return {"name": name, "source": "website"}
        if obj == "activity":
            return {"name": name, "type": "call", "occurred_at": "2026-03-01T10:00:00Z"}
        if obj == "product":
            return {"name": name, "list_price": "100", "floor_price": "80", "cost_price": "50"}
        if obj == "account":
            return {"name": name}
        if obj in ("contact", "opportunity", "contract", "order", "ticket"):
            out: dict[str, Any] = {"name": name, "account_id": ref("account")}
            extra: dict[str, dict[str, Any]] = {
                "contract": {"lines": [line]},
                "order": {"lines": [line], "milestones": [{"name": "Kick-off"}]},
                "ticket": {
                    "channel": "phone",
                    "notes": [{"body": "Reply to the customer"}, {"body": "Internal: check stock", "internal": True}],
                },
            }
            return out | extra.get(obj, {})
        if obj == "quote":
            return {"name": name, "opportunity_id": ref("opportunity"), "account_id": ref("account"), "lines": [line]}
        if obj == "ticket_note":
            return {"ticket_id": ref("ticket"), "body": name}
        if obj in CHILDREN:
            parent = CHILDREN[obj]
            child: dict[str, Any] = {f"{parent}_id": ref(parent), "name": name}
            return child if obj == "order_milestone" else child | line
        raise AssertionError(obj)

    def rows(self, obj: str) -> tuple[list[Row], dict[int, Row]]:
        return stored_rows(self.store, obj), parent_rows(self.store, obj)

    def base_rows(self, obj: str) -> tuple[list[Row], dict[int, Row]]:
        """The fixed records (their stored state now), whatever other tests added."""
        rows, parents = self.rows(obj)
        return [r for r in rows if r.id in self.base[obj]], parents


def build_world(store: Store, auth: AuthDb) -> World:
    from engine.web.app import create_app

    users, teams, tokens = Users(auth), Teams(auth), Tokens(auth)
    for name, parent in TEAMS:
        teams.create_team(name, parent=parent)
    for key, role, team in PEOPLE:
        users.create_user(f"{key}@matrix.test", key.replace("_", " ").title(), role, team=team)
    for team_name, manager in MANAGES:
        teams.set_manager(team_name, f"{manager}@matrix.test")
    org = Org(ROLES)
    for u in users.list_users():
        key = u.email.split("@")[0]
        org.people[key] = Person(key, u.id, str(u.role), u.team_id)
    for t in teams.list_teams():
        org.teams[t.name] = TeamRow(t.id, t.name, t.parent_id, t.manager_id)
    headers = {key: {"Authorization": f"Bearer {tokens.create_token(p.id)[1]}"} for key, p in org.people.items()}
    client = Api(create_app(store, auth=auth))
    world = World(store, client, org, headers)

    admin, director = world.uid("admin"), world.uid("director")
    p1 = store.create(
        "product", {"name": "P-1", "list_price": "100", "floor_price": "80", "cost_price": "50"}, actor=admin
    )
    p2 = store.create(
        "product", {"name": "P-2", "list_price": "200", "floor_price": "150", "cost_price": "90"}, actor=director
    )
    world.products = [int(p1["id"]), int(p2["id"])]
    # A history row for a hidden field: floor_price changed after the product was created.
    store.update("product", int(p1["id"]), {"floor_price": "85", "cost_price": "55"}, actor=admin)
    world.by_owner["product"] = {"admin": int(p1["id"]), "director": int(p2["id"])}
    world.base["product"] = list(world.products)
    for obj in ("account", "contact", "opportunity", "lead", "activity", "quote", "contract", "order", "ticket"):
        world.by_owner[obj], world.base[obj] = {}, []
        statuses = TICKET_STATUS if obj == "ticket" else (None,) * len(owners(obj))
        for owner, status in zip(owners(obj), statuses, strict=True):
            record_id = world.make(obj, owner, status=status)
            world.base[obj].append(record_id)
            if owner is not None:
                world.by_owner[obj].setdefault(owner, record_id)
    for child in CHILDREN:
        world.base[child] = [r.id for r in stored_rows(store, child)]
    return world


def open_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Build the world on the fixture's database (`request.param`), yield it, drop it."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'matrix.db'}"
    else:
        if not request.getfixturevalue("pg_available"):
            pytest.skip("PostgreSQL not reachable (set PG_TEST_URL)")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    types = TypeRegistry.with_builtins()
    app = load_blueprint(CRM, types)
    db = Database(url)
    try:
        apply_plan(db, plan_migration(db, app, types))
        w = build_world(Store(app, types, db), AuthDb(db, hashing=FAST_HASHING))
        try:
            yield w
        finally:
            w.client.close()
    finally:
        db.dispose()
        if schema is not None:
            admin = sa.create_engine(PG_URL)
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
