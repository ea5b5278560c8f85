"""`migrate` computes stored formulas for existing records: new ones, changed ones and those that
read a changed value, in batches, after saying in the plan how many records each one computes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from engine.blueprint.load import app_from_document
from engine.blueprint.model import App
from engine.store.database import Database
from engine.store.migrate import MigrationPlan, apply_plan, plan_migration
from engine.store.migrate import formulas as migrate_formulas
from engine.store.records import Store
from engine.types.registry import TypeRegistry

TYPES = TypeRegistry.with_builtins()
V1: dict[str, Any] = {
    "app": {"name": "sales", "version": "1"},
    "objects": {
        "account": {"fields": {"name": {"type": "text"}, "sector": {"type": "text"}}},
        "opportunity": {
            "fields": {
                "name": {"type": "text"},
                "amount": {"type": "currency"},
                "account": {"type": "lookup", "object": "account"},
            }
        },
    },
}


def app(version: str, **formulas: tuple[str, str, dict[str, Any]]) -> App:
    """V1 with formulas: name -> (object, expression, more keys)."""
    doc = copy.deepcopy(V1)
    doc["app"]["version"] = version
    for name, (obj, expression, more) in formulas.items():
        doc["objects"][obj]["fields"][name] = {"type": "formula", "expression": expression, **more}
    return app_from_document(doc, TYPES)


SECTOR = ("opportunity", "account.sector", {})
WON = ("account", "sum(opportunity, o.amount)", {})
SHARE = ("opportunity", "if(account.won > 0, amount / account.won, 0)", {"scale": 4})


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    apply_plan(database, plan_migration(database, app("1"), TYPES))
    store = Store(app("1"), TYPES, database)
    acme = store.create("account", {"name": "Acme", "sector": "energy"})["id"]
    globex = store.create("account", {"name": "Globex", "sector": "retail"})["id"]
    for account, amount in ((acme, "10.00"), (acme, "30.00"), (globex, "5.00"), (globex, "15.00"), (None, "1.00")):
        store.create("opportunity", {"name": "d", "amount": amount, "account_id": account})
    yield database
    database.dispose()


def migrate(db: Database, target: App) -> MigrationPlan:
    plan = plan_migration(db, target, TYPES)
    apply_plan(db, plan)
    return plan


def column(db: Database, target: App, object_name: str, name: str) -> list[Any]:
    store = Store(target, TYPES, db)
    with db.read() as conn:
        return [store._fetch(conn, store.app.object(object_name), i)[name] for i in ids(db, store, object_name)]


def ids(db: Database, store: Store, object_name: str) -> list[int]:
    table = store.tables[object_name]
    with db.read() as conn:
        return [int(i) for i in conn.execute(sa.select(table.c.id).order_by(table.c.id)).scalars()]


def test_new_stored_formulas_are_computed_for_existing_records_and_counted_in_the_plan(db: Database) -> None:
    v2 = app("2", sector=SECTOR, won=WON, share=SHARE)
    plan = plan_migration(db, v2, TYPES)
    text = plan.render()
    assert "~ compute formula opportunity.sector for existing records (new formula)" in text
    assert "~ compute formula account.won for existing records (new formula)" in text
    assert text.count("computes 5 records, 1000 at a time") == 2  # the deals' formulas
    assert "computes 2 records, 1000 at a time" in text  # the accounts'
    # share reads won: computed after it
    described = [step.op.describe() for step in plan.steps]
    assert described.index("compute formula account.won for existing records (new formula)") < described.index(
        "compute formula opportunity.share for existing records (new formula)"
    )
    apply_plan(db, plan)
    assert column(db, v2, "opportunity", "sector") == ["energy", "energy", "retail", "retail", None]
    assert column(db, v2, "account", "won") == [Decimal("40.00"), Decimal("20.00")]
    assert column(db, v2, "opportunity", "share") == [
        Decimal("0.2500"),
        Decimal("0.7500"),
        Decimal("0.2500"),
        Decimal("0.7500"),
        Decimal("0.0000"),
    ]
    assert plan_migration(db, v2, TYPES).empty


def test_a_changed_expression_recomputes_it_and_what_reads_it(db: Database) -> None:
    migrate(db, app("2", won=WON, share=SHARE))
    v3 = app("3", won=("account", "sum(opportunity, o.amount * 2)", {}), share=SHARE)
    plan = migrate(db, v3)
    described = [step.op.describe() for step in plan.steps]
    assert described == [
        "compute formula account.won for existing records (expression changed)",
        "compute formula opportunity.share for existing records (reads a changed value)",
    ]
    assert column(db, v3, "account", "won") == [Decimal("80.00"), Decimal("40.00")]
    assert column(db, v3, "opportunity", "share")[:2] == [Decimal("0.1250"), Decimal("0.3750")]


def test_a_changed_scale_retypes_and_recomputes(db: Database) -> None:
    migrate(db, app("2", share=SHARE, won=WON))
    v3 = app("3", share=("opportunity", SHARE[1], {"scale": 1}), won=WON)
    plan = migrate(db, v3)
    assert [step.op.describe() for step in plan.steps] == [
        "compute formula opportunity.share for existing records (result type changed)"
    ]
    assert column(db, v3, "opportunity", "share") == [
        Decimal("0.3"),
        Decimal("0.8"),
        Decimal("0.3"),
        Decimal("0.8"),
        Decimal("0.0"),
    ]


def test_a_changed_virtual_formula_recomputes_the_stored_ones_reading_it(db: Database) -> None:
    label = ("account", "name + '/' + sector", {"stored": False})
    migrate(db, app("2", label=label, tag=("opportunity", "account.label", {})))
    assert column(db, app("2", label=label, tag=("opportunity", "account.label", {})), "opportunity", "tag")[0] == (
        "Acme/energy"
    )
    v3 = app("3", label=("account", "sector + '/' + name", {"stored": False}), tag=("opportunity", "account.label", {}))
    plan = migrate(db, v3)
    assert [step.op.describe() for step in plan.steps] == [
        "compute formula opportunity.tag for existing records (reads a changed value)"
    ]
    assert column(db, v3, "opportunity", "tag")[:3] == ["energy/Acme", "energy/Acme", "retail/Globex"]


def test_formulas_are_computed_in_batches(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrate_formulas, "BATCH", 2)
    v2 = app("2", sector=SECTOR)
    assert "computes 5 records, 2 at a time" in plan_migration(db, v2, TYPES).render()
    migrate(db, v2)
    assert column(db, v2, "opportunity", "sector") == ["energy", "energy", "retail", "retail", None]
