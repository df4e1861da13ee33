"""A global view (`entities: []`) online, on SQLite and Redis: every entity row (with any
keys, or none) reads the one latest row, equal to the training set at the same time;
pushes and parity work without keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from fsql.store import FeatureStore
from tests.conftest import copy_example
from tests.support import redis_servers

MODEL = """-- Orders in the whole shop per UTC day, stamped at the day's end.
select {{ day_end('order_ts') }} as event_timestamp, count(*) as shop_orders
from {{ source('raw', 'orders') }}
group by 1
"""
YAML = """feature_views:
  - name: shop_daily
    entities: []
    timestamp: event_timestamp
    online: true
    features:
      - {name: shop_orders, type: int64}
"""


@pytest.fixture(params=["sqlite", "redis"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    project = copy_example(tmp_path / "shop")
    (project / "models" / "staging" / "shop_daily.sql").write_text(MODEL)
    (project / "models" / "staging" / "shop.yml").write_text(YAML)
    with redis_servers.online_of(request.param, project):
        with FeatureStore(project) as store:
            store.run()
        yield project


def test_every_entity_row_reads_the_one_latest_row(shop: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with FeatureStore(shop) as store:
        assert store.project.views["shop_daily"].user_keys == ()
        rows = [{}, {"user_id": 7}, {"user_id": 999, "item_id": 1}]
        got = store.get_online_features(["shop_daily:shop_orders"], rows, now=now).to_dict()
        entities = pa.table({"event_timestamp": pa.array([now], pa.timestamp("us", "UTC"))})
        trained = store.get_historical_features(entities, ["shop_daily:shop_orders"]).to_arrow()
        want = trained.column("shop_orders")[0].as_py()
        assert want is not None and got["shop_orders"] == [want, want, want]

        store.push(
            "shop_daily",
            pa.table({"event_timestamp": [now - timedelta(minutes=1)], "shop_orders": [99]}),
        )
        after = store.get_online_features(["shop_daily:shop_orders"], [{}], now=now).to_dict()
        assert after["shop_orders"] == [99]
        trained = store.get_historical_features(entities, ["shop_daily:shop_orders"]).to_arrow()
        assert trained.column("shop_orders").to_pylist() == [99]
        report = store.parity(select=["shop_daily"], now=now)
        assert report.views[0].keys == 1 and report.differences == []
