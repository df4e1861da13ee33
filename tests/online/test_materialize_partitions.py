"""Materialization in key-hash partitions (`FeatureStore(partition_keys=...)`): whatever the
partition size, the online store ends up with the same values and event times as one
partition gives, on SQLite and Redis, for composite keys, NULL keys, ties on event time
and rows outside the window (hypothesis draws the rows)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsql import FeatureStore
from tests.support.project_factory import ViewSpec, make_project

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KEYS = [(u, r) for u in range(6) for r in ("eu", "us")]

row = st.fixed_dictionaries(
    {
        "user_id": st.one_of(st.none(), st.integers(0, 5)),
        "region": st.sampled_from(["eu", "us"]),
        "event_timestamp": st.integers(0, 40).map(lambda h: NOW - timedelta(hours=h)),
        "created": st.integers(0, 3).map(lambda h: NOW - timedelta(hours=h)),
        "spend": st.one_of(st.none(), st.integers(-50, 50).map(float)),
    }
)


def _project(root: Path, rows: list[dict[str, Any]], online: dict[str, Any] | None) -> Path:
    view = ViewSpec(
        "spend",
        ["user", "region"],
        [("spend", "float64")],
        rows,
        ttl="1d",
        created_col="created",
        online=True,
        key_types={"user_id": "int64", "region": "string"},
    )
    entities = {"user": ["user_id"], "region": ["region"]}
    return make_project(root, [view], entities, online_store=online)


def _served(root: Path, partition_keys: int, said: list[str]) -> dict[str, list[Any]]:
    with FeatureStore(root, partition_keys=partition_keys, progress=said.append) as store:
        store.build(["spend"])
        store.materialize(None, NOW, progress=said.append)
        rows = [{"user_id": u, "region": r} for u, r in KEYS]
        got = store.get_online_features(["spend:spend"], rows, now=NOW, statuses=True)
        assert got.statuses is not None
        return {
            "spend": got.to_dict()["spend"],
            "status": got.statuses.status["spend"],
            "event_us": got.statuses.event_us["spend"],
        }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(row, min_size=1, max_size=30), size=st.integers(1, 3))
def test_any_partition_size_gives_the_store_one_partition_gives(
    tmp_path: Path, online_store_config: dict | None, rows: list[dict[str, Any]], size: int
) -> None:
    results = []
    said: list[str] = []
    for budget in (1_000_000, size):
        online = online_store_config
        if online is not None:  # each store of its own, under the test's prefix
            online = {**online, "key_prefix": f"{online['key_prefix']}{uuid.uuid4().hex[:8]}:"}
        root = _project(tmp_path / uuid.uuid4().hex, rows, online)
        results.append(_served(root, budget, said))
    whole, parted = results
    assert parted == whole
    # Without START, a view with a TTL is read from END - TTL on (the window's keys).
    window = NOW - timedelta(days=1)
    keys = {
        (r["user_id"], r["region"])
        for r in rows
        if r["user_id"] is not None and r["event_timestamp"] >= window
    }
    if len(keys) > size:  # more keys than one partition holds: it was partitioned
        assert any("key-hash partitions" in line for line in said), said
