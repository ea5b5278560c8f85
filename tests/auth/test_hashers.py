"""The bounded password-hashing pool: at most `size` at once, a bounded queue, a bounded wait."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.auth.errors import HashingBusy
from engine.auth.hashers import SIZE_VARIABLE, HashingPool, default_size
from engine.errors import LoomworkError
from tests.auth.support import Meter


def test_at_most_size_hashes_run_at_once() -> None:
    pool, meter = HashingPool(2, wait=10), Meter()

    def slow() -> int:
        with meter.measure():
            time.sleep(0.05)
        return 1

    with ThreadPoolExecutor(10) as threads:
        results = list(threads.map(lambda _: pool.run(slow), range(10)))
    assert (sum(results), meter.calls, meter.peak) == (10, 10, 2)


def test_callers_beyond_the_queue_are_refused_at_once() -> None:
    pool = HashingPool(1, waiting=2, wait=10, retry_after=4)
    release = threading.Event()
    with ThreadPoolExecutor(3) as threads:
        held = [threads.submit(pool.run, release.wait, 10) for _ in range(3)]  # one runs, two wait
        while pool.in_use < 3:
            time.sleep(0.005)
        began = time.monotonic()
        with pytest.raises(HashingBusy) as caught:
            pool.run(lambda: None)
        assert time.monotonic() - began < 1 and caught.value.retry_after == 4  # not after `wait` (10 s)
        release.set()
        assert [f.result(timeout=5) for f in held] == [True, True, True]
    assert pool.in_use == 0


def test_a_caller_waits_at_most_wait_seconds() -> None:
    pool = HashingPool(1, waiting=5, wait=0.1)
    release = threading.Event()
    holder = threading.Thread(target=pool.run, args=(release.wait, 5))
    holder.start()
    try:
        began = time.monotonic()
        with pytest.raises(HashingBusy, match="too many sign-ins at once; try again in 2 seconds"):
            pool.run(lambda: None)
        assert 0.1 <= time.monotonic() - began < 1
    finally:
        release.set()
        holder.join()
    assert pool.run(lambda: "free again") == "free again"


def test_a_failing_hash_gives_its_slot_back() -> None:
    pool = HashingPool(1, waiting=0, wait=0)

    def broken() -> None:
        raise RuntimeError("argon2 failed")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            pool.run(broken)
    assert pool.run(lambda: 7) == 7


def test_the_size_comes_from_the_environment_or_the_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_size() == 1
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert default_size() == 4
    monkeypatch.delenv(SIZE_VARIABLE, raising=False)
    assert HashingPool.from_environment().size == 4
    monkeypatch.setenv(SIZE_VARIABLE, "3")
    pool = HashingPool.from_environment()
    assert (pool.size, pool.waiting) == (3, 24)
    monkeypatch.setenv(SIZE_VARIABLE, "three")
    with pytest.raises(LoomworkError, match="LOOMWORK_PASSWORD_HASHERS must be a whole number of at least 1"):
        HashingPool.from_environment()
    with pytest.raises(ValueError, match="at least one slot"):
        HashingPool(0)
