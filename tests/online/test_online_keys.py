"""Entity keys of online reads are checked like training-set keys, on every store.

SPEC §2/§4: a key of the wrong type is an error, not a silent NULL; numpy scalars count
as the Python values they hold; SQLite and Redis return the same values for the same
data. The same message names the key and the view whichever path the key came in by.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from fsql import FeatureStore
from fsql.cli.main import cli
from fsql.errors import ProjectError
from tests.support.project_factory import ViewSpec, make_project

NOW = datetime.now(UTC).replace(microsecond=0)


def _project(root: Path, online: dict[str, Any] | None) -> Path:
    rows = [
        {"user_id": 1001, "event_timestamp": NOW - timedelta(hours=1), "score": 1.5, "tag": "a"},
        {
            "user_id": 1002,
            "event_timestamp": NOW - timedelta(hours=1),
            "score": math.nan,
            "tag": None,
        },
        {"user_id": 1003, "event_timestamp": NOW - timedelta(hours=1), "score": None, "tag": "c"},
    ]
    spec = ViewSpec(
        "stats",
        ["user"],
        [("score", "float64"), ("tag", "string")],
        rows,
        online=True,
        key_types={"user_id": "int64"},
    )
    return make_project(root, [spec], {"user": ["user_id"]}, online_store=online)


@pytest.fixture
def store(tmp_path: Path, online_store_config: dict[str, Any] | None) -> Any:
    root = _project(tmp_path / "p", online_store_config)
    with FeatureStore(project_dir=root) as fs:
        fs.run()
        yield fs


def _read(store: FeatureStore, key: Any) -> dict[str, list[Any]]:
    return store.get_online_features(
        features=["stats:score", "stats:tag"], entity_rows=[{"user_id": key}]
    ).to_dict()


@pytest.mark.parametrize("key", ["1001", 1001.0, True, b"1001"])
def test_a_key_of_the_wrong_type_is_an_error(store: FeatureStore, key: Any) -> None:
    with pytest.raises(ProjectError, match="join key 'user_id' of view 'stats' is an integer"):
        _read(store, key)


@pytest.mark.parametrize("key", [np.int64(1001), np.int32(1001), np.uint16(1001), 1001])
def test_numpy_integers_are_their_values(store: FeatureStore, key: Any) -> None:
    assert _read(store, key)["score"] == [1.5]


@pytest.mark.parametrize("key", [2**63, -(2**63) - 1, 10**25, np.uint64(2**64 - 1)])
def test_an_integer_beyond_64_bits_is_an_error(store: FeatureStore, key: Any) -> None:
    with pytest.raises(ProjectError, match="outside the 64-bit integer range"):
        _read(store, key)
    assert _read(store, 2**63 - 1)["score"] == [None]  # the largest key is a key


def test_null_keys_read_null_features(store: FeatureStore) -> None:
    for key in (None, math.nan, np.float64("nan")):
        assert _read(store, key)["score"] == [None]


def test_nan_null_and_values_come_back_as_stored(store: FeatureStore) -> None:
    got = store.get_online_features(
        features=["stats:score", "stats:tag"],
        entity_rows=[{"user_id": k} for k in (1001, 1002, 1003, 4)],
    ).to_dict()
    assert got["tag"] == ["a", None, "c", None]
    score = got["score"]
    assert score[0] == 1.5 and type(score[0]) is float
    assert isinstance(score[1], float) and math.isnan(score[1])  # NaN, not NULL
    assert score[2] is None and score[3] is None


def _get_online(store: FeatureStore, *entities: str) -> Any:
    args = ["get-online", "--project-dir", str(store.project.root), "--features", "stats:score"]
    for entity in entities:
        args += ["--entity", entity]
    return CliRunner().invoke(cli, args)


def test_cli_wrong_key_type_exits_2_naming_the_key(store: FeatureStore) -> None:
    result = _get_online(store, "user_id=abc")
    assert result.exit_code == 2
    assert "join key 'user_id' of view 'stats' is an integer key; got string 'abc'" in (
        result.stderr
    )
    ok = _get_online(store, "user_id=1001")
    assert ok.exit_code == 0 and "1.5" in ok.stdout


def test_reading_an_offline_only_view_online_is_an_error(tmp_path: Path) -> None:
    spec = ViewSpec(
        "hist",
        ["user"],
        [("score", "float64")],
        [{"user_id": 1, "event_timestamp": NOW - timedelta(hours=1), "score": 1.0}],
        key_types={"user_id": "int64"},
    )
    root = make_project(tmp_path / "p", [spec], {"user": ["user_id"]})
    with FeatureStore(project_dir=root) as store:
        with pytest.raises(ProjectError, match="view 'hist' is not online"):
            store.get_online_features(features=["hist:score"], entity_rows=[{"user_id": 1}])


def test_cli_entity_values_are_taken_as_given(store: FeatureStore) -> None:
    twice = _get_online(store, "user_id=1001", "user_id=1002")
    assert twice.exit_code == 2 and "--entity user_id is given twice" in twice.stderr
    spaced = _get_online(store, "user_id= 1001")  # a string with a space: not the int key
    assert spaced.exit_code == 2 and "got string ' 1001'" in spaced.stderr
