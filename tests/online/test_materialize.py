"""Materialization: watermarks move only after the write, stale definitions start over."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fsql import FeatureStore
from fsql.errors import RunError
from tests.support.project_factory import ViewSpec, make_project

NOW = datetime.now(UTC).replace(microsecond=0)


def _project(root: Path, online_store_config: dict | None, value_sql: str = "spend") -> Path:
    rows = [
        {"user_id": 1, "event_timestamp": NOW - timedelta(hours=3), "spend": 1.0},
        {"user_id": 1, "event_timestamp": NOW - timedelta(hours=1), "spend": 2.0},
        {"user_id": 2, "event_timestamp": NOW - timedelta(hours=2), "spend": 5.0},
    ]
    sql = (
        f"select user_id, event_timestamp, {value_sql} as spend "
        "from {{ source('raw', 'spend_raw') }}"
    )
    view = ViewSpec("spend", ["user"], [("spend", "float64")], rows, ttl="1d", online=True, sql=sql)
    return make_project(root, [view], {"user": ["user_id"]}, online_store=online_store_config)


def _read(store: FeatureStore) -> list[float | None]:
    return store.get_online_features(["spend:spend"], [{"user_id": 1}, {"user_id": 2}]).to_dict()[
        "spend"
    ]


def test_range_then_incremental_moves_watermark(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    root = _project(tmp_path / "p", online_store_config)
    with FeatureStore(project_dir=root) as store:
        end = NOW - timedelta(minutes=150)
        [result] = store.materialize(NOW - timedelta(days=1), end)
        assert result.rows == 1
        assert _read(store) == [1.0, None]
        assert store.online.get_state("spend").watermark == end
        [result] = store.materialize_incremental(NOW)
        assert result.rows == 2
        assert _read(store) == [2.0, 5.0]
        assert store.online.get_state("spend").watermark == NOW
        # An older range does not move the watermark back, nor the values.
        store.materialize(NOW - timedelta(days=1), end)
        assert store.online.get_state("spend").watermark == NOW
        assert _read(store) == [2.0, 5.0]


def test_failed_run_moves_no_watermark_and_rerun_completes(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    root = _project(tmp_path / "p", online_store_config)
    with FeatureStore(project_dir=root) as store:
        store.materialize(None, NOW - timedelta(minutes=150))
        before = store.online.get_state("spend")
        store.offline.execute("DROP TABLE spend")
        store.offline.execute("CREATE TABLE spend AS SELECT 1 AS user_id")  # broken table
        store.offline.execute(
            "UPDATE fsql_build_state SET content_hash = content_hash"  # still "current"
        )
        with pytest.raises(RunError, match="materializing view 'spend' failed"):
            store.materialize_incremental(NOW)
        assert store.online.get_state("spend") == before
        assert _read(store) == [1.0, None]
        store.build(["spend"])
        store.materialize_incremental(NOW)
        assert _read(store) == [2.0, 5.0]


def test_changed_definition_rematerializes_from_scratch(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    root = _project(tmp_path / "p", online_store_config)
    with FeatureStore(project_dir=root) as store:
        store.materialize(None, NOW)
        assert _read(store) == [2.0, 5.0]
    _project(root, online_store_config, value_sql="spend * 10")
    with FeatureStore(project_dir=root) as store:
        [result] = store.materialize_incremental(NOW)
        assert "definition changed" in result.reason
        assert _read(store) == [20.0, 50.0]


def test_run_state_lives_in_the_online_store(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    root = _project(tmp_path / "p", online_store_config)
    with FeatureStore(project_dir=root) as store:
        store.materialize(None, NOW - timedelta(hours=2))
    # A fresh checkout has no target/compiled or manifest: the state must not depend on them.
    for leftover in (root / "target" / "compiled", root / "target" / "manifest.json"):
        assert not leftover.exists()
    with FeatureStore(project_dir=root) as store:
        state = store.online.get_state("spend")
        assert state is not None and state.watermark == NOW - timedelta(hours=2)


def test_run_does_not_import_pandas(tmp_path: Path, online_store_config: dict | None) -> None:
    # Importing pandas costs about half a second, more than a small `fsql run` itself:
    # pyarrow pulls it in on the first Python-to-Arrow conversion, so the write paths
    # build their Arrow scalars from buffers instead.
    root = _project(tmp_path, online_store_config)
    probe = (
        "import sys\n"
        "from fsql import FeatureStore\n"
        f"built, results = FeatureStore(project_dir={str(root)!r}).run()\n"
        "assert sum(r.rows for r in results) == 2, results\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_incremental_run_picks_up_late_rows_by_created_time(
    tmp_path: Path, online_store_config: dict | None
) -> None:
    # A late row: its event time is long before the watermark (and the 1h lookback), but
    # it was created after the last run. Comparing on created time finds it; newest-wins
    # keeps a stored value that is newer. The view is `incremental`: its table is merged
    # into, not rebuilt, so online rows stay a valid base (a `table` view rebuilt from
    # changed inputs is materialized in full instead).
    first = NOW - timedelta(hours=2)
    rows = [
        {
            "user_id": 1,
            "event_timestamp": NOW - timedelta(hours=5),
            "created_ts": first,
            "spend": 1.0,
        },
        {
            "user_id": 2,
            "event_timestamp": NOW - timedelta(hours=3),
            "created_ts": first,
            "spend": 2.0,
        },
    ]
    view = ViewSpec(
        "spend",
        ["user"],
        [("spend", "float64")],
        rows,
        ttl="1d",
        online=True,
        created_col="created_ts",
        extra_yaml={"lookback": "1h", "materialized": "incremental"},
    )
    root = make_project(
        tmp_path / "p", [view], {"user": ["user_id"]}, online_store=online_store_config
    )
    with FeatureStore(project_dir=root) as store:
        [result] = store.materialize(None, first)
        assert result.rows == 2 and _read(store) == [1.0, 2.0]
    late = [
        {
            "user_id": 1,
            "event_timestamp": NOW - timedelta(hours=4),
            "created_ts": NOW,
            "spend": 10.0,
        },  # newer version of user 1, arrived late
        {
            "user_id": 2,
            "event_timestamp": NOW - timedelta(hours=6),
            "created_ts": NOW,
            "spend": 20.0,
        },  # late but older than what is stored: must not win
    ]
    make_project(
        tmp_path / "p",
        [dataclasses.replace(view, rows=rows + late)],
        {"user": ["user_id"]},
        online_store=online_store_config,
    )
    with FeatureStore(project_dir=root) as store:
        store.build(["spend"])
        [result] = store.materialize_incremental(NOW + timedelta(minutes=1))
        assert "rows created from" in result.reason
        assert result.rows == 2  # both late rows offered, though their events are old
        assert _read(store) == [10.0, 2.0]


def test_run_killed_before_the_watermark_moves_reruns_to_the_same_state(
    tmp_path: Path, online_store_config: dict | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The online write lands, then the process dies before the watermark is recorded:
    # the watermark must still be the old one, and re-running gives the state a clean
    # run gives (newest-wins makes the repeated write harmless).
    root = _project(tmp_path / "p", online_store_config)
    end = NOW - timedelta(minutes=150)
    with FeatureStore(project_dir=root) as store:
        store.materialize(None, end)
        before = store.online.get_state("spend")

        def killed(self: object, *args: object) -> None:
            raise KeyboardInterrupt  # as a kill between the write and the state update

        monkeypatch.setattr(type(store.online), "set_state", killed)
        with pytest.raises(KeyboardInterrupt):
            store.materialize_incremental(NOW)
        monkeypatch.undo()
        assert store.online.get_state("spend") == before  # nothing recorded
        assert _read(store) == [2.0, 5.0]  # the write itself had landed
    shutil.rmtree(root / "target" / "compiled", ignore_errors=True)  # a fresh checkout
    with FeatureStore(project_dir=root) as store:
        [result] = store.materialize_incremental(NOW)
        assert result.start == end  # still from the old watermark (no lookback)
        assert _read(store) == [2.0, 5.0]
        assert store.online.get_state("spend").watermark == NOW
