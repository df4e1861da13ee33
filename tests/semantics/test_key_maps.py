"""One view joined through other entity columns (SPEC §1 service entries `{view, as,
join_keys}`, §2): Feast's `location_stats` as origin and destination. On every engine
each use equals the brute-force oracle over the entity rows with its key renamed, through
every plan: the ASOF or window join, `visible_at: created_timestamp`, and windowed
aggregations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fsql.definitions.models import FeatureRef
from fsql.errors import ProjectError
from tests.support.engine_runners import Engine
from tests.support.oracle import assert_rows_equal, pit_oracle
from tests.support.project_factory import ViewSpec, oracle_view
from tests.support.window_oracle import WindowAgg, window_oracle

BASE = datetime(2024, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ENTITIES = {"location": ["location_id"]}

STATS = [
    {"location_id": 1, "event_timestamp": BASE, "temperature": 10.5, "city": "Oslo"},
    {"location_id": 2, "event_timestamp": BASE + MINUTE, "temperature": 20.0, "city": "Rome"},
    {"location_id": 1, "event_timestamp": BASE + 3 * MINUTE, "temperature": 11.0, "city": "Oslo"},
    {"location_id": 3, "event_timestamp": BASE + 3 * MINUTE, "temperature": None, "city": "Lima"},
]
# Restated rows: the one created at minute 4 is not visible before then.
REPORTS = [
    {"location_id": 1, "event_timestamp": BASE, "created": BASE, "alert": "none"},
    {"location_id": 1, "event_timestamp": BASE, "created": BASE + 4 * MINUTE, "alert": "storm"},
    {"location_id": 2, "event_timestamp": BASE, "created": BASE, "alert": "heat"},
]
VISITS = [
    {"location_id": loc, "event_timestamp": BASE + minute * MINUTE, "n": 1}
    for loc, minute in [(1, 0), (2, 1), (1, 2), (2, 2), (2, 4), (3, 5)]
]
TRIPS = [
    {"origin_id": 1, "destination_id": 2, "event_timestamp": BASE - MINUTE, "label": 0},
    {"origin_id": 2, "destination_id": 1, "event_timestamp": BASE + MINUTE, "label": 1},
    {"origin_id": 1, "destination_id": 1, "event_timestamp": BASE + 3 * MINUTE, "label": 2},
    {"origin_id": 3, "destination_id": None, "event_timestamp": BASE + 4 * MINUTE, "label": 3},
    {"origin_id": 2, "destination_id": 3, "event_timestamp": BASE + 5 * MINUTE, "label": 4},
]


def _specs() -> list[ViewSpec]:
    return [
        ViewSpec(
            name="location_stats",
            entities=["location"],
            features=[("temperature", "float64"), ("city", "string")],
            rows=STATS,
        ),
        ViewSpec(
            name="location_reports",
            entities=["location"],
            features=[("alert", "string")],
            rows=REPORTS,
            created_col="created",
            extra_yaml={"visible_at": "created_timestamp"},
        ),
        ViewSpec(
            name="location_visits",
            entities=["location"],
            features=[("n", "int64")],
            rows=VISITS,
            aggregations=[{"function": "count", "windows": ["2m"]}],
        ),
    ]


def _as(view: str, alias: str, column: str, feature: str | None = None) -> FeatureRef:
    return FeatureRef(view, feature, alias, (("location_id", column),))


def _renamed(rows: Sequence[Mapping[str, Any]], column: str) -> list[dict[str, Any]]:
    """The entity rows as the oracle sees one use: the mapped column as `location_id`."""
    return [{**row, "location_id": row[column]} for row in rows]


def _entities() -> pd.DataFrame:
    frame = pd.DataFrame(TRIPS)
    frame["destination_id"] = frame["destination_id"].astype("Int64")
    return frame


def test_one_view_joins_as_origin_and_destination(engine: Engine, tmp_path: Path) -> None:
    specs = _specs()
    root = engine.make_project(tmp_path, specs, ENTITIES)
    stats = oracle_view(specs[0], ENTITIES)
    reports = replace(oracle_view(specs[1], ENTITIES), visible_at_created=True)
    want = {
        alias: (column, _renamed(TRIPS, column))
        for alias, column in [("origin", "origin_id"), ("destination", "destination_id")]
    }
    expected = [dict(row) for row in TRIPS]
    for alias, (_, rows) in want.items():
        picked = pit_oracle(
            rows,
            [stats, reports],
            [
                ("location_stats", "temperature"),
                ("location_stats", "city"),
                ("location_reports", "alert"),
            ],
        )
        for out, row in zip(expected, picked, strict=True):
            out[f"{alias}__temperature"] = row["temperature"]
            out[f"{alias}__city"] = row["city"]
            out[f"{alias}__alert"] = row["alert"]
    counted = {
        alias: window_oracle(
            rows, VISITS, ["location_id"], [WindowAgg("count_2m", "count", None, 2 * MINUTE)]
        )
        for alias, (_, rows) in want.items()
    }
    for n, out in enumerate(expected):
        for alias in want:
            out[f"{alias}__count_2m"] = counted[alias][n]["count_2m"]
    # The oracle itself: the same trip reads different rows for its two ends.
    assert [r["origin__city"] for r in expected] == [None, "Rome", "Oslo", "Lima", "Rome"]
    assert [r["destination__city"] for r in expected] == [None, "Oslo", "Oslo", None, "Lima"]
    assert [r["origin__alert"] for r in expected] == [None, "heat", "none", None, "heat"]

    refs = [
        _as("location_stats", "origin", "origin_id"),
        _as("location_stats", "destination", "destination_id"),
        _as("location_reports", "origin", "origin_id", "alert"),
        _as("location_reports", "destination", "destination_id", "alert"),
        _as("location_visits", "origin", "origin_id"),
        _as("location_visits", "destination", "destination_id"),
    ]
    got = engine.historical(root, _entities(), refs)
    order = [
        *TRIPS[0],
        *[f"{a}__{f}" for a in ("origin", "destination") for f in ("temperature", "city")],
        "origin__alert",
        "destination__alert",
        "origin__count_2m",
        "destination__count_2m",
    ]
    assert list(got.columns) == order
    assert_rows_equal(got.to_dict(orient="records"), [{k: r[k] for k in order} for r in expected])


@pytest.mark.parametrize("engine", ["duckdb-asof"], indirect=True)
def test_a_mapped_column_of_another_type_is_named(engine: Engine, tmp_path: Path) -> None:
    root = engine.make_project(tmp_path, _specs()[:1], ENTITIES)
    frame = _entities()
    frame["origin_id"] = frame["origin_id"].astype(str)
    with pytest.raises(ProjectError, match=r"'origin_id'.*location_stats"):
        engine.historical(root, frame, [_as("location_stats", "origin", "origin_id")])
