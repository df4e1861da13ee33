"""Online/offline consistency (SPEC §2 "Online store", §4).

After `FeatureStore.materialize(start, end)`, an online read at time `now` must equal the
training-set row the point-in-time rule gives for `now` over the materialized data: newest
row per key, ties by created timestamp, NULLs kept, and the view's TTL applied at read time.
Reads use the wall clock, so the data sits at hours and days relative to `now`, far from every
boundary, and the oracle is evaluated at the moment of the read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.oracle import (
    OracleView,
    assert_columns_equal,
    online_oracle,
    to_utc,
)
from tests.support.project_factory import ViewSpec, make_project, oracle_view

H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)
USER = {"user": ["user_id"]}
STATS_FEATURES = [("count", "int64"), ("score", "float64"), ("name", "string"), ("active", "bool")]

Row = dict[str, Any]


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def stat(
    user: int,
    at: datetime,
    count: int | None,
    score: float | None = None,
    name: str | None = None,
    active: bool | None = None,
    created: datetime | None = None,
) -> Row:
    return {
        "user_id": user,
        "event_timestamp": at,
        "created_timestamp": created or at,
        "count": count,
        "score": score,
        "name": name,
        "active": active,
    }


def stats_view(rows: list[Row], *, ttl: str | None = "7d") -> ViewSpec:
    return ViewSpec(
        name="user_stats",
        entities=["user"],
        features=STATS_FEATURES,
        rows=rows,
        ttl=ttl,
        created_col="created_timestamp",
        online=True,
        key_types={"user_id": "int64"},
    )


def in_range(view: OracleView, start: datetime, end: datetime) -> OracleView:
    """The view restricted to the rows a materialization over [start, end] can see."""
    rows = [r for r in view.rows if start <= to_utc(r[view.timestamp_col]) <= end]
    return OracleView(
        view.name,
        view.join_keys,
        rows,
        view.ttl,
        view.created_col,
        view.timestamp_col,
        view.features,
    )


def read_online(store: Any, features: list[str], entity_rows: list[Row]) -> tuple[dict, datetime]:
    got = store.get_online_features(features=features, entity_rows=entity_rows).to_dict()
    return got, datetime.now(UTC)


def check(
    got: dict[str, Sequence[Any]],
    read_at: datetime,
    views: list[OracleView],
    features: list[str],
    entity_rows: list[Row],
    expected: dict[str, list[Any]],
) -> None:
    requested = [(ref.split(":")[0], ref.split(":")[1]) for ref in features]
    oracle = online_oracle(entity_rows, views, requested, read_at)
    assert_columns_equal(oracle, expected)  # the hand-written answer agrees with SPEC §2
    assert_columns_equal(dict(got), expected)


def open_store(root: Path) -> Any:
    from fsql import FeatureStore

    return FeatureStore(project_dir=root)


FEATURES = ["user_stats:count", "user_stats:score", "user_stats:name", "user_stats:active"]


def test_online_read_equals_training_row_at_read_time(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    now = now_utc()
    rows = [
        stat(1, now - 10 * D, 1, 0.1, "ten days", False),
        stat(1, now - 2 * D, 2, 0.2, "two days", False),
        stat(1, now - H, 3, 0.3, "an hour", True),
        stat(2, now - 10 * D, 20, 2.0, "too old", True),  # beyond the 7d TTL
        stat(3, now - 5 * D, 30, 3.0, "five days", True),
        stat(3, now - 2 * D, 31, None, None, None),  # NULLs in the newest row stay NULL
        stat(4, now - H, 40, created=now - H + M),
        stat(4, now - H, 41, created=now - H + 5 * M),  # tie on event time: greatest created
        stat(4, now - H, 42, created=now - H + 2 * M),
        stat(5, now + H, 50, 5.0, "future", True),  # after the materialization end
        stat(6, now - 2 * D, 60, 6.0, "kept", False),
        stat(6, now + H, 61, 6.1, "future", True),
    ]
    spec = stats_view(rows)
    root = make_project(tmp_path, [spec], USER, online_store=online_store_config)
    store = open_store(root)
    start, end = now - 30 * D, now
    store.materialize(start, end)

    entity_rows = [{"user_id": u} for u in (1, 2, 3, 4, 5, 6, 99)]
    got, read_at = read_online(store, FEATURES, entity_rows)
    expected = {
        "user_id": [1, 2, 3, 4, 5, 6, 99],
        "count": [3, None, 31, 41, None, 60, None],
        "score": [0.3, None, None, None, None, 6.0, None],
        "name": ["an hour", None, None, None, None, "kept", None],
        "active": [True, None, None, None, None, False, None],
    }
    check(
        got,
        read_at,
        [in_range(oracle_view(spec, USER), start, end)],
        FEATURES,
        entity_rows,
        expected,
    )
    # With nothing after `end` but future rows, this is also the answer over all the data.
    check(got, read_at, [oracle_view(spec, USER)], FEATURES, entity_rows, expected)


def test_read_applies_ttl_at_read_time(tmp_path: Path, online_store_config: dict | None) -> None:
    """Rows fresh at the materialization end but older than now - TTL read as NULL."""
    now = now_utc()
    rows = [
        stat(1, now - 8 * D, 1, 1.0, "stale by now", True),
        stat(2, now - 6 * D, 2, 2.0, "still fresh", True),
        stat(3, now - 8 * D, 3, 3.0, "stale", True),
        stat(3, now - 3 * D, 33, 3.3, "not materialized", True),  # after `end`
    ]
    spec = stats_view(rows)
    root = make_project(tmp_path, [spec], USER, online_store=online_store_config)
    store = open_store(root)
    start, end = now - 30 * D, now - 5 * D
    store.materialize(start, end)

    entity_rows = [{"user_id": u} for u in (1, 2, 3)]
    got, read_at = read_online(store, FEATURES, entity_rows)
    expected = {
        "user_id": [1, 2, 3],
        "count": [None, 2, None],
        "score": [None, 2.0, None],
        "name": [None, "still fresh", None],
        "active": [None, True, None],
    }
    check(
        got,
        read_at,
        [in_range(oracle_view(spec, USER), start, end)],
        FEATURES,
        entity_rows,
        expected,
    )


@pytest.mark.parametrize("order", ["newer_then_older", "older_then_newer"])
def test_materializations_never_go_back_in_time(
    tmp_path: Path, online_store_config: dict | None, order: str
) -> None:
    now = now_utc()
    rows = [
        stat(1, now - 2 * D, 1, 1.0, "two days", False),
        stat(1, now - H, 2, 2.0, "an hour", True),
        stat(2, now - 3 * D, 20, None, "only old", None),
    ]
    spec = stats_view(rows)
    root = make_project(tmp_path, [spec], USER, online_store=online_store_config)
    store = open_store(root)
    full, partial = (now - 30 * D, now), (now - 30 * D, now - D)
    for start, end in [full, partial] if order == "newer_then_older" else [partial, full]:
        store.materialize(start, end)

    entity_rows = [{"user_id": 1}, {"user_id": 2}]
    got, read_at = read_online(store, FEATURES, entity_rows)
    expected = {
        "user_id": [1, 2],
        "count": [2, 20],
        "score": [2.0, None],
        "name": ["an hour", "only old"],
        "active": [True, None],
    }
    check(got, read_at, [oracle_view(spec, USER)], FEATURES, entity_rows, expected)


def test_composite_keys_and_two_views(tmp_path: Path, online_store_config: dict | None) -> None:
    now = now_utc()
    entities = {"user": ["user_id"], "item": ["item_id"]}
    ui = ViewSpec(
        name="user_item",
        entities=["user", "item"],
        features=[("clicks", "int64")],
        rows=[
            {"user_id": 1, "item_id": "a", "event_timestamp": now - 3 * H, "clicks": 1},
            {"user_id": 1, "item_id": "a", "event_timestamp": now - H, "clicks": 2},
            {"user_id": 1, "item_id": "b", "event_timestamp": now - 2 * H, "clicks": 3},
            {"user_id": 2, "item_id": "a", "event_timestamp": now - 2 * D, "clicks": 4},
        ],
        ttl="1d",
        online=True,
        key_types={"user_id": "int64", "item_id": "string"},
    )
    age = ViewSpec(
        name="user_age",
        entities=["user"],
        features=[("age", "int64")],
        rows=[
            {"user_id": 1, "event_timestamp": now - 100 * D, "age": 30},
            {"user_id": 2, "event_timestamp": now - 100 * D, "age": 40},
        ],
        online=True,  # no TTL: a 100-day-old value is still served
        key_types={"user_id": "int64"},
    )
    root = make_project(tmp_path, [ui, age], entities, online_store=online_store_config)
    store = open_store(root)
    start, end = now - 365 * D, now
    store.materialize(start, end)

    features = ["user_item:clicks", "user_age:age"]
    entity_rows = [
        {"user_id": 1, "item_id": "a"},
        {"user_id": 1, "item_id": "b"},
        {"user_id": 2, "item_id": "a"},
        {"user_id": 2, "item_id": "b"},
        {"user_id": 3, "item_id": "a"},
    ]
    got, read_at = read_online(store, features, entity_rows)
    expected = {
        "user_id": [1, 1, 2, 2, 3],
        "item_id": ["a", "b", "a", "b", "a"],
        "clicks": [2, 3, None, None, None],
        "age": [30, 30, 40, 40, None],
    }
    views = [oracle_view(ui, entities), oracle_view(age, entities)]
    check(got, read_at, views, features, entity_rows, expected)


def test_visible_at_created_materializes_only_rows_arrived_by_end(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    """`visible_at: created_timestamp`: the online value at END is the training-set value
    at END, so a row created after END (late, or a restatement) is in neither."""
    import pandas as pd

    now = now_utc()
    rows = [
        stat(1, now - 2 * D, 1, created=now - 2 * D),
        stat(1, now - D, 2, created=now + H),  # back-dated, arrives after END
        stat(2, now - H, 20, created=now - H + M),
        stat(2, now - H, 21, created=now + 2 * H),  # a restatement, after END
        stat(3, now - D, 30, created=now + H),  # nothing had arrived for user 3
    ]
    spec = stats_view(rows)
    spec.extra_yaml = {"visible_at": "created_timestamp"}
    root = make_project(tmp_path, [spec], USER, online_store=online_store_config)
    store = open_store(root)
    store.materialize(now - 30 * D, now)
    entity_rows = [{"user_id": u} for u in (1, 2, 3)]
    got = store.get_online_features(features=["user_stats:count"], entity_rows=entity_rows)
    assert got.to_dict()["count"] == [1, 20, None]
    labels = pd.DataFrame({"user_id": [1, 2, 3], "event_timestamp": [now] * 3})
    training = store.get_historical_features(labels, features=["user_stats:count"]).to_df()
    assert [None if pd.isna(v) else int(v) for v in training["count"]] == [1, 20, None]
    # Without the option, the late rows win offline: the option is what leaves them out.
    spec.extra_yaml = {}
    plain = make_project(tmp_path / "plain", [spec], USER, online_store=online_store_config)
    late = open_store(plain).get_historical_features(labels, features=["user_stats:count"])
    assert late.to_df()["count"].tolist() == [2, 21, 30]
