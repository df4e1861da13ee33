"""How a cold compile shares its views among processes (fsql.compile.parallel.claimed):
each view goes to exactly one process, whichever is free, with real processes racing."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsql.compile import parallel
from fsql.compile.parallel import claimed

SPAWN = multiprocessing.get_context("spawn")


_barrier: Any = None  # a worker's: every claimant starts claiming at once


def _start(counter: Any, barrier: Any) -> None:
    """A worker's start, as `prefill` starts one, plus the barrier."""
    global _barrier
    parallel._receive_counter(counter)
    _barrier = barrier


def _claim_all(names: list[str], slow_after: int, barrier: Any = None) -> list[str]:
    """A claimant: claims until nothing is left, each view taking a moment, and ten
    times as long after `slow_after` claims (a process that falls behind must leave the
    rest to the others)."""
    import time

    (barrier or _barrier).wait(timeout=60)
    got = []
    for name in claimed(names):
        got.append(name)
        time.sleep(0.005 if len(got) > slow_after else 0.0005)
    return got


def test_without_a_shared_counter_a_process_takes_every_view() -> None:
    assert list(claimed(["a", "b", "c"])) == ["a", "b", "c"]


@settings(max_examples=40, deadline=None)
@given(count=st.integers(min_value=0, max_value=60), takes=st.lists(st.booleans(), max_size=60))
def test_interleaved_claims_take_each_view_once_in_order(count: int, takes: list[bool]) -> None:
    """Two claimants on one counter, taking turns in any order."""
    names = [f"v{i:03d}" for i in range(count)]
    counter = SPAWN.Value("q", 0)
    parallel._counter = counter
    try:
        first, second = claimed(names), claimed(names)
        got: list[list[str]] = [[], []]
        for turn in [*takes, *([False] * count), *([True] * count)]:
            for name in first if turn else second:
                got[0 if turn else 1].append(name)
                break
    finally:
        parallel._counter = None
    assert sorted(got[0] + got[1]) == names
    assert got[0] == sorted(got[0]) and got[1] == sorted(got[1])


@pytest.mark.parametrize("processes", [2, 3])
def test_racing_processes_take_each_view_exactly_once(processes: int) -> None:
    """Worker processes started as `prefill` starts them, and this process, claim from
    one counter at once; one worker slows down after a few views."""
    from concurrent.futures import ProcessPoolExecutor

    names = [f"v{i:04d}" for i in range(600 * processes)]
    counter = SPAWN.Value("q", 0)
    barrier = SPAWN.Barrier(processes)
    with ProcessPoolExecutor(
        max_workers=processes - 1, mp_context=SPAWN, initializer=_start, initargs=(counter, barrier)
    ) as pool:
        running = [
            pool.submit(_claim_all, names, 5 if i == 0 else len(names))
            for i in range(processes - 1)
        ]
        parallel._counter = counter
        try:
            mine = _claim_all(names, len(names), barrier)
        finally:
            parallel._counter = None
        theirs: list[list[str]] = [future.result() for future in running]
    everything = [*mine, *(n for got in theirs for n in got)]
    assert sorted(everything) == names  # each view once: none lost, none twice
    assert all(got == sorted(got) for got in [mine, *theirs])
    assert len(mine) > len(names) // processes  # took over what the slow one left
    assert 5 <= len(theirs[0]) < len(names) // (2 * processes)
    assert all(theirs[1:])


def _take_the_lock_and_die(counter: Any) -> None:
    counter.get_lock().acquire()
    import os

    os._exit(9)


def test_a_process_that_died_holding_the_lock_stops_nobody_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker killed between taking and releasing the counter's lock: the others stop
    claiming after CLAIM_TIMEOUT (what is left goes to the command's own parse) instead
    of waiting forever."""
    counter = SPAWN.Value("q", 0)
    dying = SPAWN.Process(target=_take_the_lock_and_die, args=(counter,))
    dying.start()
    dying.join(timeout=60)
    assert dying.exitcode == 9
    monkeypatch.setattr(parallel, "CLAIM_TIMEOUT", 0.2)
    monkeypatch.setattr(parallel, "_counter", counter)
    got: list[str] = []
    # In a thread, so that waiting forever fails the test instead of hanging the suite.
    waiting = threading.Thread(target=lambda: got.extend(claimed(["a", "b"])), daemon=True)
    waiting.start()
    waiting.join(timeout=30)
    assert not waiting.is_alive(), "claimed() waits for a lock that a dead process holds"
    assert got == []
    assert counter.get_obj().value == 0  # read without the lock, which stays taken
