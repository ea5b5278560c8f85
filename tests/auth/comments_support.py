"""A small CRM org for the comment, notification and timeline tests: teams, people with CJK and
spaced names, a few deals, and an API client per person (on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from engine.auth.access import PolicyAccess, access_for
from engine.auth.directory import AuthDb
from engine.auth.teams import Teams
from engine.auth.tokens import Tokens
from engine.auth.users import Users
from engine.blueprint.load import load_blueprint
from engine.store.database import Database
from engine.store.migrate import apply_plan, plan_migration
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from engine.web.app import create_app
from tests.auth.conftest import FAST_HASHING
from tests.helpers import CRM

#: key -> (name, role, team). The East manager manages East; reps sit in East and North.
PEOPLE = {
    "rep": ("Li Lei", "sales_rep", "East"),
    "other_rep": ("王 芳", "sales_rep", "North"),
    "manager": ("张伟", "sales_manager", "East"),
    "director": ("王建国", "sales_director", None),
    "finance": ("郑丽", "finance", None),
    "gone": ("Old Hand", "sales_director", None),
}


@dataclass
class Org:
    store: Store
    auth: AuthDb
    ids: dict[str, int] = field(default_factory=dict)
    clients: dict[str, TestClient] = field(default_factory=dict)
    #: The rep's deal (the East team sees it), the other rep's deal, the rep's account.
    deal: int = 0
    other_deal: int = 0
    account: int = 0

    def api(self, who: str) -> TestClient:
        return self.clients[who]

    def access(self, who: str) -> PolicyAccess:
        return access_for(self.store, self.auth, Users(self.auth).by_id(self.ids[who]))

    def mention(self, who: str) -> str:
        return f"@[{PEOPLE[who][0]}](user:{self.ids[who]})"

    def create(self, obj: str, owner: str, values: dict[str, Any]) -> int:
        return int(self.store.create(obj, values, actor=self.ids[owner])["id"])

    def rows(self, table: str) -> list[dict[str, Any]]:
        t = self.store.metadata.tables[table]
        with self.store.db.read() as conn:
            return [dict(r) for r in conn.execute(t.select().order_by(t.c.id)).mappings()]

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        self.store.db.dispose()


def build_org(url: str) -> Org:
    types = TypeRegistry.with_builtins()
    app = load_blueprint(CRM, types)
    db = Database(url)
    apply_plan(db, plan_migration(db, app, types))
    store, auth = Store(app, types, db), AuthDb(db, hashing=FAST_HASHING)
    teams, users, tokens = Teams(auth), Users(auth), Tokens(auth)
    teams.create_team("East")
    teams.create_team("North")
    web = create_app(store, auth=auth, token_ttl=0)
    org = Org(store, auth)
    for key, (name, role, team) in PEOPLE.items():
        user = users.create_user(f"{key}@org.test", name, role, team=team)
        org.ids[key] = user.id
        secret = tokens.create_token(user.id)[1]
        org.clients[key] = TestClient(web, raise_server_exceptions=False, headers={"Authorization": f"Bearer {secret}"})
    teams.set_manager("East", "manager@org.test")
    users.deactivate("gone@org.test")
    org.account = org.create("account", "rep", {"name": "Mingyuan Tech"})
    org.deal = org.create("opportunity", "rep", {"name": "Line terminals", "account_id": org.account})
    other_account = org.create("account", "other_rep", {"name": "North Steel"})
    org.other_deal = org.create("opportunity", "other_rep", {"name": "Cranes", "account_id": other_account})
    return org
