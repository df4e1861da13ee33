"""The vocabulary of the point-in-time conformance suite (tests/semantics).

A case states its data once: views as `ViewSpec`s, entity rows as dicts, the answer
written out by hand with `expect`. `run_case` first checks that answer against the
brute-force oracle (so a wrong expectation shows up as an oracle failure, not as an fsql
bug), then asks an engine (tests/support/engine_runners.py) for the training set and
compares it with the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tests.support.oracle import OracleView, assert_rows_equal, pit_oracle
from tests.support.project_factory import ViewSpec, oracle_view

if TYPE_CHECKING:
    from tests.support.engine_runners import Engine

T0 = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
USER = {"user": ["user_id"]}

Row = dict[str, Any]


def entity_frame(rows: Sequence[Row], dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The entity DataFrame for `rows`; integer keys are nullable `Int64` unless told."""
    df = pd.DataFrame(list(rows))
    types = {"user_id": "Int64"} if dtypes is None else dict(dtypes)
    for col, dtype in types.items():
        if col in df.columns:
            df[col] = df[col].astype(dtype)
    return df


def records(df: pd.DataFrame) -> list[Row]:
    return df.to_dict(orient="records")


def requested_of(features: Sequence[str], specs: Sequence[ViewSpec]) -> list[tuple[str, str]]:
    """Feature refs as (view, feature) pairs, a whole-view ref expanded in declared order."""
    by_name = {s.name: s for s in specs}
    out: list[tuple[str, str]] = []
    for ref in features:
        if ":" in ref:
            view, feat = ref.split(":", 1)
            out.append((view, feat))
        else:
            out.extend((ref, f) for f in by_name[ref].feature_names)
    return out


def expect(ents: Sequence[Row], names: Sequence[str], values: Sequence[Sequence[Any]]) -> list[Row]:
    """Expected output rows: each entity row unchanged, then the named feature values."""
    assert len(ents) == len(values)
    out = []
    for ent, vals in zip(ents, values, strict=True):
        assert len(vals) == len(names)
        out.append({**ent, **dict(zip(names, vals, strict=True))})
    return out


def run_case(
    engine: Engine,
    root: Path,
    specs: Sequence[ViewSpec],
    entities: Mapping[str, Sequence[str]],
    ents: Sequence[Row],
    features: list[str],
    expected: list[Row],
    *,
    dtypes: Mapping[str, str] | None = None,
    full_feature_names: bool = False,
    oracle_views: Sequence[OracleView] | None = None,
) -> pd.DataFrame:
    """Check the oracle and then `engine` against `expected`; return the engine's frame."""
    views = (
        list(oracle_views)
        if oracle_views is not None
        else [oracle_view(s, entities) for s in specs]
    )
    oracle = pit_oracle(
        ents, views, requested_of(features, specs), full_feature_names=full_feature_names
    )
    assert_rows_equal(oracle, expected)  # the hand-written expectation agrees with SPEC §2

    engine.make_project(root, specs, entities)
    df = engine.historical(
        root, entity_frame(ents, dtypes), features, full_feature_names=full_feature_names
    )
    assert_rows_equal(records(df), expected)
    return df


def simple_view(
    rows: list[Row],
    *,
    ttl: str | None = None,
    name: str = "v",
    features: list[tuple[str, str]] | None = None,
    created_col: str | None = None,
) -> ViewSpec:
    return ViewSpec(
        name=name,
        entities=["user"],
        features=features or [("x", "int64")],
        rows=rows,
        ttl=ttl,
        created_col=created_col,
        key_types={"user_id": "int64"},
    )
