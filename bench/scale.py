"""Scale harness (not a test): time and peak RSS of build, training set (unbounded and
within DuckDB's `memory_limit`) and full materialization, at a named size or any size
given by numbers, so the figures of bench/RESULTS.md can be re-taken on another machine.

Each step runs in its own process (`bench.common.run_step`; peak RSS from the kernel's
VmHWM of that process alone). The workload is bench/workload.py's (users and items with
16 and 10 versions per key, a 7-day TTL), written to bench/data/<name>-online/:

- `build`: `store.build(every view)` from the parquet sources;
- `training`: `get_historical_features(entities.parquet, FEATURES).to_arrow()` on the
  profile's `dev` target (DuckDB with no memory limit), and a sha256 of its rows;
- `training bounded`: the same on the `bounded` target (`memory_limit: 1GB`, DuckDB
  spilling to target/fsql.duckdb.tmp), whose rows must hash the same;
- `materialize`: `store.materialize(2026-01-01, 2026-04-08)` of every key into SQLite,
  within fsql's default materialization memory budget (key-hash partitions).

    python bench/scale.py --size XL                  # 80M feature rows, 4M entity rows
    python bench/scale.py --feature-rows 5e6 --entity-rows 5e5
    python bench/scale.py --size L --steps training,bounded
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_step, table
from bench.workload import DATA, FEATURES, SIZES, generate

HERE = Path(__file__).resolve()
ALL = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 8, tzinfo=UTC))
STEPS = ("build", "training", "bounded", "materialize")


def own_peak_mb() -> float:
    """This process's own peak RSS in MiB (VmHWM: not inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _emit(step: str, seconds: float, **extra: object) -> None:
    import json

    print(json.dumps({"step": step, "seconds": seconds, "rss_mb": own_peak_mb(), **extra}))


def step_build(root: str) -> None:
    from fsql import FeatureStore

    with FeatureStore(root) as store:
        started = time.perf_counter()
        store.build(list(store.project.views), full_refresh=True)
        _emit("build", time.perf_counter() - started)


def step_training(root: str, target: str) -> None:
    from fsql import FeatureStore

    with FeatureStore(root, target=target) as store:
        _ = store.offline
        started = time.perf_counter()
        result = store.get_historical_features(
            f"{root}/data/entities.parquet", features=FEATURES
        ).to_arrow()
        seconds = time.perf_counter() - started
    import duckdb

    # Every row's hash, summed (DuckDB's, over the row as a struct), and the first rows in
    # order: equal for equal training sets, whatever their chunking.
    total = duckdb.sql("SELECT sum(hash(t)) FROM result AS t").fetchall()[0][0]
    head = str(result.slice(0, 1000).to_pylist()).encode()
    digest = hashlib.sha256(str(total).encode() + head)
    _emit(f"training {target}", seconds, rows=result.num_rows, sha256=digest.hexdigest()[:16])


def step_materialize(root: str) -> None:
    from fsql import FeatureStore

    online = Path(root) / "target" / "online.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{online}{suffix}").unlink(missing_ok=True)
    with FeatureStore(root) as store:
        _ = store.offline, store.online
        started = time.perf_counter()
        results = store.materialize(*ALL)
        _emit("materialize", time.perf_counter() - started, keys=sum(r.rows for r in results))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        name, *args = sys.argv[2:]
        {"build": step_build, "training": step_training, "materialize": step_materialize}[name](
            *args
        )
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="M")
    parser.add_argument("--feature-rows", type=float, default=None, help="instead of --size")
    parser.add_argument("--entity-rows", type=float, default=None, help="with --feature-rows")
    parser.add_argument("--steps", default=",".join(STEPS), help=",".join(STEPS))
    args = parser.parse_args()
    counts = None
    name = args.size
    if args.feature_rows is not None:
        counts = (int(args.feature_rows), int(args.entity_rows or args.feature_rows / 20))
        name = f"{counts[0]}x{counts[1]}"
    root = generate(name if counts is None else "custom", DATA / f"{name}-online", counts=counts)
    steps = args.steps.split(",")
    if bad := [s for s in steps if s not in STEPS]:
        parser.error(f"unknown steps: {', '.join(bad)}")

    def step(*extra: str) -> dict:
        return run_step([str(HERE), "--step", *extra])

    results = []
    if "build" in steps:
        results.append(step("build", str(root)))
    if "training" in steps:
        results.append(step("training", str(root), "dev"))
    if "bounded" in steps:
        results.append(step("training", str(root), "bounded"))
    if "materialize" in steps:
        results.append(step("materialize", str(root)))
    rows = [
        [
            r["step"],
            round(r["seconds"], 2),
            r["rss_mb"],
            r.get("rows", r.get("keys", "")),
            r.get("sha256", ""),
        ]
        for r in results
    ]
    trained = {r["step"]: r for r in results if r["step"].startswith("training")}
    print(f"scale harness: {name} ({root})")
    print(table(rows, ["step", "seconds", "peak RSS MiB", "rows or keys", "rows sha256"]))
    if len(trained) == 2:
        free, bounded = trained["training dev"], trained["training bounded"]
        same = "the same rows" if free["sha256"] == bounded["sha256"] else "DIFFERENT ROWS"
        ratio = bounded["seconds"] / free["seconds"]
        print(f"\ntraining within memory_limit 1GB: {ratio:.2f}x the unbounded time, {same}")


if __name__ == "__main__":
    main()
