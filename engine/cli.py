"""The `loomwork` command. Imports are local to each command so `check` starts fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.errors import BlueprintInvalid, LoomworkError, MigrationRefused

Command = Callable[[argparse.Namespace], int]


def cmd_check(args: argparse.Namespace) -> int:
    """Check a blueprint like a compiler: every problem at once, located."""
    from engine.blueprint.load import load_blueprint
    from engine.types.registry import TypeRegistry

    app = load_blueprint(args.path, TypeRegistry.with_builtins())
    fields = sum(len(o.fields) for o in app.objects)
    print(f"ok: {app.name} {app.version}: {len(app.objects)} objects, {fields} fields")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loomwork", description="Loomwork: blueprints become apps.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("check", cmd_check, "Check a blueprint (file or folder); exit 1 with located problems.")
    p.add_argument("path", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loomwork` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
