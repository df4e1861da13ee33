"""Served vectors of a logged service reach `<service>__log` on the offline engine: one
row per served entity row, with its request time, keys and values as served; reads
never wait for the writer."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from fsql.store import FeatureStore
from tests.conftest import copy_example
from tests.support.project_files import log_service

ROWS = [
    {"user_id": 7, "item_id": 1003},
    {"user_id": 13, "item_id": 1021},
    {"user_id": 999, "item_id": 1},
]


def _logged_project(root: Path) -> Path:
    project = copy_example(root)
    log_service(project, "churn_model")
    return project


def test_served_rows_are_logged_with_their_time_keys_and_values(tmp_path: Path) -> None:
    project = _logged_project(tmp_path / "shop")
    at = datetime(2026, 3, 31, 12, tzinfo=UTC)
    with FeatureStore(project) as store:
        store.run()
        first = store.get_online_features(None, ROWS, "churn_model", now=at).to_dict()
        # Full feature names are logged under the service's own names all the same.
        second = store.get_online_features(None, ROWS[:1], "churn_model", True, now=at)
        assert "item_features__item_category" in second.to_dict()
        # Not a logged service: nothing logged.
        store.get_online_features(["item_features:item_category"], ROWS, now=at)
    with duckdb.connect(str(project / "target" / "fsql.duckdb"), read_only=True) as con:
        table = con.sql(
            "select * from churn_model__log order by __fsql_request_time, user_id"
        ).to_arrow_table()
    assert table.num_rows == 4
    logged = table.to_pylist()
    assert {r["__fsql_service"] for r in logged} == {"churn_model"}
    assert {r["__fsql_request_time"] for r in logged} == {at}
    names = [n for n in table.column_names if not n.startswith("__fsql")]
    assert names == list(first)  # keys, then the features in the service's order
    served = [{n: first[n][i] for n in names} for i in range(len(ROWS))]
    for row in logged:  # each logged row is the served row of its keys
        want = next(
            v for v in served if (v["user_id"], v["item_id"]) == (row["user_id"], row["item_id"])
        )
        assert {n: row[n] for n in names} == want
    assert sorted(r["user_id"] for r in logged) == [7, 7, 13, 999]


def test_a_read_never_waits_for_the_log_writer(tmp_path: Path) -> None:
    project = _logged_project(tmp_path / "shop")
    with FeatureStore(project) as store:
        store.run()
        store.get_online_features(None, ROWS, "churn_model")  # connections open
        held = threading.Event()
        release = threading.Event()

        def writer_mid_write() -> None:
            with store._lock:  # what the writer holds while the engine appends
                held.set()
                release.wait(30)

        thread = threading.Thread(target=writer_mid_write)
        thread.start()
        try:
            assert held.wait(10)
            began = time.perf_counter()
            for _ in range(50):
                store.get_online_features(None, ROWS, "churn_model")
            assert time.perf_counter() - began < 5
        finally:
            release.set()
            thread.join(10)
