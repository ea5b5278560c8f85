"""A clock the auth tests move by hand, and a freshly migrated database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engine.blueprint.load import app_from_document, load_blueprint
from engine.store.database import Database
from engine.store.migrate import apply_plan, plan_migration
from engine.types.registry import TypeRegistry
from tests.helpers import EVERYTHING


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


#: Roles the auth tests give users; declared (with no rights) so the user service accepts them.
ROLES = ("sales_director", "sales_manager", "sales_rep", "finance")


def migrated(url: str) -> Database:
    """A database migrated to tests/everything.yaml, plus the roles above."""
    types = TypeRegistry.with_builtins()
    document = {**load_blueprint(EVERYTHING, types).document, "roles": {r: {} for r in ROLES}}
    db = Database(url)
    apply_plan(db, plan_migration(db, app_from_document(document, types), types))
    return db
