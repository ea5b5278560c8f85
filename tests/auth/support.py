"""A clock the auth tests move by hand, a freshly migrated database, and a hasher that counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engine.auth.passwords import PasswordHashing
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


@dataclass
class Meter:
    """How many password checks ran, and the most that ran at the same time."""

    calls: int = 0
    running: int = 0
    peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def measure(self) -> Iterator[None]:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1


@dataclass(frozen=True)
class MeteredHashing(PasswordHashing):
    """Cheap argon2id that takes at least `delay` seconds per check and counts checks in `meter`
    (a verify, or the dummy hash that answers for an unknown e-mail)."""

    time_cost: int = 1
    memory_cost: int = 8
    parallelism: int = 1
    delay: float = 0.05
    meter: Meter = field(default_factory=Meter, compare=False)

    def verify(self, password_hash: str, password: str) -> bool:
        with self.meter.measure():
            time.sleep(self.delay)
            return super().verify(password_hash, password)

    def rehash(self, password: str) -> str:
        with self.meter.measure():
            time.sleep(self.delay)
            return super().rehash(password)
