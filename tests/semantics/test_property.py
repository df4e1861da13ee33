"""Property test: fsql's training-set join equals the brute-force oracle, row for row.

Hypothesis draws tiny data sets built to hit the hard cases: few keys and few distinct
timestamps (so ties and exact TTL boundaries are common), created timestamps that tie or are
NULL, NULL feature values, NULL and unknown entity keys, duplicate entity rows, a random TTL
or none, and `visible_at: created_timestamp` on the view with created times or not (rows
count only once created). Each view also has a never-NULL row number, so picking the wrong
one of two rows with equal values cannot pass unseen. Rows sharing (key, event_ts,
created_ts) would make the answer ambiguous, so the strategy never draws two of them.
The test runs on every engine of the conformance suite (tests/semantics/conftest.py).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.engine_runners import PROPERTY_SETTINGS, Engine
from tests.support.oracle import assert_rows_equal, pit_oracle
from tests.support.project_factory import ViewSpec, oracle_view

BASE = datetime(2024, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ENTITIES = {"user": ["user_id"]}
FEATURES = ["v1:a", "v1:s", "v2:b", "v1:row1", "v1:f", "v2:row2"]

Row = dict[str, Any]

keys = st.sampled_from([1, 2])
minutes = st.integers(min_value=0, max_value=3)
ttls = st.sampled_from([None, "60s", "2m", "3m", "1h"])
ints = st.one_of(st.none(), st.integers(min_value=-5, max_value=5))
floats = st.one_of(st.none(), st.sampled_from([0.0, -1.5, 2.25, 1e6]))
strings = st.one_of(st.none(), st.sampled_from(["", "a", "b", "é"]))


@st.composite
def v1_rows(draw: st.DrawFn) -> list[Row]:
    """Rows of a view with a created timestamp, drawn as groups sharing (key, event_ts).

    Each group has one to three rows with distinct created timestamps (one may be NULL), so
    most draws hold ties to break; rows never share (key, event_ts, created_ts).
    """
    groups = draw(
        st.lists(
            st.tuples(
                keys,
                minutes,
                st.lists(st.one_of(st.none(), minutes), min_size=1, max_size=3, unique=True),
            ),
            max_size=8,
            unique_by=lambda g: (g[0], g[1]),
        )
    )
    rows: list[Row] = []
    for key, ev, created in groups:
        for cr in created:
            rows.append(
                {
                    "user_id": key,
                    "event_timestamp": BASE + ev * MINUTE,
                    "created_timestamp": None if cr is None else BASE + cr * MINUTE,
                    "a": draw(ints),
                    "s": draw(strings),
                    "f": draw(floats),
                    "row1": len(rows),  # a row identity: any wrong choice shows up
                }
            )
    return draw(st.permutations(rows))


@st.composite
def v2_rows(draw: st.DrawFn) -> list[Row]:
    """Rows of a view without a created timestamp: unique per (key, event_ts)."""
    raw = draw(st.lists(st.tuples(keys, minutes, ints), max_size=10))
    seen: set[tuple[int, int]] = set()
    rows = []
    for key, ev, b in raw:
        if (key, ev) in seen:
            continue
        seen.add((key, ev))
        rows.append(
            {"user_id": key, "event_timestamp": BASE + ev * MINUTE, "b": b, "row2": len(rows)}
        )
    return rows


entity_keys = st.one_of(st.none(), st.sampled_from([1, 2, 3]))
# entity times on whole minutes (exact boundaries) and half minutes, before, among and after rows
entity_times = st.integers(min_value=-2, max_value=10).map(lambda h: BASE + h * MINUTE / 2)


@st.composite
def entity_rows(draw: st.DrawFn) -> list[Row]:
    pairs = draw(st.lists(st.tuples(entity_keys, entity_times), min_size=1, max_size=12))
    if pairs and draw(st.booleans()):
        pairs.append(pairs[0])  # an exact duplicate entity row
    return [{"user_id": k, "event_timestamp": t, "label": i} for i, (k, t) in enumerate(pairs)]


def test_matches_oracle(engine: Engine) -> None:
    """Drawn examples on `engine`, as many as it can afford (`Engine.examples`: fewer
    where a server or a SQL round trip makes each one slow)."""

    @settings(PROPERTY_SETTINGS, max_examples=engine.examples)
    @given(
        rows1=v1_rows(),
        rows2=v2_rows(),
        ttl1=ttls,
        ttl2=ttls,
        ents=entity_rows(),
        naive=st.booleans(),
        visible=st.booleans(),
    )
    def check(
        rows1: list[Row],
        rows2: list[Row],
        ttl1: str | None,
        ttl2: str | None,
        ents: list[Row],
        naive: bool,
        visible: bool,
    ) -> None:
        checked = matches_oracle(engine, rows1, rows2, ttl1, ttl2, ents, naive, visible)
        assert checked == len(ents)  # every entity row compared with the oracle

    check()


def matches_oracle(
    engine: Engine,
    rows1: list[Row],
    rows2: list[Row],
    ttl1: str | None,
    ttl2: str | None,
    ents: list[Row],
    naive: bool,
    visible: bool = False,
) -> int:
    """One drawn example: the engine's training set equals the oracle's, row for row.
    Returns the number of rows the engine returned (all of them compared)."""
    v1 = ViewSpec(
        name="v1",
        entities=["user"],
        features=[("a", "int64"), ("s", "string"), ("f", "float64"), ("row1", "int64")],
        rows=rows1,
        ttl=ttl1,
        created_col="created_timestamp",
        key_types={"user_id": "int64"},
        extra_yaml={"visible_at": "created_timestamp"} if visible else {},
    )
    v2 = ViewSpec(
        name="v2",
        entities=["user"],
        features=[("b", "int64"), ("row2", "int64")],
        rows=rows2,
        ttl=ttl2,
        key_types={"user_id": "int64"},
    )
    requested = [(ref.split(":")[0], ref.split(":")[1]) for ref in FEATURES]
    seen_by_v1 = replace(oracle_view(v1, ENTITIES), visible_at_created=visible)
    expected = pit_oracle(ents, [seen_by_v1, oracle_view(v2, ENTITIES)], requested)
    df = pd.DataFrame(ents)
    df["user_id"] = df["user_id"].astype("Int64")
    if naive:
        df["event_timestamp"] = df["event_timestamp"].dt.tz_localize(None)
    with tempfile.TemporaryDirectory() as tmp:
        root = engine.make_project(Path(tmp), [v1, v2], ENTITIES)
        got = engine.historical(root, df, FEATURES)
    assert len(got) == len(ents)  # one output row per entity row
    assert_rows_equal(got.to_dict(orient="records"), expected)
    return len(got)
