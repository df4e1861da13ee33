"""On-demand features (SPEC `on_demand_features`, issue 7 point 4).

The training set and an online read compute an on-demand feature from the same bound
sqlglot tree, so for any request values and feature values they must agree exactly,
NULLs and integer/float semantics included. Data sits relative to the wall clock and
the training set's entity rows are observed at `now`, the materialization end, so both
sides see the same feature row.
"""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsql.errors import ProjectError
from tests.support.project_factory import ViewSpec, make_project

H = timedelta(hours=1)
D = timedelta(days=1)
USER = {"user": ["user_id"]}
USERS = [1, 2, 3, 4]

ON_DEMAND = [
    {
        "name": "spend_ratio",
        "type": "float64",
        "expression": "amount / nullif(lifetime_value, 0)",
        "request_columns": [{"name": "amount", "type": "float64"}],
        "inputs": ["user_stats:lifetime_value"],
    },
    {
        "name": "bucket",
        "type": "int64",
        "expression": (
            "CASE WHEN coalesce(amount, 0) > visits THEN visits * 2 "
            "WHEN n_items = 0 THEN NULL ELSE coalesce(visits, n_items, -1) END"
        ),
        "request_columns": [
            {"name": "amount", "type": "float64"},
            {"name": "n_items", "type": "int64"},
        ],
        "inputs": ["user_stats:visits"],
    },
    {
        # An int64 result of a float expression: the declared type's cast decides.
        "name": "per_item",
        "type": "int64",
        "expression": "lifetime_value / coalesce(nullif(n_items, 0), 1) + visits",
        "request_columns": [{"name": "n_items", "type": "int64"}],
        "inputs": ["user_stats"],
    },
]
ODF_NAMES = [o["name"] for o in ON_DEMAND]


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def make_store(
    root: Path,
    now: datetime,
    stats: dict[int, tuple[float | None, int | None]],
    online_store: dict | None = None,
) -> Any:
    from fsql import FeatureStore

    rows = [
        {
            "user_id": user,
            "event_timestamp": now - H,
            "lifetime_value": value,
            "visits": visits,
        }
        for user, (value, visits) in stats.items()
    ]
    spec = ViewSpec(
        name="user_stats",
        entities=["user"],
        features=[("lifetime_value", "float64"), ("visits", "int64")],
        rows=rows,
        ttl="30d",
        online=True,
        key_types={"user_id": "int64"},
    )
    odf = yaml.safe_dump({"on_demand_features": ON_DEMAND}, sort_keys=False)
    make_project(root, [spec], USER, extra_files={"models/odf.yml": odf}, online_store=online_store)
    store = FeatureStore(project_dir=root)
    store.materialize(now - D, now)
    return store


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def offline_and_online(
    store: Any, now: datetime, requests: list[dict[str, Any]], features: list[str]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    entity = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in requests], pa.int64()),
            "event_timestamp": pa.array([now] * len(requests), pa.timestamp("us", tz="UTC")),
            "amount": pa.array([r["amount"] for r in requests], pa.float64()),
            "n_items": pa.array([r["n_items"] for r in requests], pa.int64()),
        }
    )
    offline = store.get_historical_features(entity_df=entity, features=features).to_arrow()
    online = store.get_online_features(features=features, entity_rows=requests).to_dict()
    return offline.to_pydict(), online


def assert_agree(offline: dict[str, list], online: dict[str, list], names: list[str]) -> None:
    for name in names:
        pairs = list(zip(offline[name], online[name], strict=True))
        assert all(same(a, b) for a, b in pairs), (name, pairs)


floats = st.one_of(
    st.none(),
    st.sampled_from([0.0, -0.0, 1.0, -2.5]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
ints = st.one_of(st.none(), st.sampled_from([0, 1, -1]), st.integers(-1000, 1000))
requests_values = st.one_of(st.none(), st.integers(-100, 100), floats)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    stats=st.fixed_dictionaries({u: st.tuples(floats, ints) for u in USERS}),
    amounts=st.lists(requests_values, min_size=len(USERS) + 1, max_size=len(USERS) + 1),
    items=st.lists(ints, min_size=len(USERS) + 1, max_size=len(USERS) + 1),
)
def test_training_set_equals_online_for_on_demand_features(
    stats: dict[int, tuple[float | None, int | None]],
    amounts: list[Any],
    items: list[int | None],
) -> None:
    now = now_utc()
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), now, stats)
        users = [*USERS, 99]  # 99 has no features: every input is NULL
        requests = [
            {"user_id": u, "amount": a, "n_items": n}
            for u, a, n in zip(users, amounts, items, strict=True)
        ]
        offline, online = offline_and_online(store, now, requests, ODF_NAMES)
        assert list(offline) == ["user_id", "event_timestamp", "amount", "n_items", *ODF_NAMES]
        assert_agree(offline, online, ODF_NAMES)
        # The inputs were fetched but not requested: not in either result.
        assert "lifetime_value" not in offline and "lifetime_value" not in online


def test_on_demand_values_types_and_order(tmp_path: Path, online_store_config: dict | None) -> None:
    now = now_utc()
    store = make_store(
        tmp_path, now, {1: (4.0, 3), 2: (0.0, None), 3: (None, 5)}, online_store_config
    )
    requests = [
        {"user_id": 1, "amount": 2, "n_items": 3},
        {"user_id": 2, "amount": 1.5, "n_items": 0},
        {"user_id": 3, "amount": None, "n_items": None},
        {"user_id": 7, "amount": 1.0, "n_items": 2},
    ]
    features = ["on_demand:bucket", "user_stats:lifetime_value", "spend_ratio", "per_item"]
    offline, online = offline_and_online(store, now, requests, features)
    names = ["bucket", "lifetime_value", "spend_ratio", "per_item"]
    assert list(offline)[-4:] == names
    assert list(online)[-4:] == names
    expected = {
        "spend_ratio": [0.5, None, None, None],
        "bucket": [3, None, 5, 2],  # 2 > 3 false: coalesce(3, ...); n_items = 0: NULL
        "lifetime_value": [4.0, 0.0, None, None],
        "per_item": [4, None, None, None],  # 4.0 / 3 + 3 = 4.33 -> 4
    }
    for name, values in expected.items():
        assert offline[name] == values, name
        assert online[name] == values, name
    assert_agree(offline, online, names)
    job = store.get_historical_features(
        entity_df=pa.table(
            {
                "user_id": [1],
                "event_timestamp": pa.array([now], pa.timestamp("us", tz="UTC")),
                "amount": [1.0],
            }
        ),
        features=["spend_ratio"],
    )
    assert job.to_arrow().schema.field("spend_ratio").type == pa.float64()
    assert "CAST(" in job.sql


def test_missing_request_column_offline(tmp_path: Path) -> None:
    now = now_utc()
    store = make_store(tmp_path, now, {1: (1.0, 1)})
    entity = pa.table(
        {"user_id": [1], "event_timestamp": pa.array([now], pa.timestamp("us", tz="UTC"))}
    )
    with pytest.raises(ProjectError, match=r"request column 'amount'.*'spend_ratio'") as err:
        store.get_historical_features(entity_df=entity, features=["spend_ratio"]).to_arrow()
    assert err.value.exit_code == 2


def test_missing_request_column_online(tmp_path: Path) -> None:
    now = now_utc()
    store = make_store(tmp_path, now, {1: (1.0, 1)})
    with pytest.raises(ProjectError, match=r"request column 'n_items'.*'bucket'"):
        store.get_online_features(features=["bucket"], entity_rows=[{"user_id": 1, "amount": 1.0}])
    # A request column present with a None value is a NULL, not an error.
    got = store.get_online_features(
        features=["bucket"], entity_rows=[{"user_id": 1, "amount": None, "n_items": None}]
    ).to_dict()
    assert got["bucket"] == [1]


def test_unknown_on_demand_reference(tmp_path: Path) -> None:
    store = make_store(tmp_path, now_utc(), {1: (1.0, 1)})
    with pytest.raises(ProjectError, match="no on-demand feature named 'nope'"):
        store.get_online_features(features=["on_demand:nope"], entity_rows=[{"user_id": 1}])


def test_a_feature_service_lists_an_on_demand_feature(tmp_path: Path) -> None:
    from fsql import FeatureStore
    from tests.support.project_factory import ViewSpec, make_project

    at = datetime(2026, 1, 1, tzinfo=UTC)
    spec = ViewSpec(
        "ltv",
        ["user"],
        [("value", "float64")],
        [{"user_id": 1, "event_timestamp": at, "value": 10.0}],
        online=True,
        key_types={"user_id": "int64"},
    )
    extra = {
        "models/more.yml": (
            "on_demand_features:\n"
            "  - name: share\n"
            "    type: float64\n"
            "    expression: amount / nullif(value, 0)\n"
            "    request_columns: [{name: amount, type: float64}]\n"
            "    inputs: [ltv:value]\n"
            "feature_services:\n"
            "  - name: scoring\n"
            "    features: [ltv:value, share, on_demand:share]\n"
        )
    }
    root = make_project(tmp_path / "p", [spec], {"user": ["user_id"]}, extra_files=extra)
    with FeatureStore(project_dir=root) as store:
        store.run(end=at)
        got = store.get_online_features(
            feature_service="scoring", entity_rows=[{"user_id": 1, "amount": 5.0}]
        ).to_dict()
    assert got["value"] == [10.0] and got["share"] == [0.5]
