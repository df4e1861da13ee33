"""FeatureStore: built once, it serves reads without parsing or compiling anything."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from fsql import FeatureStore
from fsql.errors import ProjectError
from fsql.execute.outputs import read_training_meta
from tests.support.project_factory import ViewSpec, make_project

NOW = datetime.now(UTC).replace(microsecond=0)


def _project(root: Path) -> Path:
    rows = [
        {"user_id": 1, "event_timestamp": NOW - timedelta(hours=2), "spend": 1.5},
        {"user_id": 1, "event_timestamp": NOW - timedelta(hours=1), "spend": 2.5},
        {"user_id": 2, "event_timestamp": NOW - timedelta(days=3), "spend": 9.0},
    ]
    view = ViewSpec("spend", ["user"], [("spend", "float64")], rows, ttl="1d", online=True)
    return make_project(root, [view], {"user": ["user_id"]})


def test_reads_need_no_project_files_after_construction(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    store = FeatureStore(project_dir=root)
    store.materialize(None, NOW)
    entity_df = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [NOW, NOW]})
    expected = store.get_historical_features(entity_df, ["spend:spend"]).to_df()
    # The definitions were parsed and compiled once: removing the sources of the project
    # must not matter to reads served by the same store.
    shutil.rmtree(root / "models")
    (root / "fsql_project.yml").unlink()
    online = store.get_online_features(["spend:spend"], [{"user_id": 1}, {"user_id": 2}])
    assert online.to_dict() == {"user_id": [1, 2], "spend": [2.5, None]}
    again = store.get_historical_features(entity_df, ["spend:spend"]).to_df()
    pd.testing.assert_frame_equal(expected, again)
    assert again["spend"].tolist()[0] == 2.5 and pd.isna(again["spend"].tolist()[1])
    store.close()


def test_job_exposes_sql_before_running_and_writes_parquet(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    with FeatureStore(project_dir=root) as store:
        entity_df = pd.DataFrame({"user_id": [2, 1], "event_timestamp": [NOW, NOW]})
        job = store.get_historical_features(entity_df, features=["spend"])
        assert "ASOF LEFT JOIN" in job.sql
        out = job.to_parquet(tmp_path / "out" / "train.parquet")
        frame = pd.read_parquet(out)
        assert frame["user_id"].tolist() == [2, 1]
        assert job.to_arrow().num_rows == 2
        # The API writes the same checkable sidecar as the CLI.
        meta = read_training_meta(out)
        assert meta["features"] == ["spend"] and meta["row_count"] == 2
        assert meta["entities"] == "entity table" and meta["sql"] == job.sql
        assert meta["views"]["spend"] == store.project.views["spend"].content_hash
        csv = job.write(tmp_path / "out" / "train.csv")
        assert read_training_meta(csv)["data_file"]["format"] == "csv"


def test_feature_service_and_unknown_names(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    (root / "models" / "services.yml").write_text(
        "feature_services:\n  - name: svc\n    features: [spend:spend]\n"
    )
    with FeatureStore(project_dir=root) as store:
        entity_df = pd.DataFrame({"user_id": [1], "event_timestamp": [NOW]})
        frame = store.get_historical_features(entity_df, feature_service="svc").to_df()
        assert frame["spend"].tolist() == [2.5]
        with pytest.raises(ProjectError, match="no feature service named 'nope'"):
            store.get_historical_features(entity_df, feature_service="nope")
        with pytest.raises(ProjectError, match="unknown feature view"):
            store.get_online_features(["nope:x"], [{"user_id": 1}])
        with pytest.raises(ProjectError, match="no join key 'user_id'"):
            store.get_online_features(["spend:spend"], [{"uid": 1}])


JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def _online_spend(root: Path) -> Path:
    """One online view with one row on 2026-01-01, no TTL."""
    row = {"user_id": 1, "event_timestamp": JAN_1, "spend": 1.0}
    spec = ViewSpec("spend", ["user"], [("spend", "float64")], [row], online=True)
    return make_project(root, [spec], {"user": ["user_id"]})


def test_times_as_strings_and_now_on_every_path(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fsql.cli.main import cli

    root = _online_spend(tmp_path / "p")
    with FeatureStore(project_dir=root) as store:
        [done] = store.materialize("2025-12-01", "2026-01-02T00:00:00Z")
        assert done.end == datetime(2026, 1, 2, tzinfo=UTC) and done.rows == 1
        [later] = store.materialize_incremental("now")
        assert later.end.year >= 2026
        assert store.freshness(now="now")[0].status in ("fresh", "unscheduled")
        with pytest.raises(ProjectError, match="END 'tomorrow' is not a timestamp"):
            store.materialize_incremental("tomorrow")
    result = CliRunner().invoke(cli, ["materialize-incremental", "now", "--project-dir", str(root)])
    assert result.exit_code == 0, result.output


def test_push_refuses_an_in_memory_offline_engine(tmp_path: Path) -> None:
    import pyarrow as pa
    import yaml

    at = JAN_1
    root = _online_spend(tmp_path / "p")
    profiles = yaml.safe_load((root / "profiles.yml").read_text())
    for outputs in profiles.values():
        outputs["outputs"]["dev"]["offline"] = {"type": "duckdb"}  # no path: in memory
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))
    with FeatureStore(project_dir=root) as store:
        with pytest.raises(ProjectError, match="in-memory DuckDB") as caught:
            store.push("spend", pa.table({"user_id": [1], "event_timestamp": [at], "spend": [2.0]}))
        assert caught.value.exit_code == 2 and "path:" in caught.value.render()
        assert store.online.namespace("spend") is None  # nothing written online either
