"""After-commit hooks: how higher rooms (workflows, webhooks, caches) learn of committed changes.

The contract, for whoever registers a hook with `store.after_commit.append(hook)`:

- A hook is `hook(store, change)`. It is called after the write's transaction has committed —
  never before, never inside it — once per `Change`: one action (`create`, `update`, `delete`,
  `restore`) on one object, with the ids of every record of that object the write touched so,
  in the order they were written. A bulk create of 10,000 records is one call with 10,000 ids;
  nothing is read for the hooks: a hook that needs the records reads them by id, in one query.
- Every committed change is told exactly once, and it is what the write recorded in the history
  table: the record itself, its lines (added, changed or removed inline: `create`, `update`,
  `delete` of the line object, and an `update` of the parent even when only lines changed), the
  records deleted or restored with it (cascades; lines go and come back as part of their parent)
  and those whose reference to it was cleared or put back (`set_null`), and a parent whose
  formulas over its lines changed when a line was written on its own. An update of a record the
  same write created, deleted or restored is part of that action. A refused write, or one that
  changed nothing, tells nothing.
- A hook that raises is logged (logger `loomwork.store`, with the change) and the other hooks
  still run: the write is committed and stays a success for its caller. A hook that must not miss
  a change retries on its own: the history table holds every change in commit order, so its
  owner can resume from the last history row it handled. Whatever must happen with the write
  itself (outbox rows, timers) belongs inside the transaction (a before-save hook), not here.
- Hooks run in the writer's thread once its connection is released; keep them quick (hand work
  to a queue). A hook may write through the store; its own changes are told in turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:
    from engine.store.records import Store

log = logging.getLogger("loomwork.store")
#: Where a write transaction keeps its journal: the connection's `info`, for exactly as long as
#: the transaction (the history writer finds it there without every caller passing it along).
_JOURNAL = "lw_journal"


@dataclass(frozen=True)
class Change:
    """One committed action on records of one object."""

    action: str  # create | update | delete | restore
    object: str
    ids: tuple[int, ...]
    actor: int | None
    at: datetime


#: Called after commit, once per change: (store, change).
AfterCommit = Callable[["Store", Change], None]


@dataclass
class Journal:
    """The changes a write transaction recorded, grouped by action and object in written order."""

    touched: dict[tuple[str, str], dict[int, None]] = field(default_factory=dict)
    actor: int | None = None
    at: datetime | None = None

    def note(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Take in history rows as they are written."""
        for row in rows:
            self.touched.setdefault((row["action"], row["object"]), {})[int(row["record_id"])] = None
            if self.at is None:
                self.actor, self.at = row["actor_id"], row["at"]

    def changes(self) -> list[Change]:
        """One change per action and object; updates of records this write created, deleted or
        restored are part of that action."""
        whole: dict[str, set[int]] = {}
        for (action, obj), ids in self.touched.items():
            if action != "update":
                whole.setdefault(obj, set()).update(ids)
        out = []
        for (action, obj), ids in self.touched.items():
            kept = tuple(i for i in ids if action != "update" or i not in whole.get(obj, ()))
            if kept and self.at is not None:
                out.append(Change(action, obj, kept, self.actor, self.at))
        return out


def note(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Called by the history writer: journal `rows` if the transaction keeps a journal."""
    journal = conn.info.get(_JOURNAL)
    if journal is not None:
        journal.note(rows)


@contextmanager
def transaction(store: Store) -> Iterator[Connection]:
    """A write transaction of the store; once it has committed, its changes go to the hooks."""
    journal = Journal()
    with store.db.write() as conn:
        conn.info[_JOURNAL] = journal
        try:
            yield conn
        finally:
            conn.info.pop(_JOURNAL, None)
    tell(store, journal.changes())


def tell(store: Store, changes: Sequence[Change]) -> None:
    """Run every hook on every change; a failing hook is logged and never fails the write."""
    for change in changes:
        for hook in store.after_commit:
            try:
                hook(store, change)
            except Exception:  # the write is committed: its caller must not see a failure
                log.exception("after-commit hook %r failed on %s", getattr(hook, "__name__", hook), change)
