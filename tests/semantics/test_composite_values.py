"""Array values (embeddings, lists) through every engine (SPEC §1 types): a training
set returns each chosen row's list as it is, NULL lists and empty lists kept apart, and
equal to the brute-force oracle; the same through the Snowflake and BigQuery plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from tests.support.engine_runners import ENGINES, Engine
from tests.support.oracle import pit_oracle
from tests.support.project_factory import ViewSpec, oracle_view

BASE = datetime(2024, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ENTITIES = {"item": ["item_id"]}
ROWS = [
    {"item_id": 1, "event_timestamp": BASE, "embedding": [0.25, -1.5, 3.0], "tags": ["a"]},
    {"item_id": 2, "event_timestamp": BASE, "embedding": [], "tags": None},
    {"item_id": 1, "event_timestamp": BASE + 2 * MINUTE, "embedding": None, "tags": ["b", "c"]},
    {"item_id": 3, "event_timestamp": BASE + MINUTE, "embedding": [1e-9, 2.5e10], "tags": []},
]
ENTITY_ROWS = [
    {"item_id": 1, "event_timestamp": BASE - MINUTE},
    {"item_id": 1, "event_timestamp": BASE + MINUTE},
    {"item_id": 2, "event_timestamp": BASE + MINUTE},
    {"item_id": 1, "event_timestamp": BASE + 3 * MINUTE},
    {"item_id": 3, "event_timestamp": BASE + 3 * MINUTE},
    {"item_id": 4, "event_timestamp": BASE + 3 * MINUTE},
]


# crucible-emulator loads CSV only, which holds no arrays: there the arrays are built by
# the model (below); every other engine loads them as they are.
LOADED = [name for name in ENGINES if name != "bigquery-emulator"]


@pytest.mark.parametrize("engine", LOADED, indirect=True)
def test_arrays_come_back_as_lists(engine: Engine, tmp_path: Path) -> None:
    spec = ViewSpec(
        name="items",
        entities=["item"],
        features=[("embedding", "array<float64>"), ("tags", "array<string>")],
        rows=ROWS,
    )
    expected = pit_oracle(
        ENTITY_ROWS, [oracle_view(spec, ENTITIES)], [("items", "embedding"), ("items", "tags")]
    )
    assert [r["embedding"] for r in expected] == [
        None,
        [0.25, -1.5, 3.0],
        [],
        None,
        [1e-9, 2.5e10],
        None,
    ]
    root = engine.make_project(tmp_path, [spec], ENTITIES)
    ran = engine.training_set(root, pd.DataFrame(ENTITY_ROWS), ["items:embedding", "items:tags"])
    table = pa.Table.from_pandas(ran.frame, preserve_index=False)
    assert pa.types.is_list(table.schema.field("embedding").type)
    got = table.select(["embedding", "tags"]).to_pylist()
    assert got == [{"embedding": r["embedding"], "tags": r["tags"]} for r in expected]


BUILT = """select item_id, event_timestamp, [e0, e1] as embedding
from {{ source('raw', 'items_raw') }}
"""


@pytest.mark.parametrize("engine", ["bigquery-emulator", "duckdb-asof"], indirect=True)
def test_arrays_a_model_builds(engine: Engine, tmp_path: Path) -> None:
    """An array made by the model's SQL, transpiled for the engine. BigQuery returns a
    NULL array as an empty one (its documented rule), so every row here has an array."""
    rows = [
        {"item_id": 1, "event_timestamp": BASE, "e0": 0.5, "e1": -2.0},
        {"item_id": 1, "event_timestamp": BASE + 2 * MINUTE, "e0": 1.5, "e1": 4.0},
        {"item_id": 2, "event_timestamp": BASE, "e0": 3.0, "e1": 0.0},
    ]
    spec = ViewSpec(
        name="items",
        entities=["item"],
        features=[("e0", "float64"), ("e1", "float64")],
        rows=rows,
        sql=BUILT,
        extra_yaml={"features": [{"name": "embedding", "type": "array<float64>"}]},
    )
    root = engine.make_project(tmp_path, [spec], ENTITIES)
    entity_rows = [
        {"item_id": 1, "event_timestamp": BASE + MINUTE},
        {"item_id": 1, "event_timestamp": BASE + 3 * MINUTE},
        {"item_id": 2, "event_timestamp": BASE + 3 * MINUTE},
    ]
    ran = engine.training_set(root, pd.DataFrame(entity_rows), ["items:embedding"])
    got = pa.Table.from_pandas(ran.frame, preserve_index=False).column("embedding")
    assert got.to_pylist() == [[0.5, -2.0], [1.5, 4.0], [3.0, 0.0]]


CONFIG_ROWS = [
    {"item_id": 1, "event_timestamp": BASE, "counts": {"a": 1, "b": 2}, "config": '{"x": [1]}'},
    {"item_id": 2, "event_timestamp": BASE, "counts": {}, "config": None},
    {"item_id": 1, "event_timestamp": BASE + 2 * MINUTE, "counts": None, "config": '"s"'},
]


@pytest.mark.parametrize(
    "engine", ["duckdb-asof", "duckdb-window", "snowflake-fakesnow"], indirect=True
)
def test_maps_and_json_come_back_as_declared(engine: Engine, tmp_path: Path) -> None:
    """A map comes back as an Arrow map (a dict online), JSON as its canonical text
    (compact, keys sorted), whatever the engine's own spelling (Snowflake: OBJECT and
    VARIANT, returned as JSON text)."""
    spec = ViewSpec(
        name="items",
        entities=["item"],
        features=[("counts", "map<string,int64>"), ("config", "json")],
        rows=CONFIG_ROWS,
    )
    root = engine.make_project(tmp_path, [spec], ENTITIES)
    entity_rows = [
        {"item_id": 1, "event_timestamp": BASE + MINUTE},
        {"item_id": 2, "event_timestamp": BASE + MINUTE},
        {"item_id": 1, "event_timestamp": BASE + 3 * MINUTE},
        {"item_id": 3, "event_timestamp": BASE + 3 * MINUTE},
    ]
    ran = engine.training_set(root, pd.DataFrame(entity_rows), ["items:counts", "items:config"])
    frame = ran.frame  # pandas holds a map as a list of pairs
    counts = [dict(v) if isinstance(v, list) else None for v in frame["counts"]]
    assert counts == [{"a": 1, "b": 2}, {}, None, None]
    config = [v if isinstance(v, str) else None for v in frame["config"]]
    assert config == ['{"x":[1]}', None, '"s"', None]
