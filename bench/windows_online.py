"""Windowed aggregations online: materialization, read latency and bytes per key, against a
plain view over the same events, in the same run.

The project of bench/windows.py (purchase events, nine windowed features: count, sum and
avg of amount over 1h, 1d, 7d) is made online, with a second, plain view over the same
source beside it (`latest`: each user's latest amount under nine names, the point-in-time
rule, so both reads return nine features). Both are
materialized at the data's last day, then read one entity row at a time with all their
features, as of that day (`now=`), from SQLite and from Redis (database 14, a prefix of
its own, deleted after). Reads of the two views are interleaved in blocks; p50 and p99 are
over every call. Bytes per key: Redis `MEMORY USAGE` over a sample of stored keys.

    python bench/windows_online.py --size S
    python bench/windows_online.py --size M --stores sqlite

Target (issue 14): a windowed read's p50 within 2x of the plain view's.
"""

from __future__ import annotations

import gc
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_args, emit, run_step, table
from bench.windows import SIZES, SPAN_SECONDS, START, features, generate

HERE = Path(__file__).resolve()
REDIS_URL = "redis://127.0.0.1:6379/14"
PREFIX = "fsqlbenchwin:"
AT = datetime.fromtimestamp(START + SPAN_SECONDS, UTC)
PLAIN = """
  - name: latest
    entities: [user]
    timestamp: event_timestamp
    created_timestamp: created_timestamp
    online: true
    features:
""" + "".join(f"      - {{name: amount_{i}, type: float64}}\n" for i in range(1, 10))


def online_copy(root: Path, store: str) -> Path:
    """The windows project, both views online, on `store` (sqlite or redis)."""
    copy = root.parent / f"{root.name}-online-{store}"
    if copy.exists():
        shutil.rmtree(copy)
    (copy / "models").mkdir(parents=True)
    (copy / "data").symlink_to(root / "data")
    (copy / "fsql_project.yml").write_text((root / "fsql_project.yml").read_text())
    online = (
        f"{{type: redis, url: '{REDIS_URL}', key_prefix: '{PREFIX}'}}"
        if store == "redis"
        else f"{{type: sqlite, path: {copy}/target/online.db}}"
    )
    (copy / "profiles.yml").write_text(
        "windows:\n  target: dev\n  outputs:\n    dev:\n"
        f"      offline: {{type: duckdb, path: {copy}/target/fsql.duckdb}}\n"
        f"      online: {online}\n"
    )
    meta = (root / "models" / "purchases.yml").read_text()
    meta = meta.replace(
        "    timestamp: event_timestamp\n", "    timestamp: event_timestamp\n    online: true\n", 1
    )
    (copy / "models" / "purchases.yml").write_text(meta + PLAIN)
    sql = (root / "models" / "purchases.sql").read_text()
    (copy / "models" / "purchases.sql").write_text(sql)
    copies = ", ".join(f"amount AS amount_{i}" for i in range(1, 10))
    (copy / "models" / "latest.sql").write_text(
        f"select user_id, event_timestamp, created_timestamp, {copies}\n"
        "from {{ source('raw', 'purchases') }}\n"
    )
    return copy


def clean_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{PREFIX}*", count=1000):
        client.delete(key)
    client.close()


def step_materialize(root: str) -> None:
    from fsql import FeatureStore

    with FeatureStore(root) as store:
        store.build(["purchases", "latest"])
        timings = {}
        for view in ("purchases", "latest"):
            started = time.perf_counter()
            store.materialize(None, AT, views=[view])
            timings[view] = time.perf_counter() - started
    emit({"step": "materialize", **timings})


def step_reads(root: str, calls: str) -> None:
    """Interleaved blocks of single-row reads of each view; per-call times in µs."""
    from fsql import FeatureStore

    n = int(calls)
    rng = random.Random(14)
    keys, _, _ = sizes_of(root)
    users = [rng.randrange(keys) for _ in range(n)]
    plain = [f"latest:amount_{i}" for i in range(1, 10)]
    shapes = {"windowed": features(), "plain": plain}  # nine features each
    times: dict[str, list[float]] = {name: [] for name in shapes}
    with FeatureStore(root) as store:
        for feats in shapes.values():  # warm up, and check the answers are there
            got = store.get_online_features(features=feats, entity_rows=[{"user_id": 0}], now=AT)
            assert got.to_dict()
        for block in range(0, n, 200):
            for name, feats in shapes.items():
                gc.disable()
                for user in users[block : block + 200]:
                    started = time.perf_counter_ns()
                    store.get_online_features(
                        features=feats, entity_rows=[{"user_id": user}], now=AT
                    )
                    times[name].append((time.perf_counter_ns() - started) / 1000)
                gc.enable()
    result = {}
    for name, values in times.items():
        ordered = sorted(values)
        result[f"{name}_p50"] = statistics.median(ordered)
        result[f"{name}_p99"] = ordered[int(len(ordered) * 0.99) - 1]
    emit({"step": "reads", **result})


def step_bytes(root: str) -> None:
    """Redis MEMORY USAGE of up to 2,000 stored keys per view: mean bytes per key. Data
    keys are `<prefix><tag>:<msgpack key>`, each view's tag read from the meta hash."""
    import msgpack
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    meta = client.hgetall(f"{PREFIX}fsql:windows:meta".encode())
    keys, _, _ = sizes_of(root)
    sample = random.Random(7).sample(range(keys), min(keys, 2000))
    result = {}
    for view, value in meta.items():
        base = PREFIX.encode() + value.split(b":")[1] + b":"
        usage = [client.memory_usage(base + msgpack.packb(user)) for user in sample]
        found = [int(u) for u in usage if u]
        if found:
            result[view.decode()] = statistics.mean(found)
    client.close()
    emit({"step": "bytes", **result})


def sizes_of(root: str) -> tuple[int, int, int]:
    """Keys, events and entity rows of the size a project under bench/data was made for."""
    size = Path(root).name.split("-")[1]
    events, keys, entities = SIZES[size]
    return keys, events, entities


STEPS = {"materialize": step_materialize, "reads": step_reads, "bytes": step_bytes}


def main() -> None:
    args = bench_args(__doc__ or "", list(SIZES), STEPS)
    if args is None:
        return
    base = generate(args.size, hot=False)
    rows = []
    for store in ("sqlite", "redis"):
        if store == "redis":
            clean_redis()
        root = str(online_copy(base, store))
        try:
            built = run_step([str(HERE), "--step", "materialize", root])
            reads = run_step([str(HERE), "--step", "reads", root, str(2000 * args.repeat)])
            per_key = run_step([str(HERE), "--step", "bytes", root]) if store == "redis" else {}
        finally:
            if store == "redis":
                clean_redis()
        rows.append([
            store,
            built["purchases"], built["latest"],
            reads["windowed_p50"], reads["plain_p50"],
            reads["windowed_p50"] / reads["plain_p50"],
            reads["windowed_p99"], reads["plain_p99"],
            per_key.get("purchases", "-"), per_key.get("latest", "-"),
        ])  # fmt: skip
    events, keys, _ = SIZES[args.size]
    print(f"windowed vs plain view online, size {args.size}: {events:,} events, {keys:,} keys")
    print(table(rows, [
        "store", "materialize windowed s", "materialize plain s", "read windowed p50 µs",
        "read plain p50 µs", "windowed / plain p50", "windowed p99 µs", "plain p99 µs",
        "Redis bytes/key windowed", "Redis bytes/key plain",
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
