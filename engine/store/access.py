"""Who is acting, as the store needs to know it: the protocol every record path takes.

The store sits below the auth room, so it does not know roles; it asks an `Access` (built by
`engine.auth.access` from the blueprint's roles and the user) four questions and applies the
answers itself on every path — list, get, create, update, delete, restore, history, aggregates,
files and reference checks:

- `may(object, action)`: is the action granted on the object at all (else `Forbidden`);
- `rows(object, action, table)`: a WHERE condition selecting the rows the action reaches
  (None: every row); a record outside it is `NotFound`, so its existence does not leak;
  `table` may be an alias (expressions read related records through aliases). Besides the four
  record actions, `ASSIGN` asks for the rows whose owner and shares the user may change;
- `hidden(object)`: fields never shown, filtered, sorted or grouped by;
- `locked(object)`: fields that may not be written (hidden or read-only).

It also names the user's attributes (`attribute(name)`: `user.id`, `user.region`, ...) for the
conditions and computed defaults a write evaluates.

`access=None` means the system itself (CLI, fixtures, migrations): everything is allowed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table
from sqlalchemy.sql import FromClause

from engine.errors import Forbidden

#: The record actions of a role permission.
READ, CREATE, UPDATE, DELETE = "read", "create", "update", "delete"
#: Changing a record's owner or who it is shared with: the update scope of the user's role(s)
#: without the records merely shared with them (a share lends a record, it never gives it away).
ASSIGN = "assign"


class Access(Protocol):
    """The acting user's permissions (see the module docstring)."""

    @property
    def actor_id(self) -> int | None: ...

    @property
    def key(self) -> Hashable:
        """Equal keys mean equal field masks (the role set); compiled filters are cached per key."""
        ...

    def may(self, object_name: str, action: str) -> bool: ...

    def rows(self, object_name: str, action: str, table: FromClause) -> ColumnElement[bool] | None: ...

    def alternatives(self, object_name: str, action: str, table: Table) -> list[ColumnElement[bool]] | None:
        """`rows` split into conditions whose OR it is, each servable by an index alone (a list
        reads each in order and merges them); None when not worth it."""
        ...

    def hidden(self, object_name: str) -> frozenset[str]: ...

    def locked(self, object_name: str) -> frozenset[str]: ...

    def attribute(self, name: str) -> Any:
        """The acting user's `user.<name>` (id, team, region, email, locale); None if unknown."""
        ...


def require(access: Access | None, object_name: str, action: str) -> None:
    """Raise `Forbidden` unless `access` grants `action` on the object."""
    if access is not None and not access.may(object_name, action):
        raise Forbidden(f"you may not {action} {object_name} records")


def actor(access: Access | None, given: int | None) -> int | None:
    """The user a change is recorded against: the access's user, else the one passed explicitly."""
    return access.actor_id if access is not None else given


def masked(record: Mapping[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """`record` without the hidden fields (lookups by their `x_id` column as well)."""
    if not hidden:
        return dict(record)
    return {k: v for k, v in record.items() if k not in hidden and not (k.endswith("_id") and k[:-3] in hidden)}
