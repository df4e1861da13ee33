"""Feast's own Python SDK (0.67, in .venvs/feast, made by scripts/emulators.sh) as the
client of `fsql serve`: its `remote` online store reads the example project's features
and gets exactly what fsql's Python API returns."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsql.store import FeatureStore
from tests.conftest import REPO, copy_example
from tests.support.engines import unavailable
from tests.support.feature_server import Server, run_project, start, stop

FEAST_PYTHON = REPO / ".venvs" / "feast" / "bin" / "python"
# Run by Feast's interpreter: a feature repo whose online store is the server, then
# get_online_features as a Feast user writes it; prints to_dict() as JSON.
CLIENT = """
import json, sys
from pathlib import Path
from feast import FeatureStore
port, features, rows, full = json.loads(sys.argv[1])
repo = Path(sys.argv[2])
(repo / "data").mkdir(parents=True, exist_ok=True)
(repo / "feature_store.yaml").write_text(
    "project: shop\\nprovider: local\\nregistry: data/registry.db\\n"
    f"online_store:\\n  type: remote\\n  path: http://127.0.0.1:{port}\\n"
    "entity_key_serialization_version: 3\\n"
)
store = FeatureStore(repo_path=str(repo))
got = store.get_online_features(features=features, entity_rows=rows, full_feature_names=full)
print(json.dumps(got.to_dict()))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not FEAST_PYTHON.exists():
        unavailable("feast", "Feast's SDK is not installed: run scripts/emulators.sh")
    project = copy_example(tmp_path_factory.mktemp("feast") / "shop")
    run_project(project)
    server = start(project)
    try:
        yield server
    finally:
        stop(server)


def _feast(
    server: Server, tmp: Path, features: list[str], rows: list[dict[str, Any]], full: bool
) -> dict[str, list[Any]]:
    done = subprocess.run(
        [
            str(FEAST_PYTHON),
            "-c",
            CLIENT,
            json.dumps([server.port, features, rows, full]),
            str(tmp),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


FEATURES = [
    "item_features:item_avg_rating",
    "item_features:item_review_count",
    "item_features:item_category",
    "user_features:user_lifetime_value",
    "user_features:user_order_days",
    "user_orders:user_30d_purchase_count",
]
ROWS = [
    {"user_id": 7, "item_id": 1003},
    {"user_id": 13, "item_id": 1021},
    {"user_id": 999, "item_id": 99999},  # neither known
]


@pytest.mark.parametrize("full", [False, True])
def test_feasts_sdk_reads_what_the_python_api_returns(
    served: Server, tmp_path: Path, full: bool
) -> None:
    got = _feast(served, tmp_path, FEATURES, ROWS, full)
    store = FeatureStore(served.project)
    try:
        want = store.get_online_features(FEATURES, ROWS, full_feature_names=full).to_dict()
    finally:
        store.close()
    assert got == want
    # The types survive the trip: floats as floats, integers as integers.
    rating = "item_features__item_avg_rating" if full else "item_avg_rating"
    count = "item_features__item_review_count" if full else "item_review_count"
    assert isinstance(got[rating][0], float) and isinstance(got[count][0], int)
    assert got[count][2] is None
