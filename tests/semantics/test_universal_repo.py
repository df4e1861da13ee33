"""Feast's universal test repository modelled natively (tests/support/universal_repo.py):
a global view, location stats as a trip's origin and destination through join-key maps,
embedding arrays, a string-keyed view, float32/int32 features, a map and JSON. One
service's training set and its online reads equal the brute-force oracle, on DuckDB
with SQLite and with Redis as the online store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fsql.store import FeatureStore
from tests.support import redis_servers
from tests.support import universal_repo as repo
from tests.support.oracle import assert_rows_equal, pit_oracle

NOW = repo.START + repo.SPAN + timedelta(hours=1)


def _plain(value: Any) -> Any:
    """A map as a dict (a training set holds its pairs), anything else as it is."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return dict(value)
    return value


@pytest.fixture(params=["sqlite", "redis"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    views = repo.views()
    if request.param == "sqlite":
        online: dict[str, Any] = {"type": "sqlite", "path": str(tmp_path / "p" / "online.db")}
        yield repo.write_project(tmp_path / "p", views, online)
        return
    client = redis_servers.shared_client()
    prefix = redis_servers.new_prefix()
    online = {"type": "redis", "url": redis_servers.SHARED_URL, "key_prefix": prefix}
    try:
        yield repo.write_project(tmp_path / "p", views, online)
    finally:
        redis_servers.delete_prefix(client, prefix)
        client.close()


def _expected(entity_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The oracle: each service column from its view, read through its entity column."""
    views = repo.views()
    oracles = repo.oracle_views(views)
    expected = [dict(row) for row in entity_rows]
    for view, feature, column, alias in repo.service_columns(views):
        rows = entity_rows
        if alias is not None:
            rows = [{**r, "location_id": r[repo.RENAMED[alias]]} for r in entity_rows]
        picked = pit_oracle(rows, [oracles[view]], [(view, feature)])
        for out, row in zip(expected, picked, strict=True):
            out[column] = _plain(row[feature])
    return expected


def test_training_set_and_online_reads_equal_the_oracle(project: Path) -> None:
    entity_rows = repo.entity_rows(160)
    expected = _expected(entity_rows)
    columns = [c for _, _, c, _ in repo.service_columns(repo.views())]
    # The data reach every case: values and NULLs in each column, and a trip whose two
    # ends read different temperatures.
    for column in columns:
        values = [row[column] for row in expected]
        assert any(v is not None for v in values) and None in values, column
    assert any(r["origin__temperature"] != r["destination__temperature"] for r in expected)

    with FeatureStore(project) as store:
        store.build(list(store.project.views))
        store.materialize(None, NOW)  # the data are of 2024: the online store as it was then
        got = store.get_historical_features(pd.DataFrame(entity_rows), feature_service="trips")
        table = got.to_arrow()
        assert table.column_names == [*entity_rows[0], *columns]
        rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
        assert_rows_equal(rows, expected)

        keys = [
            {k: v for k, v in row.items() if k not in ("event_timestamp", "trip")}
            for row in entity_rows[:40]
        ]
        online = store.get_online_features(
            feature_service="trips", entity_rows=keys, now=NOW
        ).to_dict()
        at_now = _expected([{**row, "event_timestamp": NOW} for row in entity_rows[:40]])
        for column in columns:
            want = [row[column] for row in at_now]
            assert_rows_equal([{column: v} for v in online[column]], [{column: v} for v in want])
        # Online and offline agree at the same time, column by column.
        trained = store.get_historical_features(
            pd.DataFrame([{**row, "event_timestamp": NOW} for row in keys]),
            feature_service="trips",
        ).to_arrow()
        for column in columns:
            offline = [_plain(v) for v in trained.column(column).to_pylist()]
            assert_rows_equal([{column: v} for v in online[column]], [{column: v} for v in offline])
