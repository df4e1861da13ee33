"""Training-set benchmark: fsql (Python API and CLI) against a plain DuckDB ASOF floor.

The floor is what no correct plan can beat by much: one `ASOF LEFT JOIN` per view on
the same built tables, ties left arbitrary, no TTL, no ordering guarantees. fsql must
also break ties by created time, apply the TTL, keep entity order and pass entity
columns through. Every step runs in its own process (peak RSS is its own).

    python bench/training_set.py --size M            # API + CLI + floor
    python bench/training_set.py --size S --check    # plus a row-for-row oracle check

Targets (issue 4): fsql <= 1.3x the floor at M and L; peak RSS at L <= 2.5 GB.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_args, emit, run_step, table
from bench.workload import FEATURES, SIZES, generate

HERE = Path(__file__).resolve()


def step_build(root: str) -> None:
    from fsql import FeatureStore

    with FeatureStore(root) as store:
        started = time.perf_counter()
        store.build(list(store.project.views))
        emit({"step": "build", "seconds": time.perf_counter() - started})


def step_api(root: str) -> None:
    from fsql import FeatureStore

    started = time.perf_counter()
    with FeatureStore(root) as store:
        job = store.get_historical_features(f"{root}/data/entities.parquet", features=FEATURES)
        result = job.to_arrow()
    emit({"step": "fsql API", "seconds": time.perf_counter() - started, "rows": result.num_rows})


def step_floor(root: str) -> None:
    import duckdb
    import pyarrow.parquet as pq

    started = time.perf_counter()
    con = duckdb.connect(f"{root}/target/fsql.duckdb", read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    entities = pq.read_table(f"{root}/data/entities.parquet")
    con.register("entities", entities)
    result = con.sql(
        "SELECT e.*, u.purchase_count_30d, u.lifetime_value, u.session_count_1h, u.country, "
        "i.avg_rating, i.purchase_rate_7d, i.category FROM entities e "
        "ASOF LEFT JOIN user_stats u ON e.user_id = u.user_id "
        "AND e.event_timestamp >= u.event_timestamp "
        "ASOF LEFT JOIN item_stats i ON e.item_id = i.item_id "
        "AND e.event_timestamp >= i.event_timestamp"
    ).to_arrow_table()
    con.close()
    emit(
        {
            "step": "DuckDB ASOF floor",
            "seconds": time.perf_counter() - started,
            "rows": result.num_rows,
        }
    )


def step_floor_file(root: str, out: str) -> None:
    """The floor as a whole process writing parquet, to compare with the CLI."""
    import duckdb

    con = duckdb.connect(f"{root}/target/fsql.duckdb", read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "COPY (SELECT e.*, u.purchase_count_30d, u.lifetime_value, u.session_count_1h, "
        "u.country, i.avg_rating, i.purchase_rate_7d, i.category "
        "FROM read_parquet($path) e "
        "ASOF LEFT JOIN user_stats u ON e.user_id = u.user_id "
        "AND e.event_timestamp >= u.event_timestamp "
        "ASOF LEFT JOIN item_stats i ON e.item_id = i.item_id "
        "AND e.event_timestamp >= i.event_timestamp) TO '" + out.replace("'", "''") + "' "
        "(FORMAT parquet)",
        {"path": f"{root}/data/entities.parquet"},
    )
    con.close()
    emit({"step": "floor process"})


def step_cli(root: str, out: str) -> None:
    import subprocess

    fsql = str(Path(sys.executable).with_name("fsql"))
    subprocess.run(
        [
            fsql,
            "build-training-set",
            "--project-dir",
            root,
            "--entities",
            f"{root}/data/entities.parquet",
            "--features",
            ",".join(FEATURES),
            "--output",
            out,
        ],
        check=True,
        capture_output=True,
    )
    import resource

    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    emit({"step": "fsql CLI", "cli_peak_rss_mb": round(child_peak, 1)})


def step_check(root: str) -> None:
    """fsql's answer against the brute-force oracle of tests/support, row for row.

    The oracle scans every row of a view per entity row; to keep that affordable at S it
    is called per join key, with only that key's feature rows and entity rows.
    """
    from collections import defaultdict
    from datetime import timedelta

    import pyarrow.parquet as pq

    from fsql import FeatureStore
    from tests.support.oracle import OracleView, pit_oracle, values_equal

    entities = pq.read_table(f"{root}/data/entities.parquet").to_pylist()
    with FeatureStore(root) as store:
        got = (
            store.get_historical_features(f"{root}/data/entities.parquet", features=FEATURES)
            .to_arrow()
            .to_pylist()
        )
    bad_rows: set[int] = set()
    for name, key in (("user_stats", "user_id"), ("item_stats", "item_id")):
        features = [f.split(":")[1] for f in FEATURES if f.startswith(name + ":")]
        by_key: dict[object, list[dict]] = defaultdict(list)
        for row in pq.read_table(f"{root}/data/{name}.parquet").to_pylist():
            by_key[row[key]].append(row)
        wanted: dict[object, list[int]] = defaultdict(list)
        for index, row in enumerate(entities):
            wanted[row[key]].append(index)
        for value, indexes in wanted.items():
            view = OracleView(
                name, (key,), by_key.get(value, []), timedelta(days=7), "created_timestamp"
            )
            expected = pit_oracle(
                [entities[i] for i in indexes], [view], [(name, f) for f in features]
            )
            for index, exp in zip(indexes, expected, strict=True):
                if not all(values_equal(got[index][f], exp[f]) for f in features):
                    bad_rows.add(index)
    emit({"step": "oracle check", "rows": len(got), "mismatches": len(bad_rows)})


STEPS = {
    "build": step_build,
    "api": step_api,
    "floor": step_floor,
    "cli": step_cli,
    "floor_file": step_floor_file,
    "check": step_check,
}


def main() -> None:
    args = bench_args(__doc__ or "", list(SIZES), STEPS)
    if args is None:
        return
    root = str(generate(args.size))
    out = f"{root}/target/bench_training.parquet"

    def step(name: str, *extra: str) -> dict:
        return run_step([str(HERE), "--step", name, root, *extra])

    step("build")
    results: dict[str, list[dict]] = {}
    for _ in range(args.repeat):  # interleaved, so load on the machine hits both alike
        for name in ("floor", "api", "floor_file", "cli"):
            extra = (out,) if name in ("cli", "floor_file") else ()
            results.setdefault(name, []).append(step(name, *extra))

    def best(name: str, key: str) -> float:
        return min(r[key] for r in results[name])

    def peak(name: str) -> float:
        return max(r["peak_rss_mb"] for r in results[name])

    floor, api = best("floor", "seconds"), best("api", "seconds")
    floor_p, cli_p = best("floor_file", "process_seconds"), best("cli", "process_seconds")
    rows = [
        ["DuckDB ASOF floor (in process)", floor, 1.0, peak("floor")],
        ["fsql Python API", api, api / floor, peak("api")],
        ["DuckDB floor, whole process to parquet", floor_p, 1.0, peak("floor_file")],
        [
            "fsql CLI build-training-set",
            cli_p,
            cli_p / floor_p,
            max(r["cli_peak_rss_mb"] for r in results["cli"]),
        ],
    ]
    print(
        f"training set, size {args.size}: {SIZES[args.size][1]:,} entity rows, "
        f"{SIZES[args.size][0]:,} feature rows, best of {args.repeat}"
    )
    print(table(rows, ["step", "seconds", "x floor", "peak RSS MiB"]))
    summary = {"size": args.size, "results": results}
    if args.check:
        check = step("check")
        print(f"oracle check: {check['mismatches']} mismatching rows of {check['rows']:,}")
        summary["check"] = check
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
