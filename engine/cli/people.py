"""`loomwork user`, `team` and `token`: the people of a migrated database and their API tokens."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.cli.databases import add_db_option, open_command_database
from engine.errors import LoomworkError

if TYPE_CHECKING:
    from engine.auth.directory import AuthDb
    from engine.store.database import Database

Command = Callable[[argparse.Namespace], int]


def open_auth(args: argparse.Namespace, db: Database | None = None) -> AuthDb:
    """The auth room over `--db` (or `db`); refuses a database without the system tables (never migrated)."""
    import sqlalchemy as sa

    from engine.auth.directory import AuthDb
    from engine.store.connect import shown_url

    if db is None:
        db = open_command_database(args)
    with db.read() as conn:
        names = set(sa.inspect(conn).get_table_names())
        columns = {c["name"] for c in sa.inspect(conn).get_columns("lw_user")} if "lw_user" in names else set()
    if not {"lw_user", "lw_team", "lw_token", "lw_audit"} <= names or "team_id" not in columns:
        db.dispose()
        raise LoomworkError(
            f"the database {shown_url(db.url)} has no user tables (or old ones); "
            "run `loomwork migrate BLUEPRINT` first",
            code="db.not_migrated",
        )
    return AuthDb(db)


def _read_password(args: argparse.Namespace) -> str:
    """From stdin with --password-stdin (first line), else prompted twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise LoomworkError("the passwords do not match", code="auth.password_mismatch")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """Create, list, change the role of, reset the password of and deactivate users."""
    from engine.auth.teams import Teams
    from engine.auth.users import Users

    auth = open_auth(args)
    users = Users(auth)
    try:
        if args.action == "create":
            users.check_role(args.role)  # before the password prompt
            password = _read_password(args)
            user = users.create_user(args.email, args.name, args.role, team=args.team, password=password)
            team = f", team {args.team}" if args.team else ""
            print(f"created user {user.email} (id {user.id}, role {user.role}{team})")
        elif args.action == "list":
            teams = {t.id: t.name for t in Teams(auth).list_teams()}
            for u in users.list_users():
                team = teams.get(u.team_id, "-") if u.team_id is not None else "-"
                state = "active" if u.active else "inactive"
                print(f"{u.id}\t{u.email}\t{u.name}\t{u.role or '-'}\t{team}\t{state}")
        elif args.action == "set-role":
            before = users.get(args.email).role
            users.set_role(args.email, args.role)
            print(f"role of {args.email.strip().lower()} changed from {before or '-'} to {args.role.strip()}")
        elif args.action == "set-password":
            users.get(args.email)
            users.set_password(args.email, _read_password(args))
            print(f"password of {args.email.strip().lower()} changed")
        else:
            users.deactivate(args.email)
            print(f"deactivated {args.email.strip().lower()}")
    finally:
        auth.db.dispose()
    return 0


def cmd_team(args: argparse.Namespace) -> int:
    """Create and list teams (a hierarchy: each team may have a parent and a manager)."""
    from engine.auth.teams import Teams
    from engine.auth.users import Users

    auth = open_auth(args)
    try:
        if args.action == "create":
            team = Teams(auth).create_team(args.name, parent=args.parent, manager=args.manager)
            print(f"created team {team.name} (id {team.id})")
        else:
            teams = Teams(auth).list_teams()
            names = {t.id: t.name for t in teams}
            emails = {u.id: u.email for u in Users(auth).list_users()}
            for t in teams:
                parent = names.get(t.parent_id, "-") if t.parent_id is not None else "-"
                manager = emails.get(t.manager_id, "-") if t.manager_id is not None else "-"
                print(f"{t.id}\t{t.name}\tparent {parent}\tmanager {manager}")
    finally:
        auth.db.dispose()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Create (shown once), list and revoke API tokens."""
    from datetime import timedelta

    from engine.auth.tokens import Tokens
    from engine.auth.users import Users

    auth = open_auth(args)
    tokens = Tokens(auth)
    try:
        if args.action == "create":
            user = Users(auth).get(args.user)
            expires = None if args.expires_days is None else timedelta(days=args.expires_days)
            token_id, secret = tokens.create_token(user.id, args.name, expires_in=expires)
            until = f", expires in {args.expires_days} days" if args.expires_days is not None else ""
            print(f"token {token_id} '{args.name}' for {user.email}{until}; it is shown only now:")
            print(secret)
        elif args.action == "revoke":
            tokens.revoke(args.id)
            print(f"revoked token {args.id}")
        else:
            user_id = None if args.user is None else Users(auth).get(args.user).id
            now = auth.now()
            for t in tokens.list_tokens(user_id):
                used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never used"
                until = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "no expiry"
                print(f"{t.id}\t{t.prefix}...\t{t.email}\t{t.name}\t{t.state(now)}\t{until}\t{used}")
    finally:
        auth.db.dispose()
    return 0


def add_people_commands(add: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    """The `user`, `team` and `token` commands and their actions."""

    def action(actions: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=help_text)
        add_db_option(p)  # on each action: a parent's option would be reset
        return p

    role_help = "a role id of the blueprint applied to the database, e.g. sales_rep"
    stdin_help = "read the password from the first line of stdin"
    p = add("user", cmd_user, "Manage users: create, list, set-role, set-password, deactivate.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = action(actions, "create", "Create a user with a role (and a team); the password comes from stdin or a prompt.")
    q.add_argument("--email", required=True)
    q.add_argument("--name", required=True)
    q.add_argument("--role", required=True, help=role_help)
    q.add_argument("--team", default=None, help="the name of an existing team")
    q.add_argument("--password-stdin", action="store_true", help=stdin_help)
    action(actions, "list", "List users: id, e-mail, name, role, team, active.")
    q = action(actions, "set-role", "Change a user's role.")
    q.add_argument("--email", required=True)
    q.add_argument("--role", required=True, help=role_help)
    q = action(actions, "set-password", "Reset a user's password (an admin's reset).")
    q.add_argument("--email", required=True)
    q.add_argument("--password-stdin", action="store_true", help=stdin_help)
    q = action(actions, "deactivate", "Deactivate a user: no more logins nor token use.")
    q.add_argument("--email", required=True)

    p = add("team", cmd_team, "Manage teams: create, list.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = action(actions, "create", "Create a team, optionally below a parent team and with a manager.")
    q.add_argument("name")
    q.add_argument("--parent", default=None, help="the name of the team above this one")
    q.add_argument("--manager", default=None, help="the e-mail of the team's manager")
    action(actions, "list", "List teams with their parent and manager.")

    p = add("token", cmd_token, "Manage API tokens: create (printed once, on the last line), list, revoke.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = action(actions, "create", "Create an API token for a user; the token is printed on the last line, once.")
    q.add_argument("--user", required=True, help="the user's e-mail")
    q.add_argument("--name", default="api", help="a label for the token (default api)")
    q.add_argument("--expires-days", type=int, default=None, help="days until the token expires (default never)")
    q = action(actions, "revoke", "Revoke a token by id.")
    q.add_argument("id", type=int)
    q = action(actions, "list", "List tokens (never the secrets): id, prefix, user, name, state, expiry, last use.")
    q.add_argument("--user", default=None, help="only this user's tokens (an e-mail)")
