"""The database a command works on: `--db`, else `$DATABASE_URL`, else `sqlite:///loomwork.db`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.store.database import Database

DB_HELP = "database URL (default: $DATABASE_URL, else sqlite:///loomwork.db)"


def command_url(args: argparse.Namespace) -> str:
    """The URL the command was given (or the environment's, or the default)."""
    from engine.store.database import database_url

    return database_url(getattr(args, "db", None))


def open_command_database(args: argparse.Namespace, *, create: bool = False) -> Database:
    """The command's database, connected once; a clear one-line error (exit 1) when it cannot be."""
    from engine.store.connect import open_database

    return open_database(command_url(args), create=create)


def add_db_option(parser: argparse.ArgumentParser, help_text: str = DB_HELP) -> None:
    parser.add_argument("--db", default=None, help=help_text)
