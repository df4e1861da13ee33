"""Push (SPEC §2, issue 7): rows served at once, newest wins, training sees them too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from fsql import FeatureStore
from fsql.cli.main import cli
from fsql.compile.views import push_log_name
from tests.support.oracle import OracleView, assert_rows_equal, pit_oracle
from tests.support.project_factory import ViewSpec, make_project, oracle_view

NOW = datetime.now(UTC).replace(microsecond=0)
H = timedelta(hours=1)
USER = {"user": ["user_id"]}
UTC_US = pa.timestamp("us", tz="UTC")

ROWS = [
    {"user_id": 1, "event_timestamp": NOW - 3 * H, "created_at": NOW - 3 * H, "spend": 1.0, "n": 1},
    {"user_id": 2, "event_timestamp": NOW - 2 * H, "created_at": NOW - 2 * H, "spend": 5.0, "n": 2},
]


def _project(root: Path, online_store_config: dict[str, Any] | None) -> Path:
    spend = ViewSpec(
        "spend",
        ["user"],
        [("spend", "float64"), ("n", "int64")],
        ROWS,
        ttl="1d",
        created_col="created_at",
        online=True,
    )
    offline_only = ViewSpec(
        "batch", ["user"], [("x", "int64")], [{"user_id": 1, "event_timestamp": NOW, "x": 1}]
    )
    return make_project(root, [spend, offline_only], USER, online_store=online_store_config)


def _rows(rows: list[dict[str, Any]], created: bool = True) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
        "event_timestamp": pa.array([r["event_timestamp"] for r in rows], UTC_US),
    }
    if created:
        columns["created_at"] = pa.array([r["created_at"] for r in rows], UTC_US)
    columns["spend"] = pa.array([r["spend"] for r in rows], pa.float64())
    columns["n"] = pa.array([r["n"] for r in rows], pa.int64())
    return pa.table(columns)


def _row(user: int, at: datetime, spend: float, n: int = 0) -> dict[str, Any]:
    return {"user_id": user, "event_timestamp": at, "created_at": at, "spend": spend, "n": n}


def _online(store: FeatureStore, users: list[int]) -> list[float | None]:
    rows = [{"user_id": u} for u in users]
    return store.get_online_features(["spend:spend"], rows).to_dict()["spend"]


def _log_rows(store: FeatureStore) -> int | None:
    name = push_log_name("spend")
    if store.offline.table_schema(name) is None:
        return None
    return store.offline.fetch_arrow(f"select * from {name}").num_rows


def test_push_is_served_at_once_and_newest_wins(
    tmp_path: Path, online_store_config: dict[str, Any] | None
) -> None:
    root = _project(tmp_path / "p", online_store_config)
    with FeatureStore(project_dir=root) as store:
        store.run(end=NOW)
        assert _online(store, [1, 2, 3]) == [1.0, 5.0, None]
        watermark = store.online.get_state("spend").watermark
        # Newer than the materialized row: served at once; a new key too.
        assert store.push("spend", _rows([_row(1, NOW - H, 7.0), _row(3, NOW - H, 3.0)])) == 2
        assert _online(store, [1, 2, 3]) == [7.0, 5.0, 3.0]
        # An older push never replaces a newer pushed value, nor a materialized one.
        store.push("spend", pd.DataFrame([_row(1, NOW - 2 * H, 9.0), _row(2, NOW - 5 * H, 8.0)]))
        assert _online(store, [1, 2, 3]) == [7.0, 5.0, 3.0]
        # Push does not move the watermark; a later run (view table only) erases nothing.
        assert store.online.get_state("spend").watermark == watermark
        store.run(end=NOW)
        assert _online(store, [1, 2, 3]) == [7.0, 5.0, 3.0]
        assert _log_rows(store) == 4


def test_pushed_rows_join_training_sets_at_the_right_time(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", None)
    pushed = [_row(1, NOW - 2 * H, 7.0, 7), _row(2, NOW - 30 * H, 9.0, 9)]
    no_created = [{**_row(1, NOW - H / 2, 4.0, 4), "created_at": None}]
    with FeatureStore(project_dir=root) as store:
        store.run(end=NOW)
        store.push("spend", _rows(pushed))
        store.push("spend", _rows(pushed))  # a retried push: duplicates change nothing
        store.push("spend", _rows(no_created, created=False))
        ents = [
            {"user_id": 1, "event_timestamp": NOW - timedelta(minutes=150)},  # before
            {"user_id": 1, "event_timestamp": NOW - 2 * H},  # at the pushed event time
            {"user_id": 1, "event_timestamp": NOW - H},  # after
            {"user_id": 1, "event_timestamp": NOW},  # after the NULL-created push
            {"user_id": 2, "event_timestamp": NOW - 29 * H},  # pushed row, inside TTL
            {"user_id": 2, "event_timestamp": NOW - 2 * H - timedelta(minutes=1)},  # TTL passed
            {"user_id": 2, "event_timestamp": NOW},  # the view's own row
            {"user_id": 3, "event_timestamp": NOW},
        ]
        frame = pd.DataFrame(ents).astype({"user_id": "Int64"})
        job = store.get_historical_features(frame, ["spend:spend", "spend:n"])
        out = job.to_df().to_dict(orient="records")
        assert "spend__push" in job.sql
    spec = ViewSpec(
        "spend",
        ["user"],
        [("spend", "float64"), ("n", "int64")],
        ttl="1d",
        created_col="created_at",
    )
    view: OracleView = oracle_view(spec, USER, [*ROWS, *pushed, *no_created])
    expected = pit_oracle(ents, [view], [("spend", "spend"), ("spend", "n")])
    assert [r["spend"] for r in expected] == [1.0, 7.0, 7.0, 4.0, 9.0, None, 5.0, None]
    assert_rows_equal(out, expected)


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--project-dir", str(root)])
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda t: t.drop_columns(["spend"]), "'spend'"),
        (lambda t: t.set_column(3, "spend", pa.array(["a"])), "'spend'"),
        (lambda t: t.append_column("extra", pa.array([1])), "extra"),
        (lambda t: t.set_column(1, "event_timestamp", pa.array([None], UTC_US)), "event_timestamp"),
        (None, "'batch'"),
    ],
    ids=["missing", "wrong-type", "extra", "null-time", "not-online"],
)
def test_schema_errors_exit_2_and_write_nothing(
    tmp_path: Path, online_store_config: dict[str, Any] | None, change: Any, named: str
) -> None:
    root = _project(tmp_path / "p", online_store_config)
    table = _rows([_row(7, NOW - H, 1.0)])
    view = "spend"
    if change is None:
        view, table = "batch", pa.table({"user_id": [7], "event_timestamp": table[1], "x": [1]})
    else:
        table = change(table)
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path)
    code, text = _cli(root, "push", view, str(path))
    assert code == 2, text
    assert named in text and len(text.strip().splitlines()) == 1, text
    with FeatureStore(project_dir=root) as store:
        assert _log_rows(store) is None
        assert _online(store, [7]) == [None]


def test_cli_push_csv_end_to_end(
    tmp_path: Path, online_store_config: dict[str, Any] | None
) -> None:
    root = _project(tmp_path / "p", online_store_config)
    path = tmp_path / "rows.csv"
    at = (NOW - H).strftime("%Y-%m-%d %H:%M:%S")
    path.write_text(f"user_id,event_timestamp,created_at,spend,n\n5,{at},,2,3\n6,{at},{at},2.5,\n")
    assert pacsv.read_csv(path).num_rows == 2
    code, text = _cli(root, "push", "spend", str(path))
    assert code == 0, text
    assert "2 rows pushed" in text
    with FeatureStore(project_dir=root) as store:
        assert _online(store, [5, 6]) == [2.0, 2.5]
        assert store.get_online_features(["spend:n"], [{"user_id": 6}]).to_dict()["n"] == [None]
        assert _log_rows(store) == 2
