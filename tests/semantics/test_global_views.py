"""Views with `entities: []` (SPEC §2): one row per time, joined to every entity row by
time alone, equal to the brute-force oracle on every engine, beside a keyed view and as a
windowed aggregation; online, every entity row reads the same latest row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from tests.support.engine_runners import Engine
from tests.support.oracle import assert_rows_equal, pit_oracle
from tests.support.project_factory import ViewSpec, oracle_view
from tests.support.window_oracle import WindowAgg, window_oracle

BASE = datetime(2024, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ENTITIES = {"user": ["user_id"]}

STATS = [  # the platform's counters: one row per time, two versions at minute 2
    {"event_timestamp": BASE, "created_timestamp": BASE, "active": 10},
    {"event_timestamp": BASE + 2 * MINUTE, "created_timestamp": BASE + 2 * MINUTE, "active": 12},
    {"event_timestamp": BASE + 2 * MINUTE, "created_timestamp": BASE + 3 * MINUTE, "active": 13},
    {"event_timestamp": BASE + 5 * MINUTE, "created_timestamp": BASE + 5 * MINUTE, "active": None},
]
PROFILE = [
    {"user_id": 1, "event_timestamp": BASE, "tier": "new"},
    {"user_id": 2, "event_timestamp": BASE + MINUTE, "tier": "gold"},
]
ENTITY_ROWS = [
    {"user_id": 1, "event_timestamp": BASE - MINUTE, "label": 0},  # before any row
    {"user_id": 2, "event_timestamp": BASE, "label": 1},  # exactly at a row
    {"user_id": 1, "event_timestamp": BASE + 2 * MINUTE, "label": 2},  # two versions
    {"user_id": None, "event_timestamp": BASE + 3 * MINUTE, "label": 3},  # no key at all
    {"user_id": 3, "event_timestamp": BASE + 6 * MINUTE, "label": 4},  # a NULL value
]


def _stats(**extra: Any) -> ViewSpec:
    return ViewSpec(
        name="platform",
        entities=[],
        features=[("active", "int64")],
        rows=STATS,
        created_col="created_timestamp",
        **extra,
    )


def _profile() -> ViewSpec:
    return ViewSpec(
        name="profile",
        entities=["user"],
        features=[("tier", "string")],
        rows=PROFILE,
        key_types={"user_id": "int64"},
    )


def _entities() -> pd.DataFrame:
    frame = pd.DataFrame(ENTITY_ROWS)
    frame["user_id"] = frame["user_id"].astype("Int64")  # a NULL key, not a float column
    return frame


def test_a_global_view_joins_by_time_alone(engine: Engine, tmp_path: Path) -> None:
    stats, profile = _stats(), _profile()
    expected = pit_oracle(
        ENTITY_ROWS,
        [oracle_view(stats, ENTITIES), oracle_view(profile, ENTITIES)],
        [("platform", "active"), ("profile", "tier")],
    )
    # Every entity row sees the platform row of its time, whatever its user (none too).
    assert [row["active"] for row in expected] == [None, 10, 13, 13, None]
    root = engine.make_project(tmp_path, [stats, profile], ENTITIES)
    got = engine.historical(root, _entities(), ["platform:active", "profile:tier"])
    assert list(got.columns) == ["user_id", "event_timestamp", "label", "active", "tier"]
    assert_rows_equal(got.to_dict(orient="records"), expected)


def test_a_global_windowed_view_counts_every_row(engine: Engine, tmp_path: Path) -> None:
    spec = _stats(aggregations=[{"function": "count", "windows": ["3m"]}])
    expected = window_oracle(
        ENTITY_ROWS,
        STATS,
        [],
        [WindowAgg("count_3m", "count", None, 3 * MINUTE)],
        created_col="created_timestamp",
    )
    root = engine.make_project(tmp_path, [spec], ENTITIES)
    got = engine.historical(root, _entities(), ["platform:count_3m"])
    assert_rows_equal(got.to_dict(orient="records"), expected)
