"""Online read benchmark (not a test): `FeatureStore.get_online_features` against raw lookups.

Reads all 7 features of the workload (2 views: user_stats by user_id, item_stats by
item_id) for 1 entity row and for 100 entity rows, from SQLite and from Redis, and the
same keys in the same run with a raw client:

- SQLite: prepared `SELECT __event_ts, <features> FROM fsql_view__<view>__<tag> WHERE key = ?`
  on a plain sqlite3 connection to the store's file (with the store's page cache and mmap
  pragmas, so the floor is not slowed by settings fsql chose). For 100 rows two raw forms
  are timed, 100 point SELECTs per view and one `IN (?, ...)` SELECT per view; the faster
  one is the reference.
- Redis: one MGET of every key the read needs (2 for 1 row, 200 for 100 rows) through a
  plain redis-py client, keys computed from the documented layout (`P <tag>:` + msgpack of
  the key, the tag read from the meta hash), values not decoded.

Keys are random entity rows of the workload's entities.parquet (fixed seed, so unknown
users and items appear as in training), the same sample for fsql and the raw client.
Each timed call is one `time.perf_counter_ns` interval; fsql and raw calls run in
interleaved blocks, so load elsewhere on the machine hits both alike; warm-up first; the
garbage collector is paused inside a block (as in bench/redis_online.py), so one
collection does not land in one sample. p50 and p99 are over every timed call.

Reads apply the 7-day TTL at "now". The workload's data ends on 2026-04-01 and
`get_online_features` takes no time argument, so with the wall clock every value would
read as expired (None) and fsql would skip all decoding. The clock fsql's serving module
reads is pinned to 2026-04-01T00:00:00Z instead (a module attribute swapped in this
process; no fsql file changes): ~60% of the values are then live and decoded. Before
timing, fsql's answers are checked against the raw rows (with the TTL applied by hand).

The store is the one bench/materialize.py leaves (SQLite, every key materialized in
bench/data/<size>-online/); when missing, or for Redis (materialize.py cleans its keys),
it is materialized first with `materialize(2026-01-01, 2026-04-08)`. Redis keys with the
profile's prefix "fsqlbench:" in database 15 are deleted (SCAN MATCH) before and after.

    python bench/online_reads.py --size S
    python bench/online_reads.py --size M --stores redis --json /tmp/reads.json

Targets (issue 4): p50 within 3x the raw lookup; p99 <= 2x p50.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, run_step, table
from bench.materialize import (
    ALL_START,
    END,
    FSQL_PREFIX,
    REDIS_URL,
    RUN_END,
    STORES,
    TARGETS,
    TTL,
    VIEWS,
    clean_redis,
    online_db,
    own_peak_mb,
    project_root,
)
from bench.workload import FEATURES, SIZES

HERE = Path(__file__).resolve()
PROJECT = "bench"  # the workload's project name: the Redis meta hash is P fsql:<project>:meta
NOW_US = int(RUN_END.timestamp()) * 1_000_000
OLDEST_US = NOW_US - int(TTL.total_seconds()) * 1_000_000
SEED = 20261125
BLOCK = 250  # calls per interleaved block
WARMUP = 300


class FrozenClock:
    """Stands in for the `time` module inside fsql.online.serving: `time_ns()` is fixed.

    A C-level callable (`itertools.repeat(...).__next__`), so it costs what `time.time_ns`
    costs."""

    def __init__(self, now_ns: int) -> None:
        self.time_ns = itertools.repeat(now_ns).__next__


def sample_rows(root: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` random entity rows (keys only) of the workload's entity file."""
    import numpy as np
    import pyarrow.parquet as pq

    entities = pq.read_table(root / "data" / "entities.parquet", columns=["user_id", "item_id"])
    picks = np.random.default_rng(seed).integers(0, entities.num_rows, count)
    return list(entities.take(picks).to_pylist())


def latencies(
    cases: dict[str, Callable[[int], object]], count: int, block: int = BLOCK
) -> dict[str, list[int]]:
    """Nanoseconds per call of each case on samples 0..count-1, cases interleaved by block."""
    for fn in cases.values():
        for i in range(min(WARMUP, count)):
            fn(i)
    out: dict[str, list[int]] = {name: [] for name in cases}
    clock = time.perf_counter_ns
    for lo in range(0, count, block):
        hi = min(count, lo + block)
        for name, fn in cases.items():
            samples = out[name]
            gc.collect()
            gc.disable()
            try:
                for i in range(lo, hi):
                    t0 = clock()
                    fn(i)
                    samples.append(clock() - t0)
            finally:
                gc.enable()
    return out


def stats(samples: Sequence[int]) -> dict[str, float]:
    import numpy as np

    p50, p99 = np.percentile(np.asarray(samples, dtype=np.float64), [50, 99]) / 1000
    return {"p50_us": round(float(p50), 2), "p99_us": round(float(p99), 2), "n": len(samples)}


# --- raw clients -----------------------------------------------------------------------------


class RawSQLite:
    """Prepared point and IN-list SELECTs on the fsql tables (layout: README, SQLite)."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.conn = sqlite3.connect(str(path), check_same_thread=False, cached_statements=512)
        self.conn.execute("PRAGMA cache_size = -65536")  # as fsql's store does
        self.conn.execute("PRAGMA mmap_size = 268435456")
        self.point: dict[str, str] = {}
        self.many: dict[str, str] = {}
        marks = ", ".join("?" * 100)
        live = "SELECT tag FROM fsql_namespaces WHERE view = ?"  # each view's live table
        for view, (key, features) in VIEWS.items():
            (tag,) = self.conn.execute(live, (view,)).fetchone()
            table = f"fsql_view__{view}__{tag}"
            cols = ", ".join(f'"{c}"' for c in ("__event_ts", *features))
            self.point[view] = f'SELECT {cols} FROM "{table}" WHERE "{key}" = ?'
            self.many[view] = f'SELECT "{key}", {cols} FROM "{table}" WHERE "{key}" IN ({marks})'

    def one(self, user: int, item: int) -> object:
        execute = self.conn.execute
        return (
            execute(self.point["user_stats"], (user,)).fetchone(),
            execute(self.point["item_stats"], (item,)).fetchone(),
        )

    def loop(self, users: list[int], items: list[int]) -> object:
        execute = self.conn.execute
        pu, pi = self.point["user_stats"], self.point["item_stats"]
        return (
            [execute(pu, (u,)).fetchone() for u in users],
            [execute(pi, (i,)).fetchone() for i in items],
        )

    def in_list(self, users: list[int], items: list[int]) -> object:
        execute = self.conn.execute
        return (
            execute(self.many["user_stats"], users).fetchall(),
            execute(self.many["item_stats"], items).fetchall(),
        )

    def values(self, view: str, key: int) -> tuple[Any, ...] | None:
        """The features fsql should return for `key` at NOW_US (None: missing or expired)."""
        row = self.conn.execute(self.point[view], (key,)).fetchone()
        return None if row is None or row[0] < OLDEST_US else tuple(row[1:])


class RawRedis:
    """GET/MGET through a plain redis-py client; keys from the documented layout."""

    def __init__(self) -> None:
        import msgpack
        import redis

        from fsql.online.redis_codec import PREFIX_BYTES

        self.prefix_bytes = PREFIX_BYTES
        self.client = redis.Redis.from_url(REDIS_URL)
        self.pack = msgpack.Packer(use_bin_type=True).pack
        self.unpackb = msgpack.unpackb
        meta = self.client.hgetall(f"{FSQL_PREFIX}fsql:{PROJECT}:meta".encode())
        # field view -> "<layout>:<tag>:<view_hash>:<generation>" (KEY_LAYOUT); data keys
        # are P <tag> ":" msgpack(key)
        self.base = {
            view.decode(): FSQL_PREFIX.encode() + value.split(b":")[1] + b":"
            for view, value in meta.items()
        }

    def keys(self, users: list[int], items: list[int]) -> list[bytes]:
        pack, bu, bi = self.pack, self.base["user_stats"], self.base["item_stats"]
        return [bu + pack(u) for u in users] + [bi + pack(i) for i in items]

    def mget(self, users: list[int], items: list[int]) -> object:
        return self.client.mget(self.keys(users, items))

    def values(self, view: str, key: int) -> tuple[Any, ...] | None:
        raw = self.client.get(self.base[view] + self.pack(key))
        if raw is None or int.from_bytes(raw[:8], "big") - (1 << 63) < OLDEST_US:
            return None
        return tuple(self.unpackb(raw[self.prefix_bytes :]))


# --- steps (each runs in its own process) ----------------------------------------------------


def step_setup(root: str, store: str) -> None:
    """Materialize every key unless the store already holds that materialization."""
    from fsql import FeatureStore

    with FeatureStore(root, target=TARGETS[store]) as fs:
        states = [fs.online.get_state(view) for view in VIEWS]
        ready = all(
            s is not None and s.watermark == END and s.view_hash == fs.project.views[v].content_hash
            for v, s in zip(VIEWS, states, strict=True)
        )
        keys = 0
        started = time.perf_counter()
        if not ready:
            keys = sum(r.rows for r in fs.materialize(ALL_START, END))
        emit(
            {
                "step": f"setup {store}",
                "reused": ready,
                "keys": keys,
                "seconds": time.perf_counter() - started,
            }
        )


def step_reads(root: str, store: str, reads: str, batch_reads: str) -> None:
    """Checks fsql against the raw client, then times 1-row and 100-row reads of both."""
    from fsql import FeatureStore
    from fsql.online import serving

    serving.time = FrozenClock(NOW_US * 1000)  # type: ignore[assignment]
    n1, n100 = int(reads), int(batch_reads)
    rows = sample_rows(Path(root), n1 + n100 * 100, SEED)
    singles = rows[:n1]
    batches = [rows[n1 + 100 * b : n1 + 100 * (b + 1)] for b in range(n100)]
    ids = [([r["user_id"] for r in b], [r["item_id"] for r in b]) for b in batches]
    raw: RawSQLite | RawRedis = (
        RawSQLite(online_db(Path(root))) if store == "sqlite" else RawRedis()
    )

    with FeatureStore(root, target=TARGETS[store]) as fs:
        get = fs.get_online_features
        features = list(FEATURES)

        # fsql must return what the raw rows hold, or the comparison means nothing.
        checked = mismatches = live = 0
        for batch in batches[:10]:
            got = get(features=features, entity_rows=batch).to_dict()
            for i, row in enumerate(batch):
                for view, (key, names) in VIEWS.items():
                    want = raw.values(view, row[key])
                    have = tuple(got[n][i] for n in names)
                    live += want is not None
                    mismatches += have != (want or (None,) * len(names))
                    checked += 1

        cases: dict[str, dict[str, Callable[[int], object]]] = {
            "1 row": {
                "fsql": lambda i: get(features=features, entity_rows=[singles[i]]),
            },
            "100 rows": {
                "fsql": lambda i: get(features=features, entity_rows=batches[i]),
            },
        }
        if isinstance(raw, RawSQLite):
            sq = raw
            cases["1 row"]["raw point SELECT"] = lambda i: sq.one(
                singles[i]["user_id"], singles[i]["item_id"]
            )
            cases["100 rows"]["raw point SELECTs"] = lambda i: sq.loop(*ids[i])
            cases["100 rows"]["raw IN SELECT"] = lambda i: sq.in_list(*ids[i])
        else:
            rd = raw
            cases["1 row"]["raw MGET"] = lambda i: rd.mget(
                [singles[i]["user_id"]], [singles[i]["item_id"]]
            )
            cases["100 rows"]["raw MGET"] = lambda i: rd.mget(*ids[i])
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name, count in (("1 row", n1), ("100 rows", n100)):
            timed = latencies(cases[name], count)
            results[name] = {case: stats(samples) for case, samples in timed.items()}
    emit(
        {
            "step": f"reads {store}",
            "checked": checked,
            "mismatches": mismatches,
            "live_fraction": round(live / max(checked, 1), 3),
            "results": results,
            "rss_mb": own_peak_mb(),
        }
    )


STEPS: dict[str, Callable[..., None]] = {"setup": step_setup, "reads": step_reads}


# --- harness ---------------------------------------------------------------------------------


def summarize(size: str, store: str, result: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name, cases in result["results"].items():
        fsql = cases["fsql"]
        ref_name = min((c for c in cases if c != "fsql"), key=lambda c: cases[c]["p50_us"])
        ref = cases[ref_name]
        rows.append(
            [
                size,
                store,
                name,
                fsql["p50_us"],
                fsql["p99_us"],
                round(fsql["p99_us"] / fsql["p50_us"], 2),
                ref_name,
                ref["p50_us"],
                ref["p99_us"],
                round(ref["p99_us"] / ref["p50_us"], 2),
                round(fsql["p50_us"] / ref["p50_us"], 2),
                fsql["n"],
                result["rss_mb"],
            ]
        )
    return rows


HEADER = [
    "size",
    "store",
    "read",
    "fsql p50 us",
    "fsql p99 us",
    "p99/p50",
    "raw reference",
    "raw p50 us",
    "raw p99 us",
    "raw p99/p50",
    "fsql/raw p50",
    "calls",
    "RSS MiB",
]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        STEPS[sys.argv[2]](*sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=[s for s in SIZES if s != "L"], default="S")
    parser.add_argument("--stores", default=",".join(STORES), help="sqlite,redis")
    parser.add_argument("--reads", type=int, default=10_000, help="1-row calls timed per case")
    parser.add_argument(
        "--batch-reads", type=int, default=3_000, help="100-row calls timed per case"
    )
    parser.add_argument("--json", type=Path, default=None, help="write raw step results")
    args = parser.parse_args()
    stores = args.stores.split(",")
    if bad := [s for s in stores if s not in STORES]:
        parser.error(f"unknown store: {', '.join(bad)}")
    root = project_root(args.size)
    results: dict[str, Any] = {}
    rows: list[list[Any]] = []
    for store in stores:
        if store == "redis":
            clean_redis()
        try:
            setup = run_step([str(HERE), "--step", "setup", str(root), store])
            reads = run_step(
                [
                    str(HERE),
                    "--step",
                    "reads",
                    str(root),
                    store,
                    str(args.reads),
                    str(args.batch_reads),
                ]
            )
        finally:
            if store == "redis":
                clean_redis()
        results[store] = {"setup": setup, "reads": reads}
        if reads["mismatches"]:
            print(f"warning: {store}: {reads['mismatches']} of {reads['checked']} reads differ")
        rows += summarize(args.size, store, reads)
    print(
        f"online reads, size {args.size}: 7 features (2 views), now = {RUN_END:%Y-%m-%d}; "
        + "; ".join(
            f"{s}: {r['reads']['checked']} view reads checked, "
            f"{r['reads']['mismatches']} mismatches, {r['reads']['live_fraction']:.0%} live"
            + (", store reused" if r["setup"]["reused"] else ", store materialized first")
            for s, r in results.items()
        )
    )
    print(table(rows, HEADER))
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "results": results}, indent=2))


if __name__ == "__main__":
    main()
