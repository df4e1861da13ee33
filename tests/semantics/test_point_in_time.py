"""Point-in-time join semantics of `FeatureStore.get_historical_features` (SPEC §2, §4),
on every engine: the conformance suite.

One test per rule. Each builds a tiny project with the factory, runs the training-set join
on the `engine` fixture's engine (tests/semantics/conftest.py: DuckDB ASOF and window
plans, Snowflake's ASOF plan on DuckDB and its window plan on fakesnow, BigQuery's SQL on
DuckDB and on crucible-emulator) and compares the result with values written out by hand;
the same hand-written values are checked against the brute-force oracle, so a wrong
expectation shows up as an oracle failure rather than as an fsql bug.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.support.engine_runners import Engine
from tests.support.oracle import pit_oracle, values_equal
from tests.support.pit_cases import (
    T0,
    USER,
    D,
    H,
    M,
    S,
    entity_frame,
    expect,
    run_case,
    simple_view,
)
from tests.support.project_factory import ViewSpec, oracle_view

# Before pandas 3, `entity_frame(..., {"item_id": "str"})` turns a None key into the
# string 'None' before fsql sees it, so test_composite_keys fails on every plan alike:
# then it runs on duckdb-asof alone, and `test_composite_keys_with_null_parts` (dtype
# "string") covers the ground on every engine.
OLD_PANDAS = int(pd.__version__.split(".")[0]) < 3


# --------------------------------------------------------------------------- the engine


def test_the_engine_runs_the_plan_it_names(tmp_path: Path, engine: Engine) -> None:
    """The suite proves an engine's plan only if that plan is what ran: its dialect, its
    point-in-time strategy and its adapter, and no ASOF join in a window plan."""
    root = engine.make_project(tmp_path, [simple_view([])], USER)
    ents = entity_frame([{"user_id": 1, "event_timestamp": T0}])
    ran = engine.training_set(root, ents, ["v:x"])
    assert ran.plan == engine.plan
    assert len(ran.frame) == 1
    if engine.plan.pit_strategy == "window":
        assert "ASOF" not in ran.sql.upper()
        assert "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW" in ran.sql
    else:
        assert "ASOF" in ran.sql.upper()


# --------------------------------------------------------------------------- window


@pytest.mark.parametrize(
    ("ttl", "delta"),
    [("3600s", H), ("1h", H), ("90m", 90 * M), ("7d", 7 * D), ("1w", 7 * D)],
)
def test_ttl_bounds_are_inclusive(
    tmp_path: Path, engine: Engine, ttl: str, delta: timedelta
) -> None:
    rows = [
        {"user_id": 1, "event_timestamp": T0 - delta, "x": 1},
        {"user_id": 2, "event_timestamp": T0 - 2 * delta, "x": 21},
        {"user_id": 2, "event_timestamp": T0 - delta, "x": 22},
    ]
    ents = [
        {"user_id": 1, "event_timestamp": T0},  # exactly T old: used
        {"user_id": 1, "event_timestamp": T0 + S},  # T + 1s old: not used
        {"user_id": 1, "event_timestamp": T0 - delta},  # same instant: used
        {"user_id": 1, "event_timestamp": T0 - delta - S},  # row is 1s in the future
        {"user_id": 2, "event_timestamp": T0},  # latest in window
        {"user_id": 2, "event_timestamp": T0 + S},  # both out of window: no fall-back
        {"user_id": 2, "event_timestamp": T0 - delta - S},  # only the older row
    ]
    expected = expect(ents, ["x"], [[1], [None], [1], [None], [22], [None], [21]])
    frame = run_case(engine, tmp_path, [simple_view(rows, ttl=ttl)], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_no_ttl_means_no_lower_bound(tmp_path: Path, engine: Engine) -> None:
    rows = [
        {"user_id": 1, "event_timestamp": T0 - 800 * D, "x": 1},
        {"user_id": 1, "event_timestamp": T0 - 400 * D, "x": 2},
        {"user_id": 1, "event_timestamp": T0 + D, "x": 3},
        {"user_id": 2, "event_timestamp": datetime(1990, 1, 1, tzinfo=UTC), "x": 4},
    ]
    ents = [
        {"user_id": 1, "event_timestamp": T0},
        {"user_id": 2, "event_timestamp": T0},
        {"user_id": 1, "event_timestamp": T0 - 600 * D},
        {"user_id": 1, "event_timestamp": T0 - 900 * D},
        {"user_id": 1, "event_timestamp": T0 + 2 * D},
    ]
    expected = expect(ents, ["x"], [[2], [4], [1], [None], [3]])
    frame = run_case(engine, tmp_path, [simple_view(rows)], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


# --------------------------------------------------------------------------- ties


def test_tie_on_event_ts_goes_to_greatest_created(tmp_path: Path, engine: Engine) -> None:
    e = T0 - H
    rows = [
        {"user_id": 1, "event_timestamp": e, "created_timestamp": e + M, "x": 1},
        {"user_id": 1, "event_timestamp": e, "created_timestamp": e + 5 * M, "x": 2},
        {"user_id": 1, "event_timestamp": e, "created_timestamp": e + 3 * M, "x": 3},
        # the greatest event time wins even with an older created time
        {"user_id": 2, "event_timestamp": T0 - 2 * H, "created_timestamp": T0 - 10 * M, "x": 20},
        {"user_id": 2, "event_timestamp": T0 - H, "created_timestamp": T0 - 3 * H, "x": 21},
        # the winner of a tie written first in the file
        {"user_id": 3, "event_timestamp": e, "created_timestamp": e + 9 * M, "x": 30},
        {"user_id": 3, "event_timestamp": e, "created_timestamp": e + 2 * M, "x": 31},
    ]
    ents = [
        {"user_id": 1, "event_timestamp": T0},
        {"user_id": 2, "event_timestamp": T0},
        {"user_id": 2, "event_timestamp": T0 - 90 * M},
        {"user_id": 3, "event_timestamp": T0},
        {"user_id": 1, "event_timestamp": e},
    ]
    expected = expect(ents, ["x"], [[2], [21], [20], [30], [2]])
    spec = simple_view(rows, ttl="1d", created_col="created_timestamp")
    frame = run_case(engine, tmp_path, [spec], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_null_created_timestamp_loses_a_tie(tmp_path: Path, engine: Engine) -> None:
    """SPEC §2 says ties go to the greatest created_timestamp; a NULL one is taken as lowest."""
    e = T0 - H
    rows = [
        {"user_id": 1, "event_timestamp": e, "created_timestamp": None, "x": 10},
        {"user_id": 1, "event_timestamp": e, "created_timestamp": e - 50 * H, "x": 11},
        {"user_id": 2, "event_timestamp": e, "created_timestamp": None, "x": 20},
    ]
    ents = [{"user_id": 1, "event_timestamp": T0}, {"user_id": 2, "event_timestamp": T0}]
    expected = expect(ents, ["x"], [[11], [20]])
    spec = simple_view(rows, created_col="created_timestamp")
    frame = run_case(engine, tmp_path, [spec], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_equal_event_times_without_created_give_one_row(tmp_path: Path, engine: Engine) -> None:
    """Without a created timestamp SPEC §2 names no winner among equal event times, but
    there is still exactly one output row per entity row, holding one of them, the same
    one for every entity row that sees them (a window plan's equi-join on (keys, time)
    must not fan out over them)."""
    rows = [
        {"user_id": 1, "event_timestamp": T0 - H, "x": 1},
        {"user_id": 1, "event_timestamp": T0 - H, "x": 2},
        {"user_id": 1, "event_timestamp": T0 - 2 * H, "x": 3},
    ]
    ents = [
        {"user_id": 1, "event_timestamp": T0},
        {"user_id": 1, "event_timestamp": T0 - H},
        {"user_id": 1, "event_timestamp": T0 - 90 * M},
    ]
    root = engine.make_project(tmp_path, [simple_view(rows)], USER)
    frame = engine.historical(root, entity_frame(ents), ["v:x"])
    assert len(frame) == len(ents)
    assert list(frame["x"])[:2] in ([1, 1], [2, 2])
    assert list(frame["x"])[2] == 3


# --------------------------------------------------------------------------- NULLs


def test_null_in_chosen_row_stays_null(tmp_path: Path, engine: Engine) -> None:
    rows = [
        {"user_id": 1, "event_timestamp": T0 - 2 * H, "x": 5, "s": "old", "f": 1.5},
        {"user_id": 1, "event_timestamp": T0 - H, "x": None, "s": "new", "f": None},
        {"user_id": 2, "event_timestamp": T0 - 2 * H, "x": None, "s": None, "f": 2.5},
        {"user_id": 2, "event_timestamp": T0 - H, "x": 7, "s": None, "f": None},
    ]
    spec = simple_view(rows, features=[("x", "int64"), ("s", "string"), ("f", "float64")])
    ents = [
        {"user_id": 1, "event_timestamp": T0},
        {"user_id": 1, "event_timestamp": T0 - 90 * M},
        {"user_id": 2, "event_timestamp": T0},
    ]
    expected = expect(
        ents, ["x", "s", "f"], [[None, "new", None], [5, "old", 1.5], [7, None, None]]
    )
    frame = run_case(engine, tmp_path, [spec], USER, ents, ["v:x", "v:s", "v:f"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_no_candidate_gives_null_for_every_feature_of_the_view(
    tmp_path: Path, engine: Engine
) -> None:
    v = simple_view(
        [
            {"user_id": 1, "event_timestamp": T0, "x": 5, "s": "a"},
            {"user_id": 2, "event_timestamp": T0 + H, "x": 6, "s": "b"},
        ],
        features=[("x", "int64"), ("s", "string")],
    )
    w = simple_view(
        [
            {"user_id": 1, "event_timestamp": T0 - D, "y": 1.0},
            {"user_id": 2, "event_timestamp": T0 - D, "y": 2.0},
        ],
        name="w",
        features=[("y", "float64")],
    )
    ents = [
        {"user_id": 1, "event_timestamp": T0 - S},  # before the view's only row
        {"user_id": 2, "event_timestamp": T0},  # only a future row
        {"user_id": 1, "event_timestamp": T0},
    ]
    expected = expect(ents, ["x", "s", "y"], [[None, None, 1.0], [None, None, 2.0], [5, "a", 1.0]])
    frame = run_case(engine, tmp_path, [v, w], USER, ents, ["v:x", "v:s", "w:y"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_null_entity_keys_give_null_features(tmp_path: Path, engine: Engine) -> None:
    rows = [
        {"user_id": None, "event_timestamp": T0 - H, "x": 99},  # must not match a NULL key
        {"user_id": 1, "event_timestamp": T0 - H, "x": 5},
    ]
    ents = [
        {"user_id": None, "event_timestamp": T0, "label": 0},
        {"user_id": 1, "event_timestamp": T0, "label": 1},
        {"user_id": None, "event_timestamp": T0 + H, "label": 2},
    ]
    expected = expect(ents, ["x"], [[None], [5], [None]])
    frame = run_case(engine, tmp_path, [simple_view(rows)], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_unknown_keys_give_null(tmp_path: Path, engine: Engine) -> None:
    rows = [{"user_id": 1, "event_timestamp": T0 - H, "x": 5}]
    ents = [
        {"user_id": 999, "event_timestamp": T0},
        {"user_id": 1, "event_timestamp": T0},
        {"user_id": 0, "event_timestamp": T0},
        {"user_id": -1, "event_timestamp": T0},
    ]
    expected = expect(ents, ["x"], [[None], [5], [None], [None]])
    frame = run_case(engine, tmp_path, [simple_view(rows)], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_unknown_string_keys_give_null(tmp_path: Path, engine: Engine) -> None:
    spec = ViewSpec(
        name="items",
        entities=["item"],
        features=[("price", "float64")],
        rows=[{"item_id": "a", "event_timestamp": T0 - H, "price": 2.5}],
    )
    ents = [
        {"item_id": "zzz", "event_timestamp": T0},
        {"item_id": "a", "event_timestamp": T0},
        {"item_id": "A", "event_timestamp": T0},  # keys compare exactly
        {"item_id": "", "event_timestamp": T0},
    ]
    expected = expect(ents, ["price"], [[None], [2.5], [None], [None]])
    frame = run_case(
        engine, tmp_path, [spec], {"item": ["item_id"]}, ents, ["items:price"], expected
    )
    assert len(frame) == len(ents)  # one output row per entity row


# --------------------------------------------------------------------------- output rows


def test_duplicate_entity_rows_each_get_a_row(tmp_path: Path, engine: Engine) -> None:
    rows = [
        {"user_id": 1, "event_timestamp": T0 - H, "x": 5},
        {"user_id": 2, "event_timestamp": T0 - H, "x": 6},
    ]
    ents = [
        {"user_id": 1, "event_timestamp": T0, "label": "a"},
        {"user_id": 1, "event_timestamp": T0, "label": "a"},
        {"user_id": 2, "event_timestamp": T0, "label": "c"},
        {"user_id": 1, "event_timestamp": T0, "label": "b"},
        {"user_id": 1, "event_timestamp": T0, "label": "a"},
    ]
    expected = expect(ents, ["x"], [[5], [5], [6], [5], [5]])
    frame = run_case(engine, tmp_path, [simple_view(rows)], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_entity_order_is_kept(tmp_path: Path, engine: Engine) -> None:
    rows = [
        {"user_id": 1, "event_timestamp": T0 - 3 * H, "x": 1},
        {"user_id": 1, "event_timestamp": T0 - 2 * H, "x": 2},
        {"user_id": 1, "event_timestamp": T0 - H, "x": 3},
        {"user_id": 2, "event_timestamp": T0 - 2 * H, "x": 20},
    ]
    ents = [
        {"id": 0, "user_id": 1, "event_timestamp": T0 - H},
        {"id": 1, "user_id": 2, "event_timestamp": T0 - 3 * H},
        {"id": 2, "user_id": 1, "event_timestamp": T0 - 3 * H},
        {"id": 3, "user_id": 2, "event_timestamp": T0},
        {"id": 4, "user_id": 1, "event_timestamp": T0 - 2 * H},
        {"id": 5, "user_id": 1, "event_timestamp": T0 - 150 * M},
        {"id": 6, "user_id": 2, "event_timestamp": T0 - 2 * H},
        {"id": 7, "user_id": 1, "event_timestamp": T0 - 4 * H},
    ]
    expected = expect(ents, ["x"], [[3], [None], [1], [20], [2], [1], [20], [None]])
    frame = run_case(engine, tmp_path, [simple_view(rows)], USER, ents, ["v:x"], expected)
    assert len(frame) == len(ents)  # one output row per entity row


def test_entity_order_is_kept_for_many_shuffled_rows(tmp_path: Path, engine: Engine) -> None:
    rng = random.Random(20240110)
    rows = [
        {"user_id": u, "event_timestamp": T0 - h * H, "x": u * 1000 + h}
        for u in range(1, 6)
        for h in range(0, 48, 3)
    ]
    ents = [
        {"id": i, "user_id": rng.randint(0, 6), "event_timestamp": T0 - rng.randint(0, 60) * H}
        for i in range(300)
    ]
    rng.shuffle(ents)
    expected = pit_oracle(ents, [oracle_view(simple_view(rows, ttl="12h"), USER)], [("v", "x")])
    df = run_case(engine, tmp_path, [simple_view(rows, ttl="12h")], USER, ents, ["v:x"], expected)
    assert list(df["id"]) == [e["id"] for e in ents]


def test_entity_columns_unchanged_and_first(tmp_path: Path, engine: Engine) -> None:
    rows = [{"user_id": 1, "event_timestamp": T0 - H, "x": 5}]
    ents = [
        {
            "label": 1,
            "event_timestamp": T0,
            "user_id": 1,
            "comment": "hello",
            "weight": 0.25,
            "flag": True,
        },
        {
            "label": 0,
            "event_timestamp": T0 - D,
            "user_id": 2,
            "comment": None,
            "weight": None,
            "flag": False,
        },
    ]
    expected = expect(ents, ["x"], [[5], [None]])
    df = run_case(
        engine,
        tmp_path,
        [simple_view(rows)],
        USER,
        ents,
        ["v:x"],
        expected,
        dtypes={"user_id": "Int64", "label": "int64", "weight": "float64"},
    )
    assert list(df.columns) == [
        "label",
        "event_timestamp",
        "user_id",
        "comment",
        "weight",
        "flag",
        "x",
    ]


def test_feature_columns_in_requested_order(tmp_path: Path, engine: Engine) -> None:
    v = simple_view(
        [{"user_id": 1, "event_timestamp": T0 - H, "a": 1, "b": "two", "c": 3.0}],
        features=[("a", "int64"), ("b", "string"), ("c", "float64")],
    )
    w = simple_view(
        [{"user_id": 1, "event_timestamp": T0 - H, "z": 26}], name="w", features=[("z", "int64")]
    )
    ents = [{"user_id": 1, "event_timestamp": T0}]
    expected = expect(ents, ["c", "z", "a", "b"], [[3.0, 26, 1, "two"]])
    df = run_case(engine, tmp_path, [v, w], USER, ents, ["v:c", "w:z", "v:a", "v:b"], expected)
    assert list(df.columns) == ["user_id", "event_timestamp", "c", "z", "a", "b"]


def test_whole_view_ref_expands_in_declared_order(tmp_path: Path, engine: Engine) -> None:
    # declared order deliberately not alphabetical
    v = simple_view(
        [{"user_id": 1, "event_timestamp": T0 - H, "c": 3, "a": 1, "b": 2}],
        features=[("c", "int64"), ("a", "int64"), ("b", "int64")],
    )
    w = simple_view(
        [{"user_id": 1, "event_timestamp": T0 - H, "z": 26}], name="w", features=[("z", "int64")]
    )
    ents = [{"user_id": 1, "event_timestamp": T0}, {"user_id": 2, "event_timestamp": T0}]
    expected = expect(ents, ["z", "c", "a", "b"], [[26, 3, 1, 2], [None] * 4])
    df = run_case(engine, tmp_path, [v, w], USER, ents, ["w:z", "v"], expected)
    assert list(df.columns)[2:] == ["z", "c", "a", "b"]


def test_full_feature_names(tmp_path: Path, engine: Engine) -> None:
    v = simple_view(
        [{"user_id": 1, "event_timestamp": T0 - H, "x": 1, "y": 2}],
        features=[("x", "int64"), ("y", "int64")],
    )
    w = simple_view([{"user_id": 1, "event_timestamp": T0 - H, "x": 10}], name="w")
    ents = [{"user_id": 1, "event_timestamp": T0}]
    expected = expect(ents, ["v__x", "w__x", "v__y"], [[1, 10, 2]])
    df = run_case(
        engine,
        tmp_path,
        [v, w],
        USER,
        ents,
        ["v:x", "w:x", "v:y"],
        expected,
        full_feature_names=True,
    )
    assert list(df.columns) == ["user_id", "event_timestamp", "v__x", "w__x", "v__y"]


def test_same_feature_name_from_two_views_is_an_error(tmp_path: Path, engine: Engine) -> None:
    from fsql.errors import ProjectError

    v = simple_view([{"user_id": 1, "event_timestamp": T0 - H, "x": 1}])
    w = simple_view([{"user_id": 1, "event_timestamp": T0 - H, "x": 10}], name="w")
    root = engine.make_project(tmp_path, [v, w], USER)
    ents = entity_frame([{"user_id": 1, "event_timestamp": T0}])
    with pytest.raises(ProjectError, match="x"):
        engine.historical(root, ents, ["v:x", "w:x"])
    with pytest.raises(ProjectError, match="x"):
        engine.historical(root, ents, ["v", "w"])  # the clash hidden behind whole-view refs


def test_key_type_mismatch_is_an_error_naming_the_column(tmp_path: Path, engine: Engine) -> None:
    """SPEC §2: a key type mismatch is an error naming the column, not an empty join."""
    from fsql.errors import FsqlError

    root = engine.make_project(
        tmp_path, [simple_view([{"user_id": 1, "event_timestamp": T0, "x": 1}])], USER
    )
    ents = entity_frame([{"user_id": "1", "event_timestamp": T0}], dtypes={"user_id": "str"})
    with pytest.raises(FsqlError, match="user_id"):
        engine.historical(root, ents, ["v:x"])


# --------------------------------------------------------------------------- time zones


@pytest.fixture
def non_utc_local_time() -> Iterator[None]:
    """Run with the process's local zone at +05:30, so 'naive = local' bugs cannot hide."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


PLUS2 = timezone(timedelta(hours=2))
MINUS7 = timezone(timedelta(hours=-7))

TZ_ROWS = [
    {"user_id": 1, "event_timestamp": T0 - H, "x": 4},
    {"user_id": 1, "event_timestamp": T0, "x": 5},
]
# entity instants (UTC) and the answer at each, for a 1h TTL: every boundary is 1s wide,
# so a zone misread by any whole number of minutes changes some answer.
TZ_INSTANTS = [
    (T0, 5),
    (T0 - S, 4),
    (T0 + H, 5),
    (T0 + H + S, None),
    (T0 - H, 4),
    (T0 - H - S, None),
]


def _tz_case(engine: Engine, tmp_path: Path, convert: Any) -> pd.DataFrame:
    ents = [
        {"user_id": 1, "event_timestamp": convert(t), "n": i}
        for i, (t, _) in enumerate(TZ_INSTANTS)
    ]
    expected = expect(ents, ["x"], [[x] for _, x in TZ_INSTANTS])
    spec = simple_view(TZ_ROWS, ttl="1h")
    df = run_case(engine, tmp_path, [spec], USER, ents, ["v:x"], expected)
    # entity timestamps come back as the same instants (their zone may be normalised)
    for got, (want, _) in zip(df["event_timestamp"], TZ_INSTANTS, strict=True):
        assert values_equal(got, want)
    return df


@pytest.mark.parametrize(
    "form",
    ["utc", "naive", "plus2", "minus7"],
)
def test_entity_timestamp_zones(tmp_path: Path, engine: Engine, form: str) -> None:
    convert = {
        "utc": lambda t: t,
        "naive": lambda t: t.replace(tzinfo=None),
        "plus2": lambda t: t.astimezone(PLUS2),
        "minus7": lambda t: t.astimezone(MINUS7),
    }[form]
    frame = _tz_case(engine, tmp_path, convert)
    assert len(frame) == len(TZ_INSTANTS)  # one output row per entity row


def test_naive_timestamps_are_utc_whatever_the_local_zone(
    tmp_path: Path, engine: Engine, non_utc_local_time: None
) -> None:
    naive = _tz_case(engine, tmp_path / "naive", lambda t: t.replace(tzinfo=None))
    aware = _tz_case(engine, tmp_path / "aware", lambda t: t)
    assert list(naive["x"].astype(object).where(naive["x"].notna(), None)) == list(
        aware["x"].astype(object).where(aware["x"].notna(), None)
    )


def test_offset_timestamps_hand_written(tmp_path: Path, engine: Engine) -> None:
    """14:00+02:00 is 12:00Z: it sees the 12:00Z row; 13:59:59+02:00 does not."""
    ents = [
        {"user_id": 1, "event_timestamp": datetime(2024, 1, 10, 14, 0, tzinfo=PLUS2)},
        {"user_id": 1, "event_timestamp": datetime(2024, 1, 10, 13, 59, 59, tzinfo=PLUS2)},
        {"user_id": 1, "event_timestamp": datetime(2024, 1, 10, 14, 0, 1, tzinfo=PLUS2)},
    ]
    expected = expect(ents, ["x"], [[5], [4], [5]])
    frame = run_case(
        engine, tmp_path, [simple_view(TZ_ROWS, ttl="1h")], USER, ents, ["v:x"], expected
    )
    assert len(frame) == len(ents)  # one output row per entity row


# --------------------------------------------------------------------------- keys and DAG


@pytest.mark.parametrize("layout", ["two_entities", "one_composite_entity"])
def test_composite_keys(tmp_path: Path, engine: Engine, layout: str) -> None:
    if OLD_PANDAS and engine.name != "duckdb-asof":
        pytest.skip("pandas < 3 turns a None string key into 'None' (see OLD_PANDAS)")
    if layout == "two_entities":
        entities = {"user": ["user_id"], "item": ["item_id"]}
        ui_entities = ["user", "item"]
    else:
        entities = {"user": ["user_id"], "user_item": ["user_id", "item_id"]}
        ui_entities = ["user_item"]
    ui = ViewSpec(
        name="ui",
        entities=ui_entities,
        features=[("clicks", "int64")],
        rows=[
            {"user_id": 1, "item_id": "a", "event_timestamp": T0 - H, "clicks": 1},
            {"user_id": 1, "item_id": "b", "event_timestamp": T0 - H, "clicks": 2},
            {"user_id": 2, "item_id": "a", "event_timestamp": T0 - 2 * H, "clicks": 3},
            {"user_id": 2, "item_id": "a", "event_timestamp": T0 - H, "clicks": 4},
            {"user_id": 3, "item_id": None, "event_timestamp": T0 - H, "clicks": 99},
        ],
        ttl="1d",
        key_types={"user_id": "int64", "item_id": "string"},
    )
    u = simple_view(
        [
            {"user_id": 1, "event_timestamp": T0 - D, "age": 30},
            {"user_id": 2, "event_timestamp": T0 - D, "age": 40},
        ],
        name="u",
        features=[("age", "int64")],
    )
    ents = [
        {"user_id": 1, "item_id": "a", "event_timestamp": T0},
        {"user_id": 1, "item_id": "b", "event_timestamp": T0},
        {"user_id": 2, "item_id": "a", "event_timestamp": T0},
        {"user_id": 2, "item_id": "a", "event_timestamp": T0 - 90 * M},
        {"user_id": 2, "item_id": "b", "event_timestamp": T0},
        {"user_id": 1, "item_id": None, "event_timestamp": T0},
        {"user_id": None, "item_id": "a", "event_timestamp": T0},
        {"user_id": 3, "item_id": None, "event_timestamp": T0},
    ]
    expected = expect(
        ents,
        ["clicks", "age"],
        [[1, 30], [2, 30], [4, 40], [3, 40], [None, 40], [None, 30], [None, None], [None, None]],
    )
    frame = run_case(
        engine,
        tmp_path,
        [ui, u],
        entities,
        ents,
        ["ui:clicks", "u:age"],
        expected,
        dtypes={"user_id": "Int64", "item_id": "str"},
    )
    assert len(frame) == len(ents)  # one output row per entity row


def test_composite_keys_with_null_parts(tmp_path: Path, engine: Engine) -> None:
    """Partitions run over every key column; a NULL in any part matches nothing."""
    keys = {"user": ["user_id"], "user_item": ["user_id", "item_id"]}
    ui = ViewSpec(
        name="ui",
        entities=["user_item"],
        features=[("clicks", "int64")],
        rows=[
            {"user_id": 1, "item_id": "a", "event_timestamp": T0 - H, "clicks": 1},
            {"user_id": 1, "item_id": "b", "event_timestamp": T0 - 2 * H, "clicks": 2},
            {"user_id": 2, "item_id": "a", "event_timestamp": T0, "clicks": 3},
            {"user_id": 3, "item_id": None, "event_timestamp": T0 - H, "clicks": 99},
        ],
        ttl="1d",
        key_types={"user_id": "int64", "item_id": "string"},
    )
    ents = [
        {"user_id": 1, "item_id": "a", "event_timestamp": T0},
        {"user_id": 1, "item_id": "b", "event_timestamp": T0},
        {"user_id": 2, "item_id": "a", "event_timestamp": T0},  # exactly at the row's time
        {"user_id": 2, "item_id": "a", "event_timestamp": T0 - S},
        {"user_id": 1, "item_id": None, "event_timestamp": T0},
        {"user_id": 3, "item_id": None, "event_timestamp": T0},
        {"user_id": None, "item_id": "a", "event_timestamp": T0},
    ]
    expected = expect(ents, ["clicks"], [[1], [2], [3], [None], [None], [None], [None]])
    frame = run_case(
        engine,
        tmp_path,
        [ui],
        keys,
        ents,
        ["ui:clicks"],
        expected,
        dtypes={"user_id": "Int64", "item_id": "string"},
    )
    assert len(frame) == len(ents)  # one output row per entity row


def test_ref_chain(tmp_path: Path, engine: Engine) -> None:
    """b selects from ref('a') (filtering rows), c from ref('b'); each view has its own TTL."""
    a = simple_view(
        [
            {"user_id": 1, "event_timestamp": T0 - 3 * H, "x": 1, "y": 0.5},
            {"user_id": 1, "event_timestamp": T0 - H, "x": None, "y": 1.5},
            {"user_id": 2, "event_timestamp": T0 - 30 * M, "x": 2, "y": None},
        ],
        name="a",
        features=[("x", "int64"), ("y", "float64")],
    )
    b = ViewSpec(
        name="b",
        entities=["user"],
        features=[("x10", "int64"), ("y1", "float64")],
        sql=(
            "select user_id, event_timestamp, x * 10 as x10, y + 1 as y1\n"
            "from {{ ref('a') }}\nwhere x is not null\n"
        ),
        ttl="2h",
    )
    c = ViewSpec(
        name="c",
        entities=["user"],
        features=[("x11", "int64")],
        sql="select user_id, event_timestamp, x10 + 1 as x11 from {{ ref('b') }}\n",
    )
    b_rows = [
        {
            "user_id": r["user_id"],
            "event_timestamp": r["event_timestamp"],
            "x10": r["x"] * 10,
            "y1": None if r["y"] is None else r["y"] + 1,
        }
        for r in a.rows
        if r["x"] is not None
    ]
    c_rows = [
        {"user_id": r["user_id"], "event_timestamp": r["event_timestamp"], "x11": r["x10"] + 1}
        for r in b_rows
    ]
    views = [oracle_view(a, USER), oracle_view(b, USER, b_rows), oracle_view(c, USER, c_rows)]
    ents = [
        {"user_id": 1, "event_timestamp": T0},
        {"user_id": 1, "event_timestamp": T0 - 2 * H},
        {"user_id": 2, "event_timestamp": T0},
        {"user_id": 2, "event_timestamp": T0 - H},
    ]
    expected = expect(
        ents,
        ["x", "y", "x10", "y1", "x11"],
        [
            [None, 1.5, None, None, 11],  # a's newest row has NULL x; b's only row is 3h old
            [1, 0.5, 10, 1.5, 11],
            [2, None, 20, None, 21],
            [None, None, None, None, None],
        ],
    )
    frame = run_case(
        engine,
        tmp_path,
        [a, b, c],
        USER,
        ents,
        ["a:x", "a:y", "b:x10", "b:y1", "c:x11"],
        expected,
        oracle_views=views,
    )
    assert len(frame) == len(ents)  # one output row per entity row
