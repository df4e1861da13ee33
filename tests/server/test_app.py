"""`fsql serve` as a real process over the example project, on SQLite and Redis, spoken
to over raw HTTP: the values are the Python API's, the statuses and times Feast's, and
every bad request a 4xx JSON body naming the problem."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from fsql.store import FeatureStore
from tests.conftest import copy_example
from tests.support import redis_servers
from tests.support.feature_server import Server, run_project, serve_command, start, stop
from tests.support.project_files import log_service


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The example project, run, then served. user_features gets a 30-day TTL, so that
    its rows (the data ends in March 2026) are past it: OUTSIDE_MAX_AGE."""
    project = copy_example(tmp_path_factory.mktemp("serve") / "shop")
    user_yml = project / "models" / "user" / "user.yml"
    user_yml.write_text(user_yml.read_text().replace("ttl: 3650d", "ttl: 30d"))
    log_service(project, "checkout_model")
    with redis_servers.online_of(request.param, project):
        run_project(project)
        server = start(project)
        try:
            yield server
        finally:
            stop(server)


def _api(
    project: Path, features: list[str] | None, rows: list[dict[str, Any]], **kw: Any
) -> dict[str, list[Any]]:
    store = FeatureStore(project)
    try:
        return store.get_online_features(features, rows, **kw).to_dict()
    finally:
        store.close()


def _columns(doc: dict[str, Any]) -> dict[str, list[Any]]:
    names = doc["metadata"]["feature_names"]
    return {name: result["values"] for name, result in zip(names, doc["results"], strict=True)}


def test_a_service_reads_as_the_python_api_does(served: Server) -> None:
    entities = {"user_id": [7, 13, 999], "item_id": [1003, 1004, 1005]}
    doc = served.read({"feature_service": "churn_model", "entities": entities})
    rows = [
        dict(zip(entities, values, strict=True)) for values in zip(*entities.values(), strict=True)
    ]
    want = _api(served.project, None, rows, feature_service="churn_model")
    got = _columns(doc)
    assert list(got) == list(want)  # join keys first, then the features in service order
    for name, values in want.items():
        if name not in (
            "user_30d_purchase_count",
            "item_purchase_count_7d",
            "item_purchase_rate_7d",
        ):
            assert got[name] == values, name
    # Floats stay floats in JSON (Feast's client types values by their JSON type).
    raw = served.call(
        "POST", "/get-online-features", {"feature_service": "churn_model", "entities": entities}
    )
    assert isinstance(raw[1]["results"][list(got).index("item_avg_rating")]["values"][0], float)


def test_statuses_and_event_times_are_feasts(served: Server) -> None:
    # A row for user 7 a day older than the 30-day TTL: stored, but past its max age.
    old = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(days=31)
    row = {
        "user_id": [7],
        "event_timestamp": [str(old)],
        "created_timestamp": [str(old)],
        "user_lifetime_value": [1.5],
        "user_order_days": [1],
    }
    status, doc, _ = served.call("POST", "/push", {"push_source_name": "user_features", "df": row})
    assert status == 200, doc
    doc = served.read(
        {
            "features": ["item_features:item_category", "user_features:user_lifetime_value"],
            "entities": {"user_id": [7, 999], "item_id": [1003, 99999]},
        }
    )
    assert doc["metadata"]["feature_names"] == [
        "user_id",
        "item_id",
        "item_category",
        "user_lifetime_value",
    ]
    keys, items, category, value = doc["results"]
    assert keys == {
        "values": [7, 999],
        "statuses": ["PRESENT", "PRESENT"],
        "event_timestamps": ["1970-01-01T00:00:00Z"] * 2,
    }
    assert items["values"] == [1003, 99999]
    assert category["values"] == ["books", None]
    assert category["statuses"] == ["PRESENT", "NOT_FOUND"]
    assert category["event_timestamps"][1] == "1970-01-01T00:00:00Z"
    stamp = category["event_timestamps"][0]
    assert stamp.endswith("Z") and datetime.fromisoformat(stamp[:-1]) > datetime(2026, 1, 1)
    assert value["values"] == [None, None]
    assert value["statuses"] == ["OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert value["event_timestamps"] == [old.isoformat() + "Z", "1970-01-01T00:00:00Z"]


def test_full_feature_names(served: Server) -> None:
    doc = served.read(
        {
            "features": ["item_features:item_category"],
            "entities": {"item_id": [1003]},
            "full_feature_names": True,
        }
    )
    assert doc["metadata"]["feature_names"] == ["item_id", "item_features__item_category"]


def test_a_push_is_served_at_once(served: Server) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    clicks = {
        "user_id": [41, 41],
        "event_timestamp": [str(now - timedelta(minutes=2)), str(now - timedelta(minutes=1))],
        "quantity": [2, 3],
    }
    status, doc, _ = served.call("POST", "/push", {"push_source_name": "user_cart", "df": clicks})
    assert (status, doc) == (200, {"view": "user_cart", "rows": 2})
    got = _columns(
        served.read({"features": ["user_cart:cart_items_added_5m"], "entities": {"user_id": [41]}})
    )
    assert got["cart_items_added_5m"] == [5]


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/get-online-features", b"{not json", 400, "not JSON"),
        ("/get-online-features", [1, 2], 400, "JSON object"),
        ("/get-online-features", {"entities": {"user_id": [7]}}, 400, "'features'"),
        (
            "/get-online-features",
            {"features": ["nope:x"], "entities": {"user_id": [7]}},
            400,
            "unknown feature view 'nope'",
        ),
        (
            "/get-online-features",
            {"features": ["user_features:nope"], "entities": {"user_id": [7]}},
            400,
            "nope",
        ),
        (
            "/get-online-features",
            {"feature_service": "nope", "entities": {"user_id": [7]}},
            400,
            "nope",
        ),
        (
            "/get-online-features",
            {"features": ["item_features:item_category"], "entities": {"item_id": [1.5]}},
            400,
            "got float 1.5",
        ),
        (
            "/get-online-features",
            {"features": ["item_features:item_category"], "entities": {"item_id": ["1003"]}},
            400,
            "item_id",
        ),
        (
            "/get-online-features",
            {"features": ["item_features:item_category"], "entities": {"user_id": [7]}},
            400,
            "item_id",
        ),
        (
            "/get-online-features",
            {
                "features": ["item_features:item_category"],
                "entities": {"item_id": [1, 2], "user_id": [7]},
            },
            400,
            "differ in length",
        ),
        (
            "/push",
            {"push_source_name": "nope", "df": {"user_id": [1]}},
            400,
            "no view named 'nope'",
        ),
        ("/push", {"push_source_name": "user_cart", "df": {"user_id": [1]}}, 400, "user_cart"),
        (
            "/push",
            {"push_source_name": "user_cart", "df": {"user_id": [1]}, "to": "offline"},
            400,
            "offline",
        ),
        ("/materialize", {"end_ts": "2026-01-01"}, 400, "start_ts"),
        ("/materialize-incremental", {"end_ts": "yesterday-ish"}, 400, "not a timestamp"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(
    served: Server, path: str, body: Any, status: int, needle: str
) -> None:
    got, doc, kind = served.call("POST", path, body)
    assert (got, kind) == (status, "application/json"), doc
    assert needle in doc["detail"], doc
    assert "Traceback" not in doc["detail"]


def test_unknown_paths_and_methods_answer_json(served: Server) -> None:
    assert served.call("GET", "/nope")[:2] == (404, {"detail": "GET /nope: Not Found"})
    status, doc, _ = served.call("GET", "/get-online-features")
    assert status == 405 and "Method Not Allowed" in doc["detail"]


def test_metrics_count_requests_errors_and_freshness(served: Server) -> None:
    served.call("POST", "/get-online-features", b"{")
    served.read({"features": ["item_features:item_category"], "entities": {"item_id": [1003]}})
    status, text, kind = served.call("GET", "/metrics")
    assert status == 200 and kind.startswith("text/plain")
    lines = text.splitlines()

    def value(prefix: str) -> float:
        found = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix)]
        assert len(found) == 1, prefix
        return found[0]

    assert value('fsql_requests_total{code="200",endpoint="/get-online-features"}') >= 1
    assert value('fsql_request_errors_total{endpoint="/get-online-features",kind="client"}') >= 1
    assert value('fsql_request_duration_seconds_count{endpoint="/get-online-features"}') >= 2
    assert value('fsql_view_freshness_failing{status="fresh",view="item_features"}') == 0
    assert value('fsql_view_materialized_age_seconds{view="item_features"}') >= 0


def test_materialize_over_http_then_the_cli_can_use_the_engine(served: Server) -> None:
    end = datetime.now(UTC).replace(microsecond=0).isoformat()
    status, doc, _ = served.call(
        "POST", "/materialize-incremental", {"end_ts": end, "feature_views": ["item_features"]}
    )
    assert status == 200 and [v["view"] for v in doc["views"]] == ["item_features"], doc
    # The server let go of the DuckDB file: another process can open it now.
    done = subprocess.run(
        [sys.executable, "-m", "fsql.cli.main", "freshness", "--project-dir", str(served.project)],
        capture_output=True,
        text=True,
        env={**os.environ, "FSQL_NO_COLOR": "1"},
    )
    assert "item_features" in done.stdout, done.stderr


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "shop")
    run_project(project)
    server = start(project, "--workers", "2")
    assert server.read(
        {"features": ["item_features:item_category"], "entities": {"item_id": [1003]}}
    )
    began = time.monotonic()
    assert stop(server) == 0
    assert time.monotonic() - began < 15


def test_a_broken_project_fails_before_serving(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "shop")
    (project / "models" / "user" / "user.yml").write_text("feature_views: [{name: 1}]\n")
    done = subprocess.run(
        serve_command(project, redis_servers.free_port()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "models/user/user.yml" in done.stderr and "Traceback" not in done.stderr


def test_served_vectors_of_a_logged_service_reach_its_log(served: Server) -> None:
    body = {
        "feature_service": "checkout_model",
        "entities": {"user_id": [7, 13], "cart_amount": [10.0, 20.0]},
    }
    for _ in range(3):
        served.read(body)

    def written() -> float:
        text = served.call("GET", "/metrics")[1]
        line = next(
            x for x in text.splitlines() if 'fsql_feature_log_rows_total{state="written"}' in x
        )
        return float(line.rsplit(" ", 1)[1])

    deadline = time.monotonic() + 20
    while written() < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert written() >= 6
    # The writer let go of the DuckDB file: another process reads the log.
    with duckdb.connect(str(served.project / "target" / "fsql.duckdb"), read_only=True) as con:
        rows = con.sql(
            "select user_id, cart_amount, __fsql_service from checkout_model__log"
        ).fetchall()
    assert sorted(rows)[:2] == [(7, 10.0, "checkout_model")] * 2
    assert len(rows) >= 6
