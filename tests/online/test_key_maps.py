"""A service that reads one view through two entity columns (`{view, as, join_keys}`),
online on SQLite and Redis: each use reads its own key's latest row, equal to the
training set at the same time, and an entity row missing a mapped column is refused
naming it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from fsql.errors import ProjectError
from fsql.store import FeatureStore
from tests.support import project_factory, redis_servers
from tests.support.project_factory import ViewSpec

BASE = datetime(2024, 3, 1, tzinfo=UTC)
SERVICE = """feature_services:
  - name: trips
    features:
      - {view: location_stats, as: origin, join_keys: {location_id: origin_id}}
      - view: location_stats
        as: destination
        join_keys: {location_id: destination_id}
        features: [city]
      - weather:rain
"""


def _views() -> list[ViewSpec]:
    stats = [
        {"location_id": 1, "event_timestamp": BASE, "temperature": 10.5, "city": "Oslo"},
        {"location_id": 2, "event_timestamp": BASE, "temperature": 20.0, "city": "Rome"},
        {
            "location_id": 1,
            "event_timestamp": BASE + timedelta(hours=1),
            "temperature": 11.0,
            "city": "Bergen",
        },
    ]
    weather = [{"event_timestamp": BASE, "rain": 0.4}]
    return [
        ViewSpec(
            "location_stats",
            ["location"],
            [("temperature", "float64"), ("city", "string")],
            stats,
            online=True,
        ),
        ViewSpec("weather", [], [("rain", "float64")], weather, online=True),
    ]


@pytest.fixture(params=["sqlite", "redis"])
def trips(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    root = project_factory.make_project(
        tmp_path / "trips",
        _views(),
        {"location": ["location_id"]},
        extra_files={"models/services.yml": SERVICE},
    )
    with redis_servers.online_of(request.param, root, profile=project_factory.PROJECT_NAME):
        with FeatureStore(root) as store:
            store.run()
        yield root


def test_each_use_reads_its_own_key(trips: Path) -> None:
    now = BASE + timedelta(hours=2)
    rows = [
        {"origin_id": 1, "destination_id": 2},
        {"origin_id": 2, "destination_id": 1},
        {"origin_id": 3, "destination_id": 1},
    ]
    with FeatureStore(trips) as store:
        got = store.get_online_features(feature_service="trips", entity_rows=rows, now=now)
        served = got.to_dict()
        assert served["origin__city"] == ["Bergen", "Rome", None]
        assert served["origin__temperature"] == [11.0, 20.0, None]
        assert served["destination__city"] == ["Rome", "Bergen", "Bergen"]
        assert "destination__temperature" not in served
        assert served["rain"] == [0.4, 0.4, 0.4]
        entities = pd.DataFrame([{**row, "event_timestamp": now} for row in rows])
        trained = store.get_historical_features(entities, feature_service="trips").to_arrow()
        columns = ["origin__temperature", "origin__city", "destination__city", "rain"]
        assert trained.column_names[-4:] == columns
        for name in columns:
            assert trained.column(name).to_pylist() == served[name], name

        with pytest.raises(ProjectError, match="destination_id"):
            store.get_online_features(
                feature_service="trips", entity_rows=[{"origin_id": 1}], now=now
            )
