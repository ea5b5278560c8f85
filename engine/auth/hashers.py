"""A bounded pool for password hashing: argon2id costs 64 MiB and a CPU core for a fifth of a second.

Without a bound, 30 logins at once took a server to 2 GB and stalled every other request. Each
process runs at most `size` hashes at once; at most `waiting` more callers wait for a turn, each for
at most `wait` seconds. Anyone beyond is refused at once with `HashingBusy` (the web answers 503
with `Retry-After`), so a flood of logins costs bounded memory, threads and time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from engine.auth.errors import HashingBusy
from engine.errors import LoomworkError

P = ParamSpec("P")
T = TypeVar("T")

#: The environment variable that sets the pool's size for `loomwork serve` and its workers.
SIZE_VARIABLE = "LOOMWORK_PASSWORD_HASHERS"


def default_size() -> int:
    """One hash per CPU core but one (a core stays free for everything else), between 1 and 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class HashingPool:
    """Runs password hashes in the calling thread, at most `size` at once (see the module's text).

    `waiting` defaults to 8 callers per slot; `retry_after` is what a refused caller is told (seconds).
    """

    def __init__(
        self, size: int | None = None, *, waiting: int | None = None, wait: float = 5.0, retry_after: int = 2
    ) -> None:
        self.size = default_size() if size is None else size
        if self.size < 1:
            raise ValueError("a hashing pool needs at least one slot")
        self.waiting = 8 * self.size if waiting is None else waiting
        self.wait = wait
        self.retry_after = retry_after
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._queued = 0

    @classmethod
    def from_environment(cls) -> HashingPool:
        """A pool sized by `LOOMWORK_PASSWORD_HASHERS` when it is set, else by the CPU count."""
        raw = os.environ.get(SIZE_VARIABLE, "").strip()
        if raw and not (raw.isdigit() and int(raw) >= 1):
            raise LoomworkError(
                f"{SIZE_VARIABLE} must be a whole number of at least 1, not {raw!r}", code="config.invalid"
            )
        return cls(int(raw) if raw else None)

    @property
    def in_use(self) -> int:
        """Callers hashing or waiting for a slot right now."""
        with self._lock:
            return self._queued

    def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`func(*args, **kwargs)` once a slot is free; raises `HashingBusy` when none frees in time."""
        with self._lock:
            if self._queued >= self.size + self.waiting:
                raise HashingBusy(self.retry_after)
            self._queued += 1
        try:
            if not self._slots.acquire(timeout=self.wait):
                raise HashingBusy(self.retry_after)
            try:
                return func(*args, **kwargs)
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._queued -= 1
