"""Windowed aggregations equal the brute-force oracle (tests/support/window_oracle.py) on every
engine of the conformance suite, for random events and labels.

Hypothesis draws from two keys and seven minutes, so hot keys, equal timestamps and events
exactly at `t - w` (excluded) and at `t` (included) are the common case, not the rare one;
values are small integers or NULL; created timestamps tie-break `last`; entity rows fall on
whole and half minutes, with NULL and unknown keys; an aggregation interval is drawn or not,
and `visible_at: created_timestamp` (rows count only once created) or not.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from fsql.compile import windows as window_plan
from tests.support.engine_runners import PROPERTY_SETTINGS, Engine
from tests.support.oracle import assert_rows_equal
from tests.support.project_factory import ViewSpec, parse_ttl
from tests.support.window_oracle import WindowAgg, window_oracle

BASE = datetime(2024, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ENTITIES = {"user": ["user_id"]}
Row = dict[str, Any]

# (interval, windows): windows are whole intervals when there is one.
SHAPES = [(None, ["1m", "2m", "5m"]), ("2m", ["2m", "4m"])]


def entries(windows: list[str]) -> list[dict[str, Any]]:
    """Every function, some over every window, some over one."""
    first, last = windows[:1], windows[-1:]
    return [
        {"function": "count", "windows": windows},
        {"column": "a", "function": "count", "windows": first},
        {"column": "a", "function": "sum", "windows": windows},
        {"column": "a", "function": "avg", "windows": last},
        {"column": "a", "function": "min", "windows": first},
        {"column": "a", "function": "max", "windows": last},
        {"column": "a", "function": "stddev", "windows": last},
        {"column": "a", "function": "last", "windows": windows, "type": "int64"},
        {"column": "a", "function": "count_distinct", "windows": windows},
    ]


def oracle_aggs(items: list[dict[str, Any]]) -> list[WindowAgg]:
    out = []
    for item in items:
        for window in item["windows"]:
            column = item.get("column")
            prefix = f"{column}_" if column else ""
            name = f"{prefix}{item['function']}_{window}"
            out.append(WindowAgg(name, item["function"], column, parse_ttl(window)))  # type: ignore[arg-type]
    return out


@st.composite
def event_rows(draw: st.DrawFn) -> list[Row]:
    """Rows unique per (key, event time, created time); created may be NULL."""
    drawn = draw(
        st.lists(
            st.tuples(
                st.sampled_from([1, 2]),
                st.integers(0, 6),
                st.one_of(st.none(), st.integers(0, 8)),
                st.one_of(st.none(), st.integers(-3, 3)),
            ),
            max_size=14,
            unique_by=lambda r: (r[0], r[1], r[2]),
        )
    )
    return [
        {
            "user_id": key,
            "event_timestamp": BASE + ev * MINUTE,
            "created_timestamp": None if cr is None else BASE + cr * MINUTE,
            "a": value,
        }
        for key, ev, cr, value in drawn
    ]


@st.composite
def label_rows(draw: st.DrawFn) -> list[Row]:
    pairs = draw(
        st.lists(
            st.tuples(
                st.one_of(st.none(), st.sampled_from([1, 2, 3])),
                st.integers(-2, 16).map(lambda h: BASE + h * MINUTE / 2),
            ),
            min_size=1,
            max_size=10,
        )
    )
    return [{"user_id": k, "event_timestamp": t, "label": i} for i, (k, t) in enumerate(pairs)]


def test_windows_match_the_oracle(engine: Engine) -> None:
    @settings(PROPERTY_SETTINGS, max_examples=engine.examples)
    @given(
        rows=event_rows(),
        ents=label_rows(),
        shape=st.sampled_from(SHAPES),
        visible=st.booleans(),
        hot_rows=st.sampled_from([0, 3, 1000]),
    )
    def check(
        rows: list[Row],
        ents: list[Row],
        shape: tuple[str | None, list[str]],
        visible: bool,
        hot_rows: int,
    ) -> None:
        interval, windows = shape
        extra: dict[str, Any] = {"aggregation_interval": interval} if interval else {}
        if visible:
            extra["visible_at"] = "created_timestamp"
        items = entries(windows)
        spec = ViewSpec(
            name="w",
            entities=["user"],
            features=[("a", "int64")],
            rows=rows,
            created_col="created_timestamp",
            key_types={"user_id": "int64"},
            aggregations=items,
            extra_yaml=extra,
        )
        aggs = oracle_aggs(items)
        expected = window_oracle(
            ents,
            rows,
            ["user_id"],
            aggs,
            interval=parse_ttl(interval),
            created_col="created_timestamp",
            visible_at_created=visible,
        )
        df = pd.DataFrame(ents)
        df["user_id"] = df["user_id"].astype("Int64")
        # Keys above `hot_rows` rows go to the framed plan, the others to the join: 0 sends
        # every key to frames, 1000 every key to the join, 3 splits them.
        with (
            tempfile.TemporaryDirectory() as tmp,
            mock.patch.object(window_plan, "HOT_KEY_ROWS", hot_rows),
        ):
            root = engine.make_project(Path(tmp), [spec], ENTITIES)
            got = engine.historical(root, df, ["w"])
        assert list(got.columns) == [*df.columns, *(agg.name for agg in aggs)]
        assert_rows_equal(got.to_dict(orient="records"), expected)

    check()


def test_windows_beside_a_plain_view_in_one_training_set(engine: Engine, tmp_path: Path) -> None:
    """One query joins a plain view (the engine's point-in-time plan) and a windowed one,
    each by its own rule, one output row per entity row, in order."""
    from tests.support.oracle import pit_oracle
    from tests.support.project_factory import oracle_view

    events = [
        {"user_id": 1, "event_timestamp": BASE + m * MINUTE, "created_timestamp": None, "a": m}
        for m in (0, 1, 1, 3)
    ]
    events[2]["created_timestamp"] = BASE + 2 * MINUTE  # a second row at minute 1
    profile = [
        {"user_id": 1, "event_timestamp": BASE, "tier": "new"},
        {"user_id": 1, "event_timestamp": BASE + 2 * MINUTE, "tier": "gold"},
        {"user_id": 2, "event_timestamp": BASE, "tier": "new"},
    ]
    items = [
        {"function": "count", "windows": ["2m"]},
        {"column": "a", "function": "sum", "windows": ["2m"], "type": "int64"},
    ]
    windowed = ViewSpec(
        name="w",
        entities=["user"],
        features=[("a", "int64")],
        rows=events,
        created_col="created_timestamp",
        key_types={"user_id": "int64"},
        aggregations=items,
    )
    plain = ViewSpec(
        name="p",
        entities=["user"],
        features=[("tier", "string")],
        rows=profile,
        key_types={"user_id": "int64"},
    )
    ents = [
        {"user_id": 1, "event_timestamp": BASE + 3 * MINUTE, "label": 0},
        {"user_id": 2, "event_timestamp": BASE + MINUTE, "label": 1},
        {"user_id": 1, "event_timestamp": BASE + MINUTE, "label": 2},
    ]
    features = ["p:tier", "w:count_2m", "w:a_sum_2m"]
    windows = window_oracle(
        ents,
        events,
        ["user_id"],
        oracle_aggs(items),
        created_col="created_timestamp",
    )
    tiers = pit_oracle(ents, [oracle_view(plain, ENTITIES)], [("p", "tier")])
    expected = [
        {**t, **{k: w[k] for k in ("count_2m", "a_sum_2m")}}
        for t, w in zip(tiers, windows, strict=True)
    ]
    # user 1 at minute 3 counts (1, 3]: the row of minute 3; at minute 1, (-1, 1]: minute 0
    # and both rows of minute 1 (their created times differ: two rows, not two versions).
    assert [row["count_2m"] for row in expected] == [1, 0, 3]
    df = pd.DataFrame(ents)
    root = engine.make_project(tmp_path, [plain, windowed], ENTITIES)
    got = engine.historical(root, df, features)
    assert list(got.columns) == [
        "user_id",
        "event_timestamp",
        "label",
        "tier",
        "count_2m",
        "a_sum_2m",
    ]
    assert_rows_equal(got.to_dict(orient="records"), expected)


def test_windowed_rows_materialized_from_every_engine(engine: Engine, tmp_path: Path) -> None:
    """The rows each key keeps online are gathered by the engine's own SQL (versions kept
    once, ordered by key): reads after `materialize` equal the oracle on every engine that
    materializes (round-trip engines materialize with DuckDB, the same as duckdb-asof)."""
    from fsql import FeatureStore

    events = [
        {"user_id": k, "event_timestamp": BASE + m * MINUTE, "created_timestamp": None, "a": a}
        for k, m, a in ((1, 0, 1), (1, 1, None), (1, 3, 4), (2, 2, 5), (2, 2, 5), (3, 4, 2))
    ]
    events[4]["created_timestamp"] = BASE  # another row of user 2 at minute 2
    items = entries(["2m", "5m"])
    spec = ViewSpec(
        name="w",
        entities=["user"],
        features=[("a", "int64")],
        rows=events,
        created_col="created_timestamp",
        online=True,
        key_types={"user_id": "int64"},
        aggregations=items,
    )
    aggs = oracle_aggs(items)
    root = engine.make_project(tmp_path, [spec], ENTITIES)
    with FeatureStore(root) as store:
        store.materialize(None, BASE + 4 * MINUTE)
        for minutes in (4, 5, 6.5, 9):
            at = BASE + minutes * MINUTE
            rows = [{"user_id": k, "event_timestamp": at} for k in (1, 2, 3, 4)]
            got = store.get_online_features(
                features=["w"], entity_rows=[{"user_id": k} for k in (1, 2, 3, 4)], now=at
            ).to_dict()
            want = window_oracle(rows, events, ["user_id"], aggs, created_col="created_timestamp")
            assert_rows_equal(
                [
                    {"user_id": k, **{a.name: got[a.name][i] for a in aggs}}
                    for i, k in enumerate((1, 2, 3, 4))
                ],
                [{"user_id": r["user_id"], **{a.name: r[a.name] for a in aggs}} for r in want],
            )
