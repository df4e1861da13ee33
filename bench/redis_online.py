"""Benchmark of the Redis online store (not a test): write rate, memory per key, read latency.

Writes N entity keys x 7 features (3 ints, 2 floats, 2 short strings) through
`RedisOnlineStore.upsert` in 100k-row batches, as a materialization streams them; then
reads 1 and 100 random entities through `RedisOnlineStore.read`, and the same keys with
raw redis-py GET/MGET as a reference, in the same run. Uses database 14 and a unique key
prefix, tears the view down at the end (which also times teardown) and checks that no key
of the prefix is left.

    python bench/redis_online.py [--keys 1000000] [--url redis://127.0.0.1:6379/14]

Targets (issue 3, 2-core machine): >= 150k keys/s, <= 160 B/key, read p50 <= 0.15 ms
(1 entity) and <= 1.5 ms (100 entities), p99 < 2x p50.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import uuid
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import redis

from fsql.definitions.types import FeatureType as T
from fsql.online.base import CREATED_TS, EVENT_TS, OnlineTable
from fsql.online.redis_store import RedisOnlineStore

TABLE = OnlineTable(
    "user_stats",
    ("user_id",),
    (
        ("clicks_7d", T.INT64),
        ("orders_30d", T.INT64),
        ("last_order_cents", T.INT64),
        ("spend_30d", T.FLOAT64),
        ("ctr_7d", T.FLOAT64),
        ("country", T.STRING),
        ("segment", T.STRING),
    ),
    ttl_us=30 * 86_400_000_000,
)
BATCH = 100_000


def make_batch(lo: int, hi: int, now_us: int, rng: np.random.Generator) -> pa.Table:
    n = hi - lo
    return pa.table(
        {
            "user_id": np.arange(lo, hi, dtype=np.int64),
            EVENT_TS: now_us - rng.integers(0, 86_400_000_000, n),
            CREATED_TS: pa.array(np.full(n, now_us), pa.int64()),
            "clicks_7d": rng.integers(0, 1_000, n),
            "orders_30d": rng.integers(0, 50, n),
            "last_order_cents": rng.integers(0, 100_000, n),
            "spend_30d": np.round(rng.random(n) * 500, 2),
            "ctr_7d": rng.random(n),
            "country": pa.array(rng.choice(["US", "FR", "DE", "GB", "JP", "BR"], n)),
            "segment": pa.array(rng.choice(["free", "trial", "premium", "business"], n)),
        }
    )


def latencies(fn: Callable[[], object], count: int) -> list[float]:
    """Milliseconds per call, after a warm-up; gc paused so it does not land in one sample."""
    for _ in range(min(200, count)):
        fn()
    out = []
    gc.disable()
    try:
        for _ in range(count):
            t0 = time.perf_counter_ns()
            fn()
            out.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        gc.enable()
    return out


def memory_breakdown(raw: redis.Redis, store: RedisOnlineStore, keys: int) -> tuple[float, float]:
    """(bytes per data key as MEMORY USAGE reports it, sampled; index bytes per key)."""
    base = store._view(TABLE.view).base
    pick = random.Random(5)
    sample = [base + store._key_pack(pick.randrange(keys)) for _ in range(2000)]
    data = statistics.mean(raw.memory_usage(k, samples=0) or 0 for k in sample)
    registry = store._idx_prefix + base[len(store.prefix) : -1]
    lists = [registry + b":" + m for m in raw.smembers(registry)]
    index = sum(raw.memory_usage(k, samples=0) or 0 for k in lists) / keys
    return data, index


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--reads", type=int, default=20_000, help="1-entity reads timed")
    parser.add_argument("--batch-reads", type=int, default=3_000, help="100-entity reads timed")
    parser.add_argument("--expire", action="store_true", help="physical expiry (EXPIREAT)")
    args = parser.parse_args()

    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    store = RedisOnlineStore(args.url, project="bench", key_prefix=prefix, expire=args.expire)
    raw = redis.Redis.from_url(args.url)
    others = raw.dbsize()
    rng = np.random.default_rng(7)
    now_us = time.time_ns() // 1000
    batches = [
        make_batch(lo, min(args.keys, lo + BATCH), now_us, rng) for lo in range(0, args.keys, BATCH)
    ]
    try:
        before = raw.info("memory")["used_memory"]
        store.prepare(TABLE)
        t0 = time.perf_counter()
        for b in batches:
            store.upsert(TABLE, b)
        write_s = time.perf_counter() - t0
        per_key = (raw.info("memory")["used_memory"] - before) / args.keys
        data_key, index_key = memory_breakdown(raw, store, args.keys)
        t0 = time.perf_counter()
        for b in batches:  # a re-run: every row equal to the stored one, nothing replaced
            store.upsert(TABLE, b)
        rerun_s = time.perf_counter() - t0

        base = store._view(TABLE.view).base  # the data key prefix, for the raw reference
        pick = random.Random(3)

        def one() -> int:
            return pick.randrange(args.keys)

        def hundred() -> list[int]:
            return [pick.randrange(args.keys) for _ in range(100)]

        assert store.read(TABLE, [(5,)], now_us)[0] is not None
        r1 = latencies(lambda: store.read(TABLE, [(one(),)], now_us), args.reads)
        g1 = latencies(lambda: raw.get(base + store._key_pack(one())), args.reads)
        r100 = latencies(
            lambda: store.read(TABLE, [(k,) for k in hundred()], now_us), args.batch_reads
        )
        g100 = latencies(
            lambda: raw.mget([base + store._key_pack(k) for k in hundred()]), args.batch_reads
        )
        t0 = time.perf_counter()
        store.teardown(TABLE)
        teardown_s = time.perf_counter() - t0
    finally:
        store.teardown(TABLE)
        left = 0
        for key in raw.scan_iter(match=f"{prefix}*", count=10_000):
            left += 1
            raw.unlink(key)
        store.close()

    rate = args.keys / write_s
    mode = ", expire" if args.expire else ""
    print(f"Redis online store, {args.keys:,} keys x 7 features ({args.url}{mode})")
    print(f"(the database held {others:,} other keys: the main dict grows in powers of 2)\n")
    print(
        f"| {'metric':<27} | {'fsql':>10} | {'raw redis-py':>12} | {'ratio':>5} | {'target':>9} |"
    )
    print(f"| {'-' * 27} | {'-' * 10} | {'-' * 12} | {'-' * 5} | {'-' * 9} |")
    print(f"| {'write, keys/s':<27} | {rate:>10,.0f} | {'':>12} | {'':>5} | {'>= 150k':>9} |")
    rerun = args.keys / rerun_s
    print(
        f"| {'re-run (no change), keys/s':<27} | {rerun:>10,.0f} | {'':>12} | {'':>5} | {'':>9} |"
    )
    print(f"| {'memory, bytes/key':<27} | {per_key:>10.1f} | {'':>12} | {'':>5} | {'<= 160':>9} |")
    for name, value in (
        ("  of which key + value", data_key),
        ("  of which teardown index", index_key),
        ("  of which dict, allocator", per_key - data_key - index_key),
    ):
        print(f"| {name:<27} | {value:>10.1f} | {'':>12} | {'':>5} | {'':>9} |")
    rows = [
        ("read 1 entity p50, ms", pct(r1, 50), pct(g1, 50), "<= 0.15"),
        ("read 1 entity p99, ms", pct(r1, 99), pct(g1, 99), f"< {2 * pct(r1, 50):.3f}"),
        ("read 100 entities p50, ms", pct(r100, 50), pct(g100, 50), "<= 1.5"),
        ("read 100 entities p99, ms", pct(r100, 99), pct(g100, 99), f"< {2 * pct(r100, 50):.3f}"),
    ]
    for name, ours, ref, target in rows:
        print(f"| {name:<27} | {ours:>10.3f} | {ref:>12.3f} | {ours / ref:>5.2f} | {target:>9} |")
    print(
        f"\nteardown of {args.keys:,} keys: {teardown_s:.2f} s; keys left with the prefix: {left}"
    )


if __name__ == "__main__":
    main()
