"""The benchmark's steps run through Feast, for `bench/feast_compare.py`.

Runs with the Feast venv's python (bench/.venvs/feast), never with fsql's, and must not
import fsql. Each measured step is its own process (`bench.common.run_step`) and prints one
JSON object as its last stdout line (`common.emit`, which only needs the stdlib).

    python bench/feast_steps.py setup --size S --variant duckdb_sqlite
    python bench/feast_steps.py training --size S --variant duckdb_sqlite [--out F.parquet]
    python bench/feast_steps.py materialize --size S --variant duckdb_redis
    python bench/feast_steps.py online --size S --variant duckdb_redis --rows 100
    python bench/feast_steps.py cleanup --size S --variant duckdb_redis

A variant is one Feast repo under bench/data/<size>/feast/<variant>/ (feature_store.yaml,
features.py, its own registry): `duckdb_sqlite`, `duckdb_redis` (the duckdb offline store
with each online store) and `file_sqlite` (Feast's default file offline store, for the
training set only). Redis is db 15 of 127.0.0.1:6379 under a project name of its own, so
only keys that end with that name are ever counted or deleted.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # common.py and workload.py need only the stdlib/numpy/pyarrow

from common import emit  # noqa: E402
from workload import FEATURES  # noqa: E402

DATA = BENCH / "data"
VARIANTS = ("duckdb_sqlite", "duckdb_redis", "file_sqlite")
REDIS = "127.0.0.1:6379,db=15"
START = datetime(2025, 1, 1, tzinfo=UTC)  # before any feature row: every key
END = datetime(2026, 4, 8, tzinfo=UTC)

FEATURE_STORE_YAML = """project: {project}
registry: data/registry.db
provider: local
offline_store:
  type: {offline}
online_store:
{online}
entity_key_serialization_version: 3
"""

ONLINE = {
    "sqlite": "  type: sqlite\n  path: data/online.db\n",
    "redis": f'  type: redis\n  connection_string: "{REDIS}"\n',
}

FEATURES_PY = '''"""The fsql benchmark workload as Feast definitions (from bench/feast_steps.py)."""

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

DATA = "{data}"

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.INT64)

user_source = FileSource(
    name="user_stats_source",
    path=DATA + "/user_stats.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
)
item_source = FileSource(
    name="item_stats_source",
    path=DATA + "/item_stats.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
)

user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    ttl=timedelta(days=7),
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="purchase_count_30d", dtype=Int64),
        Field(name="lifetime_value", dtype=Float64),
        Field(name="session_count_1h", dtype=Int64),
        Field(name="country", dtype=String),
    ],
    online=True,
    source=user_source,
)
item_stats = FeatureView(
    name="item_stats",
    entities=[item],
    ttl=timedelta(days=7),
    schema=[
        Field(name="item_id", dtype=Int64),
        Field(name="avg_rating", dtype=Float64),
        Field(name="purchase_rate_7d", dtype=Float64),
        Field(name="category", dtype=String),
    ],
    online=True,
    source=item_source,
)

OBJECTS = [user, item, user_source, item_source, user_stats, item_stats]
'''


def repo_dir(size: str, variant: str) -> Path:
    return DATA / size / "feast" / variant


def project_name(size: str, variant: str) -> str:
    return f"fsqlbench_feast_{variant}_{size}".lower()


def write_repo(size: str, variant: str) -> Path:
    """A fresh Feast repo (yaml + definitions); any old registry and SQLite store go."""
    root = repo_dir(size, variant)
    shutil.rmtree(root / "data", ignore_errors=True)
    (root / "data").mkdir(parents=True, exist_ok=True)
    offline, online = variant.split("_")
    (root / "feature_store.yaml").write_text(
        FEATURE_STORE_YAML.format(
            project=project_name(size, variant), offline=offline, online=ONLINE[online]
        )
    )
    (root / "features.py").write_text(FEATURES_PY.format(data=DATA / size / "data"))
    return root


def open_store(size: str, variant: str):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo_dir(size, variant)))


def redis_client():
    import redis

    host, rest = REDIS.split(",")
    return redis.Redis(
        host=host.split(":")[0], port=int(host.split(":")[1]), db=int(rest.split("=")[1])
    )


def redis_keys(size: str, variant: str) -> list[bytes]:
    """Our keys only: Feast's redis keys are <serialized entity key><project name>."""
    from feast.infra.online_stores.helpers import _redis_key_prefix

    suffix = project_name(size, variant).encode()
    client = redis_client()
    keys: list[bytes] = []
    for join_keys in (["user_id"], ["item_id"]):
        pattern = _redis_key_prefix(join_keys) + b"*" + suffix
        keys.extend(k for k in client.scan_iter(match=pattern, count=10_000) if k.endswith(suffix))
    return keys


def delete_redis_keys(size: str, variant: str) -> int:
    keys = redis_keys(size, variant)
    client = redis_client()
    for i in range(0, len(keys), 10_000):
        client.delete(*keys[i : i + 10_000])
    return len(keys)


def count_keys(size: str, variant: str) -> dict[str, int]:
    if variant.endswith("redis"):
        from feast.infra.online_stores.helpers import _redis_key_prefix

        keys = redis_keys(size, variant)
        users = sum(k.startswith(_redis_key_prefix(["user_id"])) for k in keys)
        return {"user_stats": users, "item_stats": len(keys) - users}
    db = sqlite3.connect(repo_dir(size, variant) / "data" / "online.db")
    project = project_name(size, variant)
    try:
        return {
            view: db.execute(f"select count(distinct entity_key) from {project}_{view}").fetchone()[
                0
            ]
            for view in ("user_stats", "item_stats")
        }
    finally:
        db.close()


def cmd_setup(args: argparse.Namespace) -> None:
    """Write the repo and `apply` it; for Redis, first delete our keys from earlier runs."""
    root = write_repo(args.size, args.variant)
    deleted = delete_redis_keys(args.size, args.variant) if args.variant.endswith("redis") else 0
    spec = importlib.util.spec_from_file_location("fsqlbench_feast_features", root / "features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    store = open_store(args.size, args.variant)
    started = time.perf_counter()
    store.apply(module.OBJECTS)
    emit(
        {
            "step": "apply",
            "seconds": round(time.perf_counter() - started, 3),
            "redis_keys_deleted": deleted,
        }
    )


def cmd_training(args: argparse.Namespace) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = open_store(args.size, args.variant)
    entity_df = pd.read_parquet(DATA / args.size / "data" / "entities.parquet")
    started = time.perf_counter()
    df = store.get_historical_features(entity_df=entity_df, features=FEATURES).to_df()
    seconds = time.perf_counter() - started
    if args.out:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), args.out)
    # The first call pays Feast's lazy imports (about 2 s); a second call in the same
    # process shows the steady-state cost.
    started = time.perf_counter()
    store.get_historical_features(entity_df=entity_df, features=FEATURES).to_df()
    warm = time.perf_counter() - started
    emit(
        {
            "step": "training",
            "seconds": round(seconds, 3),
            "warm_seconds": round(warm, 3),
            "rows": len(df),
            "entity_rows": len(entity_df),
            "columns": list(df.columns),
        }
    )


def cmd_materialize(args: argparse.Namespace) -> None:
    store = open_store(args.size, args.variant)
    started = time.perf_counter()
    store.materialize(start_date=START, end_date=END)
    seconds = time.perf_counter() - started
    keys = count_keys(args.size, args.variant)
    emit(
        {
            "step": "materialize",
            "seconds": round(seconds, 3),
            "keys": sum(keys.values()),
            "keys_by_view": keys,
        }
    )


def cmd_online(args: argparse.Namespace) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    data = DATA / args.size / "data"
    n_users = pq.read_metadata(data / "user_stats.parquet").num_rows // 16
    n_items = pq.read_metadata(data / "item_stats.parquet").num_rows // 10
    rng = np.random.default_rng(7)
    store = open_store(args.size, args.variant)
    batches = [
        [
            {"user_id": int(u), "item_id": int(i)}
            for u, i in zip(
                rng.integers(1, n_users + 1, args.rows),
                rng.integers(1, n_items + 1, args.rows),
                strict=True,
            )
        ]
        for _ in range(64)
    ]
    for rows in batches[:8]:  # warm-up: registry, connections
        result = store.get_online_features(features=FEATURES, entity_rows=rows).to_dict()
    nonnull = sum(v is not None for v in result["purchase_count_30d"])
    times = []
    for n in range(args.iterations):
        rows = batches[n % len(batches)]
        started = time.perf_counter()
        store.get_online_features(features=FEATURES, entity_rows=rows).to_dict()
        times.append(time.perf_counter() - started)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    emit(
        {
            "step": f"online_{args.rows}",
            "rows": args.rows,
            "iterations": len(times),
            "p50_ms": round(statistics.median(times) * 1000, 3),
            "p99_ms": round(p99 * 1000, 3),
            "nonnull_user_values_in_last_warmup": f"{nonnull}/{args.rows}",
        }
    )


def cmd_cleanup(args: argparse.Namespace) -> None:
    deleted = delete_redis_keys(args.size, args.variant) if args.variant.endswith("redis") else 0
    emit({"step": "cleanup", "redis_keys_deleted": deleted})


def main() -> None:
    parser = argparse.ArgumentParser(description="One Feast benchmark step.")
    parser.add_argument(
        "command", choices=["setup", "training", "materialize", "online", "cleanup"]
    )
    parser.add_argument("--size", choices=["S", "M", "L"], default="S")
    parser.add_argument("--variant", choices=VARIANTS, default="duckdb_sqlite")
    parser.add_argument("--out", help="training: also write the result to this parquet file")
    parser.add_argument("--rows", type=int, default=1, help="online: entity rows per call")
    parser.add_argument("--iterations", type=int, default=1000, help="online: timed calls")
    args = parser.parse_args()
    globals()[f"cmd_{args.command}"](args)


if __name__ == "__main__":
    main()
