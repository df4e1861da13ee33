"""The feature log on every engine (DuckDB, Snowflake on fakesnow, BigQuery on crucible):
appended through an upload, widened by a column when a service gains a feature, and read
back by the skew check's bounded, time-ranged sample."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fsql.adapters.base import OfflineAdapter
from fsql.compile.feature_log import log_sample
from fsql.compile.relations import Relations
from fsql.definitions.types import FeatureType as T
from fsql.dialects import get_dialect
from fsql.execute.feature_log import append_feature_log, log_table

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MICROS = 1_000_000


@pytest.fixture(params=["duckdb", "snowflake", "bigquery"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[OfflineAdapter, Relations]]:
    if request.param == "duckdb":
        from fsql.adapters.duckdb import DuckDBAdapter

        adapter = DuckDBAdapter.from_config({}, tmp_path)
        yield adapter, Relations(get_dialect("duckdb"), {})
        adapter.close()
    elif request.param == "snowflake":
        yield request.getfixturevalue("snowflake_adapter"), Relations(get_dialect("snowflake"), {})
    else:
        from fsql.adapters.base import open_offline

        profile = request.getfixturevalue("bigquery_profile")
        relations = Relations(
            get_dialect("bigquery"), {}, schema=profile["dataset"], catalog=profile["project"]
        )
        # The emulator refuses query parameters: the values go in as typed literals.
        adapter = open_offline({**profile, "parameters": "inline"}, tmp_path, "profiles.yml")
        yield adapter, relations
        adapter.close()


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * MICROS)


def _append(
    engine: tuple[OfflineAdapter, Relations],
    at: datetime,
    columns: dict[str, list[Any]],
    declared: dict[str, T],
) -> None:
    adapter, relations = engine
    rows, types = log_table("svc", [_us(at)] * len(next(iter(columns.values()))), columns, declared)
    append_feature_log(adapter, relations, "svc", rows, types)


def test_append_widen_and_sample(engine: tuple[OfflineAdapter, Relations]) -> None:
    adapter, relations = engine
    _append(engine, T0, {"user_id": [1, 2], "score": [0.5, None]}, {"score": T.FLOAT64})
    # The service gained a feature: the log gains its column; older rows read NULL there.
    later = T0 + timedelta(hours=1)
    _append(
        engine,
        later,
        {"user_id": [3], "score": [1.5], "plan": ["pro"]},
        {"score": T.FLOAT64, "plan": T.STRING},
    )
    query = log_sample("svc", relations, ["user_id", "score", "plan"], 10, False, False)
    rows = adapter.fetch_arrow(relations.dialect.statement(query)).to_pylist()
    got = sorted(({k.lower(): v for k, v in r.items()} for r in rows), key=lambda r: r["user_id"])
    assert got == [
        {"user_id": 1, "score": 0.5, "plan": None},
        {"user_id": 2, "score": None, "plan": None},
        {"user_id": 3, "score": 1.5, "plan": "pro"},
    ]
    # The range is on the request time: [start, end).
    ranged = log_sample("svc", relations, ["user_id"], 10, True, True)
    window = {"start": T0 + timedelta(minutes=30), "end": later + timedelta(seconds=1)}
    rows = adapter.fetch_arrow(relations.dialect.statement(ranged), window).to_pylist()
    assert [next(iter(r.values())) for r in rows] == [3]
    # The sample is bounded.
    one = log_sample("svc", relations, ["user_id"], 1, False, False)
    assert adapter.fetch_arrow(relations.dialect.statement(one)).num_rows == 1
