"""`loomwork explain`: what a user may do with an object or one record, and why."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.databases import open_command_database
from engine.cli.people import open_auth
from engine.cli.schema import checked_blueprint
from engine.errors import BlueprintInvalid, LoomworkError

if TYPE_CHECKING:
    from engine.auth.directory import AuthDb
    from engine.store.records import Store


def cmd_explain(args: argparse.Namespace) -> int:
    """Why a user may or may not create, read, update, delete an object (and one record of it)."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.auth.explain import explain

    try:
        blueprint, object_name, record_id = _explain_target(args.target)
        store, auth = _explain_store(args, blueprint)
        try:
            result = explain(store, auth, args.user, object_name, record_id)
        finally:
            store.db.dispose()
    except BlueprintInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"error: the blueprint has {len(exc.problems)} problems; run `loomwork check`", file=sys.stderr)
        return 2
    except LoomworkError as exc:
        print(f"error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        first = (str(orig if orig is not None else exc).strip().splitlines() or ["?"])[0]
        print(f"error: the database does not match the blueprint (run `loomwork migrate`?): {first}", file=sys.stderr)
        return 2
    print("\n".join(result.lines))
    return 0 if result.may_read else 1


def _explain_target(values: Sequence[str]) -> tuple[Path | None, str, int | None]:
    """`[BLUEPRINT] OBJECT [RECORD_ID]`: 3 values, or 2 ending in a number (no blueprint), or 2, or 1."""
    items = list(values)
    if not 1 <= len(items) <= 3:
        raise LoomworkError("give [BLUEPRINT] OBJECT [RECORD_ID]", code="explain.usage")
    blueprint = None
    if len(items) == 3 or (len(items) == 2 and not _is_whole(items[1].lstrip("-"))):
        blueprint = Path(items.pop(0))
    record_id = None
    if len(items) == 2:
        if not _is_whole(items[1]):
            raise LoomworkError(f"the record id must be a whole number, not '{items[1]}'", code="explain.usage")
        record_id = int(items[1])
    return blueprint, items[0], record_id


def _is_whole(text: str) -> bool:
    """ASCII digits only: `str.isdigit()` alone also takes '²' and other scripts' digits."""
    return text.isascii() and text.isdigit() and len(text) < 19


def _explain_store(args: argparse.Namespace, blueprint: Path | None) -> tuple[Store, AuthDb]:
    """The store of BLUEPRINT, or of the blueprint last applied to the database when none is given."""
    from engine.store.migrate import current_app
    from engine.store.records import Store
    from engine.types.registry import TypeRegistry

    if blueprint is not None:
        args.path = blueprint
        types, app = checked_blueprint(args)
    else:
        types = TypeRegistry.with_builtins()
    db = open_command_database(args)
    auth = open_auth(args, db)  # refuses (and disposes) a database that was never migrated
    if blueprint is None:
        stored = current_app(db, types)
        if stored is None:
            db.dispose()
            raise LoomworkError("no blueprint was applied to this database; give BLUEPRINT", code="db.not_migrated")
        app = stored
    return Store(app, types, db), auth
