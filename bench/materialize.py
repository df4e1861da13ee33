"""Materialization benchmark (not a test): fsql into SQLite and Redis against a raw floor.

What is timed, each in its own process (`bench.common.run_step`, so peak RSS is the step's):

- `fsql run`: `FeatureStore(root, target).run(end=RUN_END)` builds both views, then
  materializes both online views. Build and materialization are told apart by the
  progress callback (the first "materializing" message), so one call gives both times.
  RUN_END is just after the data (the workload's 90 days end 2026-04-01), so the 7-day
  TTL window keeps the keys updated in the last week (~70% of users, ~55% of items).
- `fsql materialize`: `store.materialize(ALL_START, END)` on the built views writes every
  key (N/20 users + N/50 items: 14k at S, 140k at M, 1.4M at L, the issue's L target).
  An explicit START turns off the TTL pruning that `run` and `materialize(None, end)` do.
- The reference, on the same built tables and the same window: DuckDB's latest-row query
  (`arg_max({row}, {t: event_timestamp, c: created_timestamp}) GROUP BY key ORDER BY key`,
  the engine's fastest form of it, timestamps turned into integer microseconds by DuckDB),
  fetched as 100k-row Arrow batches, then a raw bulk write of the same rows:
  SQLite `executemany` INSERT into a fresh `WITHOUT ROWID` table (one transaction per view,
  same journal pragmas as fsql's store); Redis pipelined MSET (1,000 keys per MSET) of
  msgpack values under a prefix of its own. It is the floor: no newest-wins guard, no
  teardown index, no null-key filtering, no run state.

The `end` the brief suggested, 2026-04-08, is 7 days after the last event: with the TTL
pruning of `run` it writes no key at all, so it is used only as the END of the
all-keys window (where START is explicit and no pruning happens).

Every store starts empty: the SQLite files are deleted and the Redis keys with the
profile's prefix "fsqlbench:" (and the reference's "fsqlbenchref:") in database 15 are
deleted with SCAN MATCH before and after. The project lives in bench/data/<size>-online/
(its own DuckDB file), so other benchmarks on bench/data/<size>/ do not lock it.

    python bench/materialize.py --size S                       # both stores, best of 3
    python bench/materialize.py --size S,M --stores sqlite     # RSS growth from S to M
    python bench/materialize.py --size M --json /tmp/mat.json

Targets (issue 4): fsql <= 1.2x the reference; peak RSS not growing with data size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, run_step, table
from bench.workload import DATA, SIZES, generate

HERE = Path(__file__).resolve()
STORES = ("sqlite", "redis")
TARGETS = {"sqlite": "dev", "redis": "redis"}  # profile targets of bench/workload.py
REDIS_URL = "redis://127.0.0.1:6379/15"  # as in the workload's `redis` target
FSQL_PREFIX = "fsqlbench:"  # the `redis` target's key_prefix
REF_PREFIX = "fsqlbenchref:"  # the reference's own keys
ALL_START = datetime(2026, 1, 1, tzinfo=UTC)  # the workload's first event time
END = datetime(2026, 4, 8, tzinfo=UTC)
RUN_END = datetime(2026, 4, 1, tzinfo=UTC)  # just after the last event
TTL = timedelta(days=7)
WINDOWS = {"ttl": (RUN_END - TTL, RUN_END), "all": (ALL_START, END)}
BATCH_ROWS = 100_000  # what fsql's DuckDB adapter fetches per Arrow batch
VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {  # view -> (join key, features)
    "user_stats": (
        "user_id",
        ("purchase_count_30d", "lifetime_value", "session_count_1h", "country"),
    ),
    "item_stats": ("item_id", ("avg_rating", "purchase_rate_7d", "category")),
}
_SQLITE_TYPES = {
    "purchase_count_30d": "INTEGER",
    "lifetime_value": "REAL",
    "session_count_1h": "INTEGER",
    "country": "TEXT",
    "avg_rating": "REAL",
    "purchase_rate_7d": "REAL",
    "category": "TEXT",
}


def own_peak_mb() -> float:
    """Peak RSS of this process image in MiB, from VmHWM.

    Not `ru_maxrss` (bench.common.peak_rss_mb): Python starts steps with vfork + exec,
    and Linux carries the parent's high-water mark across exec, so a step's ru_maxrss is
    at least the harness's RSS (measured: a 12 MiB child reports 512 MiB after its
    parent touched 500 MiB). VmHWM belongs to the new address space only.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def redis_cpu() -> float:
    """CPU seconds the Redis server has used so far (user + system, all its threads)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def cpu_now(store: str) -> float:
    """CPU seconds of this process (every thread, DuckDB's too) plus, for Redis, the server's:
    less sensitive than wall time to other load on the machine."""
    return time.process_time() + (redis_cpu() if store == "redis" else 0.0)


def project_root(size: str) -> Path:
    """The benchmark's own copy of the workload (its DuckDB file is locked while in use)."""
    return generate(size, DATA / f"{size}-online")


def online_db(root: Path) -> Path:
    return root / "target" / "online.db"  # the `dev` target's SQLite path


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite database with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def clean_redis(prefixes: Sequence[str] = (FSQL_PREFIX, REF_PREFIX)) -> int:
    """UNLINK the keys of `prefixes` in database 15 (SCAN MATCH, never FLUSHDB)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    removed = 0
    try:
        for prefix in prefixes:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"{prefix}*", count=10_000):
                batch.append(key)
                if len(batch) >= 1000:
                    removed += client.unlink(*batch)
                    batch = []
            if batch:
                removed += client.unlink(*batch)
    finally:
        client.close()
    return removed


def latest_sql(view: str) -> str:
    """The reference's latest-row query: the point-in-time rule at $end, sorted by key.

    DuckDB's fastest form of it: one `arg_max` per key over a (event, created) struct,
    about twice as fast as ranking every row with `row_number()`."""
    key, features = VIEWS[view]
    packed = ", ".join(f"{f}: {f}" for f in features)
    return (
        f"SELECT {key}, epoch_us(r.t) AS event_us, "
        f"coalesce(epoch_us(r.c), -9223372036854775808) AS created_us, "
        f"{', '.join(f'r.{f}' for f in features)} FROM ("
        f"SELECT {key}, arg_max({{t: event_timestamp, c: created_timestamp, {packed}}}, "
        f"{{t: event_timestamp, c: coalesce(created_timestamp, '-infinity'::TIMESTAMPTZ)}}) AS r "
        f"FROM {view} WHERE {key} IS NOT NULL AND event_timestamp BETWEEN $start AND $end "
        f"GROUP BY {key}) ORDER BY {key}"
    )


def timed_batches(reader: Any, clock: list[float]) -> Iterator[Any]:
    """The reader's batches; the time spent producing them is added to clock[0]."""
    while True:
        started = time.perf_counter()
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            clock[0] += time.perf_counter() - started
            return
        clock[0] += time.perf_counter() - started
        yield batch


# --- steps (each runs in its own process) ----------------------------------------------------


def step_fsql(root: str, store: str, window: str, memory_mb: str = "") -> None:
    """fsql through the public API; connections are opened before the clock starts.
    `memory_mb` (when given) is the store's materialization memory budget."""
    from fsql import FeatureStore
    from fsql.defaults import MATERIALIZE_MEMORY_MB

    marks: dict[str, float] = {}

    def progress(message: str) -> None:
        """In `run`, the first "materializing" message ends the build."""
        if window == "ttl" and message.startswith("materializing") and "split" not in marks:
            marks["split"] = time.perf_counter()
            marks["cpu"] = cpu_now(store)  # replaces the start: CPU after the build

    budget = int(memory_mb) if memory_mb else MATERIALIZE_MEMORY_MB
    with FeatureStore(root, target=TARGETS[store], materialize_memory_mb=budget) as fs:
        opened = time.perf_counter()
        _ = fs.offline, fs.online
        marks["cpu"] = cpu_now(store)
        started = time.perf_counter()
        if window == "ttl":
            _, results = fs.run(end=RUN_END, progress=progress)
        else:
            results = fs.materialize(*WINDOWS[window], progress=progress)
        done = time.perf_counter()
        cpu = cpu_now(store)
    # `materialize`: the whole call (its up-to-date check of the built views included).
    split = marks.get("split", started)
    emit(
        {
            "step": f"fsql {store} {window}",
            "keys": sum(r.rows for r in results),
            "open_seconds": started - opened,
            "build_seconds": split - started,
            "seconds": done - split,
            "cpu_seconds": cpu - marks["cpu"],
            "rss_mb": own_peak_mb(),
        }
    )


def open_duckdb(root: str) -> Any:
    """The built tables, read-only; opened (and duckdb imported) before the clock starts,
    as fsql's connections are."""
    import duckdb

    con = duckdb.connect(f"{root}/target/fsql.duckdb", read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


def reference_batches(con: Any, view: str, window: str, clock: list[float]) -> Iterator[Any]:
    """Arrow batches of `view`'s latest rows in `window`; query time is added to clock[0]."""
    start, end = WINDOWS[window]
    t0 = time.perf_counter()
    reader = con.sql(latest_sql(view), params={"start": start, "end": end}).to_arrow_reader(
        BATCH_ROWS
    )
    clock[0] += time.perf_counter() - t0
    yield from timed_batches(reader, clock)


def step_ref_sqlite(root: str, window: str) -> None:
    """Latest rows, then executemany into fresh WITHOUT ROWID tables, one transaction each."""
    import sqlite3

    path = Path(root) / "target" / "reference_online.db"
    remove_sqlite(path)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")  # the same journal settings as fsql's store
    conn.execute("PRAGMA synchronous = NORMAL")
    con = open_duckdb(root)
    keys = 0
    clock = [0.0]
    cpu = cpu_now("sqlite")
    started = time.perf_counter()
    for view, (key, features) in VIEWS.items():
        columns = [key, "event_us", "created_us", *features]
        types = ["", "INTEGER NOT NULL", "INTEGER NOT NULL", *(_SQLITE_TYPES[f] for f in features)]
        defs = ", ".join(f"{c} {t}".strip() for c, t in zip(columns, types, strict=True))
        conn.execute(f"CREATE TABLE ref_{view} ({defs}, PRIMARY KEY ({key})) WITHOUT ROWID")
        insert = f"INSERT INTO ref_{view} VALUES ({', '.join('?' * len(columns))})"
        conn.execute("BEGIN")
        for batch in reference_batches(con, view, window, clock):
            keys += batch.num_rows
            conn.executemany(insert, zip(*(c.to_pylist() for c in batch.columns), strict=True))
        conn.execute("COMMIT")
    done = time.perf_counter()
    cpu = cpu_now("sqlite") - cpu
    conn.close()
    con.close()
    remove_sqlite(path)
    emit(
        {
            "step": f"reference sqlite {window}",
            "keys": keys,
            "seconds": done - started,
            "query_seconds": clock[0],
            "cpu_seconds": cpu,
            "rss_mb": own_peak_mb(),
        }
    )


def step_ref_redis(root: str, window: str) -> None:
    """Latest rows, then pipelined MSET of msgpack values (1,000 keys per MSET)."""
    import msgpack
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    pack = msgpack.Packer(use_bin_type=True).pack
    con = open_duckdb(root)
    keys = 0
    clock = [0.0]
    cpu = cpu_now("redis")
    started = time.perf_counter()
    for view in VIEWS:
        base = f"{REF_PREFIX}{view}:".encode()
        for batch in reference_batches(con, view, window, clock):
            keys += batch.num_rows
            ids = batch.column(0).to_pylist()
            names = [base + pack(i) for i in ids]
            values = list(map(pack, zip(*(c.to_pylist() for c in batch.columns[1:]), strict=True)))
            pipe = client.pipeline(transaction=False)
            for lo in range(0, len(names), 1000):
                pipe.mset(dict(zip(names[lo : lo + 1000], values[lo : lo + 1000], strict=True)))
            pipe.execute()
    done = time.perf_counter()
    cpu = cpu_now("redis") - cpu
    client.close()
    con.close()
    emit(
        {
            "step": f"reference redis {window}",
            "keys": keys,
            "seconds": done - started,
            "query_seconds": clock[0],
            "cpu_seconds": cpu,
            "rss_mb": own_peak_mb(),
        }
    )


def step_baseline(root: str, store: str) -> None:
    """Imports and an opened store, no work: the RSS floor of a fsql step."""
    from fsql import FeatureStore

    with FeatureStore(root, target=TARGETS[store]) as fs:
        _ = fs.offline, fs.online
        emit({"step": f"baseline {store}", "rss_mb": own_peak_mb()})


STEPS: dict[str, Callable[..., None]] = {
    "fsql": step_fsql,
    "ref_sqlite": step_ref_sqlite,
    "ref_redis": step_ref_redis,
    "baseline": step_baseline,
}


# --- harness ---------------------------------------------------------------------------------


def fresh(root: Path, store: str) -> None:
    """An empty online store for the next step."""
    if store == "sqlite":
        remove_sqlite(online_db(root))
    else:
        clean_redis()


def measure(
    root: Path, store: str, repeat: int, memory_mb: str = ""
) -> dict[str, list[dict[str, Any]]]:
    """All steps for one store, `repeat` times, fsql and reference interleaved so that load
    from elsewhere on the machine hits both alike. The SQLite store is left with every key
    materialized (by the last fsql step), which bench/online_reads.py reuses."""

    def step(name: str, *extra: str) -> dict[str, Any]:
        return run_step([str(HERE), "--step", name, str(root), *extra])

    out: dict[str, list[dict[str, Any]]] = {"baseline": [step("baseline", store)]}
    for _ in range(repeat):
        for window in ("ttl", "all"):  # the first fsql step (`run`) builds the views
            fresh(root, store)
            out.setdefault(f"fsql {window}", []).append(step("fsql", store, window, memory_mb))
            out.setdefault(f"ref {window}", []).append(step(f"ref_{store}", window))
    return out


def summarize(size: str, store: str, runs: dict[str, list[dict[str, Any]]]) -> list[list[Any]]:
    """Table rows, best time of the repeats and highest peak RSS (VmHWM, see own_peak_mb)."""

    def best(name: str, key: str = "seconds") -> float:
        return float(min(r[key] for r in runs[name]))

    def peak(name: str) -> float:
        return float(max(r["rss_mb"] for r in runs[name]))

    rows = []
    for window, what in (("ttl", "fsql run, 7d TTL"), ("all", "materialize all keys")):
        fsql, ref = runs[f"fsql {window}"], runs[f"ref {window}"]
        keys, ref_keys = fsql[0]["keys"], ref[0]["keys"]
        if keys != ref_keys:
            print(f"warning: {store} {window}: fsql wrote {keys} keys, reference {ref_keys}")
        seconds, ref_s = best(f"fsql {window}"), best(f"ref {window}")
        build = best(f"fsql {window}", "build_seconds") if window == "ttl" else ""
        rows.append(
            [
                size,
                store,
                what,
                keys,
                build,
                seconds,
                round(keys / seconds),
                ref_s,
                best(f"ref {window}", "query_seconds"),
                round(ref_keys / ref_s),
                round(seconds / ref_s, 2),
                best(f"fsql {window}", "cpu_seconds"),
                best(f"ref {window}", "cpu_seconds"),
                round(
                    best(f"fsql {window}", "cpu_seconds") / best(f"ref {window}", "cpu_seconds"), 2
                ),
                peak("baseline"),
                peak(f"fsql {window}"),
                peak(f"ref {window}"),
            ]
        )
    return rows


HEADER = [
    "size",
    "store",
    "step",
    "keys",
    "build s",
    "fsql mat. s",
    "fsql keys/s",
    "ref s",
    "ref query s",
    "ref keys/s",
    "fsql/ref",
    "fsql CPU s",
    "ref CPU s",
    "CPU fsql/ref",
    "open RSS MiB",
    "fsql RSS MiB",
    "ref RSS MiB",
]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        STEPS[sys.argv[2]](*sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S", help="S, M, L or XL; several: S,M")
    parser.add_argument("--stores", default=",".join(STORES), help="sqlite,redis")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (interleaved)")
    parser.add_argument("--json", type=Path, default=None, help="write raw step results")
    parser.add_argument(
        "--memory-mb",
        default="",
        help="fsql's materialization memory budget in MiB (default: fsql's own)",
    )
    args = parser.parse_args()
    sizes = args.size.split(",")
    stores = args.stores.split(",")
    if bad := [s for s in sizes if s not in SIZES] + [s for s in stores if s not in STORES]:
        parser.error(f"unknown size or store: {', '.join(bad)}")

    results: dict[str, dict[str, Any]] = {}
    rows: list[list[Any]] = []
    if "redis" in stores:
        clean_redis()
    try:
        for size in sizes:
            root = project_root(size)
            for store in stores:
                runs = measure(root, store, args.repeat, args.memory_mb)
                results[f"{size} {store}"] = runs
                rows += summarize(size, store, runs)
    finally:
        if "redis" in stores:
            clean_redis()
    print(
        f"materialization, best of {args.repeat}; windows: run(end={RUN_END:%Y-%m-%d}) "
        f"with its 7d TTL, and materialize({ALL_START:%Y-%m-%d}, {END:%Y-%m-%d}); "
        "CPU: the process's (all threads), plus the Redis server's for redis"
    )
    print(table(rows, HEADER))
    if len(sizes) > 1:  # peak RSS against the data size: should stay flat
        growth = []
        for store in stores:
            first, last = results[f"{sizes[0]} {store}"], results[f"{sizes[-1]} {store}"]
            for name in ("baseline", "fsql ttl", "fsql all", "ref all"):
                a = max(r["rss_mb"] for r in first[name])
                b = max(r["rss_mb"] for r in last[name])
                growth.append([store, name, a, b, round(b / a, 2)])
        print()
        print(table(growth, ["store", "step", f"RSS {sizes[0]} MiB", f"RSS {sizes[-1]} MiB", "x"]))
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes, "results": results}, indent=2))


if __name__ == "__main__":
    main()
