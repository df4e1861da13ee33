"""The per-key pruning of feature rows that makes the point-in-time join fast.

Before the ASOF join, each view's rows are cut to `[min(ts) - TTL, max(ts)]` of the entity
rows asking for the same key. These cases sit on the edges of that cut: keys asked at
times far apart, keys asked once, windows that differ per key, and entity rows whose key
no feature row has; the answer must be SPEC §2's whatever the cut. Part of the conformance
suite: each case runs on every engine (tests/semantics/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.engine_runners import Engine
from tests.support.pit_cases import T0, USER, D, H, S, expect, run_case, simple_view


def test_key_asked_at_distant_times_keeps_both_windows(tmp_path: Path, engine: Engine) -> None:
    rows = [
        {"user_id": 1, "event_timestamp": T0 - 60 * D, "x": 1},
        {"user_id": 1, "event_timestamp": T0 - 30 * D, "x": 2},  # between the two windows
        {"user_id": 1, "event_timestamp": T0 - H, "x": 3},
        {"user_id": 2, "event_timestamp": T0 - 59 * D, "x": 20},
    ]
    ents = [
        {"user_id": 1, "event_timestamp": T0},  # newest row, 1h old
        {"user_id": 1, "event_timestamp": T0 - 59 * D},  # 1 day after the oldest row
        {"user_id": 1, "event_timestamp": T0 - 29 * D},  # the middle row, 1 day old
        {"user_id": 2, "event_timestamp": T0},  # its only row is 59 days old: beyond TTL
        {"user_id": 2, "event_timestamp": T0 - 59 * D},  # exactly at its row
    ]
    expected = expect(ents, ["x"], [[3], [1], [2], [None], [20]])
    frame = run_case(engine, tmp_path, [simple_view(rows, ttl="7d")], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)


def test_each_key_gets_its_own_window(tmp_path: Path, engine: Engine) -> None:
    # Key 1 is asked only early, key 2 only late: a global [min, max] cut would keep
    # everything; a per-key cut must still keep each key's own candidates at its edges.
    rows = [
        {"user_id": 1, "event_timestamp": T0 - 100 * D - 7 * D, "x": 10},  # exactly TTL old
        {"user_id": 1, "event_timestamp": T0 - 100 * D + S, "x": 11},  # after its only ask
        {"user_id": 2, "event_timestamp": T0 - 7 * D - S, "x": 20},  # 1s beyond the TTL
        {"user_id": 2, "event_timestamp": T0, "x": 21},  # exactly at its ask
    ]
    ents = [
        {"user_id": 2, "event_timestamp": T0},
        {"user_id": 1, "event_timestamp": T0 - 100 * D},
        {"user_id": 3, "event_timestamp": T0},  # a key no feature row has
    ]
    expected = expect(ents, ["x"], [[21], [10], [None]])
    frame = run_case(engine, tmp_path, [simple_view(rows, ttl="7d")], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)


def test_without_ttl_only_the_upper_bound_cuts(tmp_path: Path, engine: Engine) -> None:
    rows = [
        {"user_id": 1, "event_timestamp": T0 - 3000 * D, "x": 1},  # far before any ask
        {"user_id": 1, "event_timestamp": T0 + S, "x": 2},  # after the last ask
    ]
    ents = [
        {"user_id": 1, "event_timestamp": T0},
        {"user_id": 1, "event_timestamp": T0 - 10 * D},
    ]
    expected = expect(ents, ["x"], [[1], [1]])
    frame = run_case(engine, tmp_path, [simple_view(rows)], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)
