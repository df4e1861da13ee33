"""Windowed aggregations online (SPEC §2): an online read at time t equals the training-set
value at t for every feature, window edges included, on SQLite and Redis.

The read time is controlled (`get_online_features(now=...)`): reads fall exactly on and one
microsecond around each window edge of each event, before and after the materialization
end, with and without an aggregation interval and `visible_at: created_timestamp`. Each
read is compared with the training set at the same time, and with the brute-force oracle.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from fsql import FeatureStore
from fsql.online.windowed import decode, store_batches
from fsql.project.load import load_project
from tests.support.oracle import values_equal
from tests.support.project_factory import ViewSpec, make_project, parse_ttl
from tests.support.project_files import SRC, make, view
from tests.support.window_oracle import WindowAgg, window_oracle

BASE = datetime(2024, 3, 1, 12, tzinfo=UTC)
M = timedelta(minutes=1)
US = timedelta(microseconds=1)
USER = {"user": ["user_id"]}
ITEMS: list[dict[str, Any]] = [
    {"function": "count", "windows": ["2m", "5m"]},
    {"column": "a", "function": "sum", "windows": ["2m"], "type": "int64"},
    {"column": "a", "function": "avg", "windows": ["5m"]},
    {"column": "a", "function": "min", "windows": ["2m"]},
    {"column": "a", "function": "max", "windows": ["5m"]},
    {"column": "a", "function": "stddev", "windows": ["5m"]},
    {"column": "a", "function": "last", "windows": ["2m"], "type": "int64"},
    {"column": "a", "function": "count_distinct", "windows": ["5m"]},
]
NAMES = [
    "count_2m", "count_5m", "a_sum_2m", "a_avg_5m", "a_min_2m", "a_max_5m",
    "a_stddev_5m", "a_last_2m", "a_count_distinct_5m",
]  # fmt: skip


def event(user: int, minute: float, a: int | None, created: float | None = None) -> dict:
    return {
        "user_id": user,
        "event_timestamp": BASE + minute * M,
        "created_timestamp": None if created is None else BASE + created * M,
        "a": a,
    }


EVENTS = [
    event(1, 0, 1),
    event(1, 1, 2, created=1),
    event(1, 1, None, created=3),  # a second row at minute 1, arrived at minute 3
    event(1, 2, 2),
    event(1, 4, 5, created=9),  # arrives long after its event time
    event(2, 3, 7),
    event(2, 3, 7, created=3),
]


def windowed(extra: dict[str, Any], online: bool = True) -> ViewSpec:
    return ViewSpec(
        name="w",
        entities=["user"],
        features=[("a", "int64")],
        rows=EVENTS,
        created_col="created_timestamp",
        online=online,
        key_types={"user_id": "int64"},
        aggregations=ITEMS,
        extra_yaml=extra,
    )


def read_times() -> list[datetime]:
    """On, and a microsecond around, every window edge of every event (t = e and t = e + w),
    from before the first event to past every window."""
    times = {BASE - M}
    for row in EVENTS:
        for shift in (timedelta(0), 2 * M, 5 * M):
            edge = row["event_timestamp"] + shift
            times.update({edge - US, edge, edge + US})
    return sorted(times)


ORACLE_AGGS = [
    WindowAgg(
        f"{item['column'] + '_' if item.get('column') else ''}{item['function']}_{window}",
        item["function"],
        item.get("column"),
        parse_ttl(window),  # type: ignore[arg-type]
    )
    for item in ITEMS
    for window in item["windows"]
]


def agree_at(store: FeatureStore, at: datetime, rows: list[dict], **oracle: Any) -> int:
    """Online read == training set == oracle at `at` for users 1-3 (3 has no rows unless
    pushed) and every feature; `oracle` options go to window_oracle. Returns the values
    compared."""
    features = [f"w:{name}" for name in NAMES]
    keys = [1, 2, 3]
    online = store.get_online_features(
        features=features, entity_rows=[{"user_id": k} for k in keys], now=at
    ).to_dict()
    labels = pd.DataFrame({"user_id": keys, "event_timestamp": [at] * len(keys)})
    training = store.get_historical_features(labels, features=features).to_df()
    expected = window_oracle(
        [{"user_id": k, "event_timestamp": at} for k in keys],
        rows,
        ["user_id"],
        ORACLE_AGGS,
        created_col="created_timestamp",
        **oracle,
    )
    for i, key in enumerate(keys):
        for name in NAMES:
            got, offline, want = online[name][i], training[name][i], expected[i][name]
            where = f"user {key} at {at.isoformat()} {name}"
            assert values_equal(got, want), f"{where}: online {got!r}, oracle {want!r}"
            assert values_equal(offline, want), f"{where}: training {offline!r}, oracle {want!r}"
    return len(keys) * len(NAMES)


@pytest.mark.parametrize(
    ("interval", "visible"), [(None, False), ("2m", False), (None, True)], ids=str
)
def test_online_reads_equal_training_sets_at_every_edge(
    tmp_path: Path, online_store_config: dict | None, interval: str | None, visible: bool
) -> None:
    extra: dict[str, Any] = {"aggregation_interval": interval} if interval else {}
    if visible:
        extra["visible_at"] = "created_timestamp"
    spec = windowed(extra)
    root = make_project(tmp_path, [spec], USER, online_store=online_store_config)
    with FeatureStore(root) as store:
        # END before some events: the stored rows still hold them (the offline data does).
        store.materialize(None, BASE + 3 * M)
        oracle = {"interval": parse_ttl(interval), "visible_at_created": visible}
        compared = sum(agree_at(store, at, EVENTS, **oracle) for at in read_times())
        assert compared == len(read_times()) * 3 * len(NAMES)


def test_runs_replace_and_backfills_keep_the_stored_rows(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    spec = windowed({})
    root = make_project(tmp_path, [spec], USER, online_store=online_store_config)
    at = BASE + 6 * M  # the 5m window (minute 1, minute 6]: minute 1 itself left out
    rows = [{"user_id": 1}, {"user_id": 2}]
    with FeatureStore(root) as store:
        store.materialize(None, at)
        first = store.get_online_features(features=["w:count_5m"], entity_rows=rows, now=at)
        assert first.to_dict()["count_5m"] == [2, 2]
        # A backfill to an older END writes nothing over the newer values.
        store.materialize(None, BASE - 10 * M)
        again = store.get_online_features(features=["w:count_5m"], entity_rows=rows, now=at)
        assert again.to_dict() == first.to_dict()
        # A later run rewrites each key's rows whole: read at its END, as training sees it.
        later = BASE + 7 * M
        store.materialize_incremental(later)
        late = store.get_online_features(features=["w:count_5m"], entity_rows=rows, now=later)
        labels = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [later] * 2})
        training = store.get_historical_features(labels, features=["w:count_5m"]).to_df()
        assert late.to_dict()["count_5m"] == training["count_5m"].tolist() == [1, 2]


def shifted(rows: list[dict], by: timedelta) -> list[dict]:
    """`rows` moved in time by `by` (created times too)."""
    return [
        {
            **row,
            "event_timestamp": row["event_timestamp"] + by,
            "created_timestamp": None
            if row["created_timestamp"] is None
            else row["created_timestamp"] + by,
        }
        for row in rows
    ]


def test_pushed_rows_reach_online_reads_and_training_sets(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    """A push logs the rows offline, then rewrites the pushed keys' stored rows: reads
    from then on (online reads happen now or later) equal the training set at the same
    time, window edges included. The data sits around the wall clock, as pushes do."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    by = now - 5 * M - BASE  # the table's events end a minute before `now`
    events = shifted(EVENTS, by)
    spec = windowed({})
    spec.rows = events
    root = make_project(tmp_path, [spec], USER, online_store=online_store_config)
    pushed = shifted(
        [event(1, 5, 10, created=5), event(3, 5, 4, created=5), event(1, 5.5, None)], by
    )
    with FeatureStore(root) as store:
        store.materialize(None, now - M)
        frame = pd.DataFrame(pushed).astype({"a": "Int64"})  # a NULL among integers
        assert store.push("w", frame) == 3
        pushed_at = datetime.now(UTC)
        edges = [pushed_at, now + M - US, now + M, now + 2 * M, now + 5 * M, now + 9 * M]
        for at in edges:
            assert agree_at(store, at, [*events, *pushed]) == 3 * len(NAMES)
        # user 1 at now + 2m (minute 7), 5m window (2, 7]: minute 4 of the table, 5 and 5.5
        # pushed (the row at minute 2 is on the edge, left out); the last is the NULL one
        late = store.get_online_features(
            features=["w:count_5m", "w:a_last_2m"], entity_rows=[{"user_id": 1}], now=now + 2 * M
        ).to_dict()
        assert late["count_5m"] == [3] and late["a_last_2m"] == [None]


def test_stored_rows_keep_values_json_has_no_type_for(tmp_path: Path) -> None:
    """Times, dates and bytes are kept tagged and come back as they were; a key's rows
    that span input batches are stored once, whole."""
    when = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    values = {"seen": [when, None], "day": [date(2024, 3, 1), None], "raw": [b"\x00\xff", b""]}
    sql = f"select user_id, event_timestamp, seen, day, raw from {SRC}\n"
    entries = [
        {"column": c, "function": "last", "windows": ["1d"], "type": t}
        for c, t in (("seen", "timestamp"), ("day", "date"), ("raw", "bytes"))
    ]
    files = view("w", sql, aggregations=entries)
    files["models/w.yml"] = files["models/w.yml"].replace(
        "  features:\n  - name: f\n    type: int64\n", ""
    )
    w = load_project(make(tmp_path, files)).views["w"]

    def batch(rows: slice) -> pa.RecordBatch:
        return pa.RecordBatch.from_pydict(
            {
                "user_id": [7, 7][rows],
                "__event_ts": [when, when + M][rows],
                "__created_ts": pa.array([None, None], pa.timestamp("us", tz="UTC"))[rows],
                "__version": [1, 2][rows],
                **{name: col[rows] for name, col in values.items()},
            }
        )

    stored = list(store_batches([batch(slice(0, 1)), batch(slice(1, 2))], w, 0))
    blobs = [b for out, _ in stored for b in out.column("__fsql_rows").to_pylist()]
    assert len(blobs) == 1  # user 7 once, with both rows
    rows = decode(blobs[0])
    assert [row[3:] for row in rows] == [[when, date(2024, 3, 1), b"\x00\xff"], [None, None, b""]]
