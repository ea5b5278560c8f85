"""The `loomwork` parser and entry point: every failure ends as one line on stderr and an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.cli.databases import add_db_option
from engine.cli.explain import cmd_explain
from engine.cli.people import add_people_commands
from engine.cli.schema import cmd_check, cmd_migrate, cmd_plan
from engine.cli.serving import add_server_options, cmd_demo, cmd_serve
from engine.errors import BlueprintInvalid, LoomworkError, MigrationRefused

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Every command with its options (docs/cli.md documents each; a test checks that)."""
    parser = argparse.ArgumentParser(prog="loomwork", description="Loomwork: blueprints become apps.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("check", cmd_check, "Check a blueprint (file or folder); exit 1 with located problems.")
    p.add_argument("path", type=Path)
    p = add("plan", cmd_plan, "Show the schema change a blueprint needs: operations, SQL, data lost or failing.")
    p.add_argument("path", type=Path)
    add_db_option(p)
    p = add("migrate", cmd_migrate, "Apply a blueprint's schema change in one transaction (all or nothing).")
    p.add_argument("path", type=Path)
    add_db_option(p)
    p.add_argument("--allow-destructive", action="store_true", help="allow drops, narrowing and lossy type changes")
    p = add("serve", cmd_serve, "Serve a migrated blueprint: REST API at /api/v1, OpenAPI at /openapi.json.")
    p.add_argument("path", type=Path)
    add_db_option(p)
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    add_server_options(p)
    p = add("demo", cmd_demo, "Fresh CRM demo: migrate blueprints/crm into SQLite, load demo data, serve on :8000.")
    add_db_option(p, "database URL (default: a fresh ./loomwork-demo.db)")
    p.add_argument("--no-serve", action="store_true", help="create the demo database and stop")
    add_server_options(p)
    add_people_commands(add)
    p = add("explain", cmd_explain, "Explain what a user may do with an object or one record, and why.")
    p.add_argument(
        "target",
        nargs="*",
        metavar="[BLUEPRINT] OBJECT [RECORD_ID]",
        help="the blueprint (default: the one last applied to the database), an object, a record id",
    )
    p.add_argument("--user", required=True, help="the user's e-mail")
    add_db_option(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loomwork` command; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # `explain BLUEPRINT --user EMAIL OBJECT ID`: argparse leaves positionals after an option over
        if getattr(args, "func", None) is cmd_explain and not any(a.startswith("-") for a in extra):
            args.target = [*args.target, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code: int = args.func(args)
        return code
    except BlueprintInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return 1
    except MigrationRefused as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        for line in exc.details:
            print(f"  {line}", file=sys.stderr)
        return 1
    except LoomworkError as exc:
        print(f"error: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `loomwork ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        lost = _lost_database(exc)
        if lost is None:
            raise
        print(f"error: {lost} [db.failed]", file=sys.stderr)
        return 1


def _lost_database(exc: Exception) -> str | None:
    """A database that failed after it was opened (server gone, disk full, locked): its one line."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return f"the database failed: {(text.splitlines() or ['unknown error'])[0]}"
