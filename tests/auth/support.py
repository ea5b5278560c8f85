"""A clock the auth tests move by hand, and a freshly migrated database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engine.blueprint.load import load_blueprint
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


def migrated(url: str) -> Database:
    types = TypeRegistry.with_builtins()
    db = Database(url)
    apply_plan(db, plan_migration(db, load_blueprint(EVERYTHING, types), types))
    return db
