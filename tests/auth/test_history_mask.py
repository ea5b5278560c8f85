"""A field hidden from a role is hidden from its history too, also a lookup, whose history rows
name its column (`company_id`), not the field (`company`)."""

from __future__ import annotations

from pathlib import Path

from engine.auth.access import PolicyAccess, subject_for
from engine.auth.directory import AuthDb
from engine.auth.users import Users
from engine.blueprint.load import load_blueprint
from engine.store.database import Database
from engine.store.migrate import apply_plan, plan_migration
from engine.store.records import Store
from engine.types.registry import TypeRegistry
from tests.auth.conftest import FAST_HASHING

BLUEPRINT = """
app: {name: masks}
objects:
  company:
    fields: {name: {type: text}}
  deal:
    fields:
      name: {type: text}
      company: {type: lookup, object: company, on_delete: set_null}
roles:
  rep:
    objects:
      company: {read: true, scope: all}
      deal: {read: true, update: true, scope: all, fields: {company: hidden}}
"""


def test_a_hidden_lookup_leaves_no_trace_in_history(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "masks.yaml").write_text(BLUEPRINT)
    types = TypeRegistry.with_builtins()
    app = load_blueprint(tmp_path / "masks.yaml", types)
    db = Database(db_url)
    apply_plan(db, plan_migration(db, app, types))
    store = Store(app, types, db)
    auth = AuthDb(db, hashing=FAST_HASHING)
    rep = Users(auth).create_user("rep@example.com", "Rep", "rep")
    access = PolicyAccess(store, subject_for(auth, rep))
    first, second = store.create("company", {"name": "A"}), store.create("company", {"name": "B"})
    deal = store.create("deal", {"name": "D", "company_id": first["id"]})
    store.update("deal", deal["id"], {"company_id": second["id"], "name": "D2"})
    everything = store.history("deal", deal["id"])
    assert any(r["field"] == "company_id" for r in everything)  # the system sees the change
    seen = store.history("deal", deal["id"], access=access)
    assert [r["field"] for r in seen if r["field"] is not None] == ["name"]
    for r in seen:
        for snapshot in (r["old"], r["new"]):
            assert not (isinstance(snapshot, dict) and ({"company", "company_id"} & set(snapshot)))
    db.dispose()
