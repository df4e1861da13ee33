"""The benchmark workload: a seeded, deterministic shop at three sizes, as an fsql project.

Sizes (feature rows / entity rows): S 200k / 20k, M 2M / 200k, L 20M / 1M.

- `user_stats` (80% of the feature rows): user_id, event_timestamp, created_timestamp,
  purchase_count_30d int, lifetime_value float, session_count_1h int, country string;
  N/20 users with 16 versions each.
- `item_stats` (20%): item_id, event_timestamp, created_timestamp, avg_rating float,
  purchase_rate_7d float, category string; N/50 items with 10 versions each.
- Event times spread over 90 days; 5% of rows repeat their key's previous event time with
  a later created time (ties the join must break); about 1% of feature values are NULL.
- Entity rows (user_id, item_id, event_timestamp, label): 3% unknown users or items, 10%
  "ranking" rows (5 items sharing one user and time), 1% before any history, 20% probes
  exactly on a feature row's time, 1 s before it, at +TTL and at +TTL+1 s.
- Two feature views, both with a 7-day TTL and online; 7 features in all.

    python bench/workload.py --size S      # writes bench/data/S/ (project + parquet)

Everything is generated with numpy from a fixed seed, so two runs give the same bytes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SIZES = {
    "S": (200_000, 20_000),
    "M": (2_000_000, 200_000),
    "L": (20_000_000, 1_000_000),
    "XL": (80_000_000, 4_000_000),
}
DATA = Path(__file__).resolve().parent / "data"
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
SPAN_US = 90 * 86_400 * 1_000_000
TTL_US = 7 * 86_400 * 1_000_000
SECOND_US = 1_000_000
COUNTRIES = np.array(["DE", "FR", "US", "GB", "IN", "BR", "JP", "NL", "ES", "IT"])
CATEGORIES = np.array(["books", "garden", "home", "sports", "toys", "food", "music", "tech"])
TS = pa.timestamp("us", tz="UTC")
FEATURES = [
    "user_stats:purchase_count_30d",
    "user_stats:lifetime_value",
    "user_stats:session_count_1h",
    "user_stats:country",
    "item_stats:avg_rating",
    "item_stats:purchase_rate_7d",
    "item_stats:category",
]


def _with_nulls(values: np.ndarray, rng: np.random.Generator, dtype: pa.DataType) -> pa.Array:
    mask = rng.random(len(values)) < 0.01
    return pa.array(values, type=dtype, mask=mask)


def _versions(keys: int, per_key: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Key ids, event times and created times; 5% of rows tie with the previous version."""
    n = keys * per_key
    key = np.repeat(np.arange(1, keys + 1, dtype=np.int64), per_key)
    event = START_US + rng.integers(0, SPAN_US, n, dtype=np.int64)
    order = np.lexsort((event, key))
    key, event = key[order], event[order]
    tie = rng.random(n) < 0.05
    tie[0] = False
    same_key = np.r_[False, key[1:] == key[:-1]]
    tie &= same_key
    event[tie] = event[np.flatnonzero(tie) - 1]
    created = event + rng.integers(0, 3_600 * SECOND_US, n, dtype=np.int64)
    created[tie] = created[np.flatnonzero(tie) - 1] + SECOND_US * rng.integers(1, 600, tie.sum())
    shuffle = rng.permutation(n)  # sources are not sorted in real life
    return key[shuffle], event[shuffle], created[shuffle]


def user_stats(n_rows: int, rng: np.random.Generator) -> pa.Table:
    users = max(1, n_rows // 20)
    key, event, created = _versions(users, 16, rng)
    n = len(key)
    return pa.table(
        {
            "user_id": key,
            "event_timestamp": pa.array(event, TS),
            "created_timestamp": pa.array(created, TS),
            "purchase_count_30d": _with_nulls(rng.integers(0, 50, n), rng, pa.int64()),
            "lifetime_value": _with_nulls(np.round(rng.gamma(2, 150, n), 2), rng, pa.float64()),
            "session_count_1h": _with_nulls(rng.integers(0, 12, n), rng, pa.int64()),
            "country": _with_nulls(COUNTRIES[rng.integers(0, len(COUNTRIES), n)], rng, pa.string()),
        }
    )


def item_stats(n_rows: int, rng: np.random.Generator) -> pa.Table:
    items = max(1, n_rows // 50)
    key, event, created = _versions(items, 10, rng)
    n = len(key)
    return pa.table(
        {
            "item_id": key,
            "event_timestamp": pa.array(event, TS),
            "created_timestamp": pa.array(created, TS),
            "avg_rating": _with_nulls(np.round(rng.uniform(1, 5, n), 2), rng, pa.float64()),
            "purchase_rate_7d": _with_nulls(rng.random(n), rng, pa.float64()),
            "category": _with_nulls(
                CATEGORIES[rng.integers(0, len(CATEGORIES), n)], rng, pa.string()
            ),
        }
    )


def entities(n_rows: int, users: pa.Table, items: pa.Table, rng: np.random.Generator) -> pa.Table:
    """Entity rows with every hard case of the point-in-time join in known proportions."""
    n_users = int(pa.compute.max(users["user_id"]).as_py())
    n_items = int(pa.compute.max(items["item_id"]).as_py())
    user = rng.integers(1, n_users + 1, n_rows, dtype=np.int64)
    item = rng.integers(1, n_items + 1, n_rows, dtype=np.int64)
    when = START_US + rng.integers(0, SPAN_US + TTL_US, n_rows, dtype=np.int64)
    kind = rng.random(n_rows)
    # 20% probes on a user feature row's own time: exactly, 1 s before, +TTL, +TTL+1 s.
    probe = np.flatnonzero(kind < 0.20)
    rows = rng.integers(0, users.num_rows, len(probe))
    u_ids = users["user_id"].to_numpy()
    u_ts = users["event_timestamp"].cast(pa.int64()).to_numpy()
    offsets = np.array([0, -SECOND_US, TTL_US, TTL_US + SECOND_US])
    user[probe] = u_ids[rows]
    when[probe] = u_ts[rows] + offsets[rng.integers(0, 4, len(probe))]
    # 1% before any history.
    early = np.flatnonzero((kind >= 0.20) & (kind < 0.21))
    when[early] = START_US - rng.integers(1, 86_400 * SECOND_US, len(early))
    # 3% unknown users or items.
    unknown = np.flatnonzero((kind >= 0.21) & (kind < 0.24))
    half = len(unknown) // 2
    user[unknown[:half]] = n_users + 1 + rng.integers(0, 1000, half)
    item[unknown[half:]] = n_items + 1 + rng.integers(0, 1000, len(unknown) - half)
    # 10% ranking rows: groups of 5 items sharing one user and time.
    ranking = np.flatnonzero((kind >= 0.24) & (kind < 0.34))
    groups = ranking[: len(ranking) // 5 * 5].reshape(-1, 5)
    user[groups] = user[groups[:, :1]]
    when[groups] = when[groups[:, :1]]
    label = (rng.random(n_rows) < 0.3).astype(np.int64)
    return pa.table(
        {
            "user_id": user,
            "item_id": item,
            "event_timestamp": pa.array(when, TS),
            "label": label,
        }
    )


PROJECT = {
    "fsql_project.yml": "name: bench\nprofile: bench\n",
    "profiles.yml": """bench:
  target: dev
  outputs:
    dev:
      offline: {type: duckdb, path: target/fsql.duckdb}
      online: {type: sqlite, path: target/online.db}
    redis:
      offline: {type: duckdb, path: target/fsql.duckdb}
      online: {type: redis, url: "redis://127.0.0.1:6379/15", key_prefix: "fsqlbench:"}
    bounded:
      offline: {type: duckdb, path: target/fsql.duckdb, memory_limit: 1GB}
      online: {type: sqlite, path: target/online.db}
""",
    "models/bench.yml": """entities:
  - {name: user, join_keys: [user_id]}
  - {name: item, join_keys: [item_id]}
sources:
  - name: raw
    tables:
      - {name: user_stats, path: data/user_stats.parquet}
      - {name: item_stats, path: data/item_stats.parquet}
feature_views:
  - name: user_stats
    entities: [user]
    timestamp: event_timestamp
    created_timestamp: created_timestamp
    ttl: 7d
    online: true
    features:
      - {name: purchase_count_30d, type: int64}
      - {name: lifetime_value, type: float64}
      - {name: session_count_1h, type: int64}
      - {name: country, type: string}
  - name: item_stats
    entities: [item]
    timestamp: event_timestamp
    created_timestamp: created_timestamp
    ttl: 7d
    online: true
    features:
      - {name: avg_rating, type: float64}
      - {name: purchase_rate_7d, type: float64}
      - {name: category, type: string}
""",
    "models/user_stats.sql": (
        "select user_id, event_timestamp, created_timestamp, purchase_count_30d, "
        "lifetime_value, session_count_1h, country\nfrom {{ source('raw', 'user_stats') }}\n"
    ),
    "models/item_stats.sql": (
        "select item_id, event_timestamp, created_timestamp, avg_rating, purchase_rate_7d, "
        "category\nfrom {{ source('raw', 'item_stats') }}\n"
    ),
}


def generate(
    size: str,
    root: Path | None = None,
    seed: int = 20261125,
    counts: tuple[int, int] | None = None,
) -> Path:
    """Write the project and data for `size` (or `counts`: feature rows, entity rows);
    the data are skipped when they already exist, the project files always written."""
    n_features, n_entities = counts or SIZES[size]
    root = root or DATA / size
    marker = root / "workload.json"
    meta = {"size": size, "seed": seed, "feature_rows": n_features, "entity_rows": n_entities}
    if marker.exists() and json.loads(marker.read_text()) == meta:
        for rel, text in PROJECT.items():
            (root / rel).write_text(text)
        return root
    rng = np.random.default_rng(seed)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(parents=True, exist_ok=True)
    users = user_stats(n_features, rng)  # N/20 users x 16 versions = 0.8 N rows
    items = item_stats(n_features, rng)  # N/50 items x 10 versions = 0.2 N rows
    pq.write_table(users, root / "data" / "user_stats.parquet")
    pq.write_table(items, root / "data" / "item_stats.parquet")
    pq.write_table(entities(n_entities, users, items, rng), root / "data" / "entities.parquet")
    for rel, text in PROJECT.items():
        (root / rel).write_text(text)
    marker.write_text(json.dumps(meta))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate the benchmark workload.")
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    args = parser.parse_args()
    print(generate(args.size))


if __name__ == "__main__":
    main()
