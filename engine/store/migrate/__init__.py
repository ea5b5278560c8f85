"""Schema change is plan, then apply: `plan_migration` reads, `apply_plan` writes in one transaction."""

from engine.store.migrate.apply import apply_plan, refusal
from engine.store.migrate.convert import ConversionFailure
from engine.store.migrate.plan import MigrationPlan, PlannedStep, plan_migration
from engine.store.migrate.stored import applied_role_ids, current_app
from engine.store.migrate.unique import Duplicates

__all__ = [
    "ConversionFailure",
    "Duplicates",
    "MigrationPlan",
    "PlannedStep",
    "applied_role_ids",
    "apply_plan",
    "current_app",
    "plan_migration",
    "refusal",
]
