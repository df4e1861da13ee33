"""A training set within DuckDB's `memory_limit` (profile): the join spills what does not
fit to the temporary directory in target/ and returns the same rows as without a limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from fsql.store import FeatureStore

ROWS, KEYS, ENTITY_ROWS = 600_000, 60_000, 200_000
START_US = 1_767_225_600_000_000


def _project(root: Path, memory_limit: str | None) -> Path:
    rng = np.random.default_rng(5)
    (root / "data").mkdir(parents=True)
    (root / "models").mkdir()
    ts = pa.array(START_US + rng.integers(0, 86_400_000_000 * 30, ROWS), pa.timestamp("us", "UTC"))
    features = pa.table(
        {
            "user_id": rng.integers(0, KEYS, ROWS),
            "event_timestamp": ts,
            "spend": rng.random(ROWS),
            "country": pa.array(rng.choice(["de", "fr", "jp", "br"], ROWS)),
        }
    )
    pq.write_table(features, root / "data" / "spend.parquet")
    at = START_US + rng.integers(0, 86_400_000_000 * 31, ENTITY_ROWS)
    entities = pa.table(
        {
            "user_id": rng.integers(0, KEYS + 100, ENTITY_ROWS),
            "event_timestamp": pa.array(at, pa.timestamp("us", "UTC")),
        }
    )
    pq.write_table(entities, root / "data" / "entities.parquet")
    offline: dict = {"type": "duckdb", "path": "target/fsql.duckdb", "threads": 2}
    if memory_limit:
        offline["memory_limit"] = memory_limit
    profile = {"p": {"target": "dev", "outputs": {"dev": {"offline": offline}}}}
    (root / "profiles.yml").write_text(yaml.safe_dump(profile))
    (root / "fsql_project.yml").write_text("name: p\nprofile: p\n")
    meta = {
        "entities": [{"name": "user", "join_keys": ["user_id"]}],
        "sources": [{"name": "raw", "tables": [{"name": "spend", "path": "data/spend.parquet"}]}],
        "feature_views": [
            {
                "name": "spend",
                "entities": ["user"],
                "timestamp": "event_timestamp",
                "ttl": "7d",
                "features": [
                    {"name": "spend", "type": "float64"},
                    {"name": "country", "type": "string"},
                ],
            }
        ],
    }
    (root / "models" / "spend.yml").write_text(yaml.safe_dump(meta))
    (root / "models" / "spend.sql").write_text(
        "select user_id, event_timestamp, spend, country from {{ source('raw', 'spend') }}\n"
    )
    return root


def _training(root: Path) -> tuple[pa.Table, bool]:
    """The training set, and whether DuckDB spilled (it makes its temporary folder,
    `target/fsql.duckdb.tmp`, only then)."""
    with FeatureStore(root) as store:
        store.build(["spend"])
        table = store.get_historical_features(
            str(root / "data" / "entities.parquet"), ["spend:spend", "spend:country"]
        ).to_arrow()
        return table, (root / "target" / "fsql.duckdb.tmp").is_dir()


def test_a_memory_limit_spills_and_returns_the_same_rows(tmp_path: Path) -> None:
    free, spilled_free = _training(_project(tmp_path / "free", None))
    bounded, spilled = _training(_project(tmp_path / "bounded", "32MB"))
    assert spilled and not spilled_free
    assert bounded.num_rows == ENTITY_ROWS
    assert bounded.equals(free)
    assert free.column("spend").null_count < ENTITY_ROWS  # the join found rows
