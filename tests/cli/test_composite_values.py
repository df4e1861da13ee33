"""Arrays, maps and JSON where users see them: `get-online --format json|csv`, training-set
files (parquet keeps them nested, CSV writes JSON text), pushes, and the feature server's
response (JSON features nested as values). On the universal repository's item
embeddings and driver configuration (tests/support/universal_repo.py)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fsql.store import FeatureStore
from tests.support import universal_repo as repo
from tests.support.cli_runs import fsql
from tests.support.feature_server import start, stop


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("composite") / "p"
    online = {"type": "sqlite", "path": str(root / "online.db")}
    repo.write_project(root, repo.views(), online)
    code, err = fsql(root, "run", "--select", "item_embeddings driver_config")
    assert code == 0, err
    return root


def _latest(view: str, key: str, value: int) -> dict:
    rows = [r for r in next(v for v in repo.views() if v.name == view).rows if r[key] == value]
    return max(rows, key=lambda r: r["event_timestamp"])


def test_get_online_prints_lists_dicts_and_nested_json(project: Path) -> None:
    code, out = fsql(
        project,
        "get-online",
        "--features",
        "item_embeddings,driver_config",
        "--entity",
        "item_id=50",
        "--entity",
        "driver_id=1001",
    )
    assert code == 0, out
    got = json.loads(out)
    item, config = (
        _latest("item_embeddings", "item_id", 50),
        _latest("driver_config", "driver_id", 1001),
    )
    assert got["embedding_float"] == item["embedding_float"]
    assert got["embedding_double"] == item["embedding_double"]
    assert got["limits"] == (None if config["limits"] is None else dict(config["limits"]))
    assert got["settings"] == json.loads(config["settings"])  # a value, not text

    code, out = fsql(
        project,
        "get-online",
        "--features",
        "item_embeddings:embedding_float",
        "--entity",
        "item_id=50",
        "--format",
        "csv",
    )
    assert code == 0, out
    header, line = out.strip().splitlines()
    assert header == "item_id,embedding_float"
    assert json.loads(next(iter(__import__("csv").reader([line])))[1]) == item["embedding_float"]


def test_training_set_files_keep_or_spell_nested_values(project: Path, tmp_path: Path) -> None:
    at = repo.START + repo.SPAN
    entities = tmp_path / "e.csv"
    entities.write_text(f"item_id,driver_id,event_timestamp\n50,1001,{at.isoformat()}\n")
    features = "item_embeddings:embedding_float,driver_config:limits,driver_config:settings"
    for suffix in ("parquet", "csv"):
        out = tmp_path / f"t.{suffix}"
        code, err = fsql(
            project,
            "build-training-set",
            "--entities",
            str(entities),
            "--features",
            features,
            "--output",
            str(out),
        )
        assert code == 0, err
    nested = pq.read_table(tmp_path / "t.parquet")
    assert pa.types.is_list(nested.schema.field("embedding_float").type)
    assert pa.types.is_map(nested.schema.field("limits").type)
    text = pacsv.read_csv(tmp_path / "t.csv")
    row = nested.to_pylist()[0]
    assert json.loads(text.column("embedding_float")[0].as_py()) == row["embedding_float"]
    assert json.loads(text.column("limits")[0].as_py()) == dict(row["limits"])
    assert text.column("settings")[0].as_py() == row["settings"]


def test_pushed_arrays_are_served_and_trained_on(project: Path, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    pushed = pa.table(
        {
            "item_id": [55],
            "event_timestamp": pa.array([now - timedelta(seconds=5)], pa.timestamp("us", "UTC")),
            "embedding_float": [[0.5, 0.25]],
            "embedding_double": pa.array(["[1e-3, 2]"]),  # JSON text is read too
        }
    )
    with FeatureStore(project) as store:
        assert store.push("item_embeddings", pushed) == 1
        got = store.get_online_features(["item_embeddings"], [{"item_id": 55}]).to_dict()
        assert got["embedding_float"] == [[0.5, 0.25]] and got["embedding_double"] == [[1e-3, 2.0]]
        entities = pa.table(
            {"item_id": [55], "event_timestamp": pa.array([now], pa.timestamp("us", "UTC"))}
        )
        trained = store.get_historical_features(entities, ["item_embeddings"]).to_arrow()
        assert trained.column("embedding_float").to_pylist() == [[0.5, 0.25]]
        bad = pushed.set_column(3, "embedding_double", pa.array(['{"a": 1}']))
        with pytest.raises(Exception, match="embedding_double"):
            store.push("item_embeddings", bad)


def test_the_feature_server_nests_json_and_lists(project: Path) -> None:
    server = start(project)
    try:
        body = json.dumps(
            {
                "features": ["driver_config:settings", "item_embeddings:embedding_float"],
                "entities": {"driver_id": [1001], "item_id": [50]},
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/get-online-features", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            doc = json.loads(answer.read())
    finally:
        stop(server)
    names = doc["metadata"]["feature_names"]
    values = {n: r["values"] for n, r in zip(names, doc["results"], strict=True)}
    config = _latest("driver_config", "driver_id", 1001)
    item = _latest("item_embeddings", "item_id", 50)
    assert values["settings"] == [json.loads(config["settings"])]
    assert values["embedding_float"] == [item["embedding_float"]]
