"""Windowed-aggregation benchmark: fsql's training set against a hand-written DuckDB
range join + GROUP BY over the same built table, in the same run.

One view of purchase events (`amount`, a created timestamp) with nine windowed features
(count, sum and avg of amount over 1h, 1d and 7d); entity rows at random times over the
same 30 days. Two key distributions: `uniform`, and `hot`, where 1% of the keys hold half
of the events (and half of the entity rows): the case that makes a range join grow with
the square of a key's rows, and that fsql's framed windows handle in one pass.

    python bench/windows.py --size M              # both distributions
    python bench/windows.py --size S --check      # plus fsql == reference, row for row

Targets (issue 14): fsql <= 1.5x the reference at M (uniform); faster than the reference
when 1% of the keys hold half of the events.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_args, emit, run_step, table

HERE = Path(__file__).resolve()
# events, keys, entity rows
SIZES = {
    "S": (200_000, 5_000, 20_000),
    "M": (2_000_000, 50_000, 200_000),
    "L": (10_000_000, 200_000, 1_000_000),
}
WINDOWS = {"1h": 3600, "1d": 86400, "7d": 7 * 86400}
FUNCTIONS = ("count", "sum", "avg")
SPAN_SECONDS = 30 * 86400
START = 1_704_067_200  # 2024-01-01 UTC


def features() -> list[str]:
    return [
        f"purchases:{'count' if f == 'count' else 'amount_' + f}_{w}"
        for f in FUNCTIONS
        for w in WINDOWS
    ]


def _keys(rng: object, n: int, keys: int, hot: bool) -> object:
    import numpy as np

    assert isinstance(rng, np.random.Generator)
    if not hot:
        return rng.integers(0, keys, n)
    hot_keys = max(1, keys // 100)
    half = rng.random(n) < 0.5
    return np.where(half, rng.integers(0, hot_keys, n), rng.integers(hot_keys, keys, n))


def generate(size: str, hot: bool) -> Path:
    """The project (written once per size and distribution) under bench/data/ (ignored by git)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = HERE.parent / "data" / f"windows-{size}-{'hot' if hot else 'uniform'}"
    if (root / "data" / "entities.parquet").exists():
        return root
    events, keys, entities = SIZES[size]
    rng = np.random.default_rng(14)
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(parents=True, exist_ok=True)
    ts = START + rng.integers(0, SPAN_SECONDS, events)
    seconds = pa.timestamp("s", tz="UTC")
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(_keys(rng, events, keys, hot), pa.int64()),
                "event_timestamp": pa.array(ts, seconds),
                "created_timestamp": pa.array(ts + rng.integers(0, 600, events), seconds),
                "amount": pa.array(np.round(rng.gamma(2.0, 20.0, events), 2)),
            }
        ),
        root / "data" / "purchases.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(_keys(rng, entities, keys, hot), pa.int64()),
                "event_timestamp": pa.array(
                    START + rng.integers(0, SPAN_SECONDS, entities), seconds
                ),
            }
        ),
        root / "data" / "entities.parquet",
    )
    (root / "fsql_project.yml").write_text("name: windows\nprofile: windows\n")
    (root / "profiles.yml").write_text(
        "windows:\n  target: dev\n  outputs:\n    dev:\n"
        f"      offline: {{type: duckdb, path: {root}/target/fsql.duckdb}}\n"
        f"      online: {{type: sqlite, path: {root}/target/online.db}}\n"
    )
    windows = ", ".join(WINDOWS)
    (root / "models" / "purchases.yml").write_text(
        "entities:\n  - {name: user, join_keys: [user_id]}\n"
        "sources:\n  - name: raw\n    tables:\n"
        "      - {name: purchases, path: data/purchases.parquet}\n"
        "feature_views:\n  - name: purchases\n    entities: [user]\n"
        "    timestamp: event_timestamp\n    created_timestamp: created_timestamp\n"
        "    aggregations:\n"
        f"      - {{function: count, windows: [{windows}]}}\n"
        f"      - {{column: amount, function: sum, windows: [{windows}]}}\n"
        f"      - {{column: amount, function: avg, windows: [{windows}]}}\n"
    )
    (root / "models" / "purchases.sql").write_text(
        "select user_id, event_timestamp, created_timestamp, amount\n"
        "from {{ source('raw', 'purchases') }}\n"
    )
    return root


def step_build(root: str) -> None:
    from fsql import FeatureStore

    with FeatureStore(root) as store:
        started = time.perf_counter()
        store.build(["purchases"])
        emit({"step": "build", "seconds": time.perf_counter() - started})


def step_fsql(root: str) -> None:
    from fsql import FeatureStore

    started = time.perf_counter()
    with FeatureStore(root) as store:
        job = store.get_historical_features(f"{root}/data/entities.parquet", features=features())
        result = job.to_arrow()
    emit({"step": "fsql", "seconds": time.perf_counter() - started, "rows": result.num_rows})


def reference_sql() -> str:
    """A range join of each entity row to its key's rows of the last 7 days, one
    FILTERed aggregate per feature: what one writes by hand in DuckDB."""
    aggs = []
    for function in FUNCTIONS:
        for window, seconds in WINDOWS.items():
            inside = f"p.event_timestamp > e.event_timestamp - INTERVAL {seconds} SECOND"
            value = "p.amount" if function != "count" else "p.user_id"
            name = "count" if function == "count" else f"amount_{function}"
            aggs.append(f"{function}({value}) FILTER (WHERE {inside}) AS {name}_{window}")
    return (
        "SELECT e.row_id, " + ", ".join(aggs) + " FROM entities e LEFT JOIN purchases p "
        "ON p.user_id = e.user_id AND p.event_timestamp <= e.event_timestamp "
        f"AND p.event_timestamp > e.event_timestamp - INTERVAL {max(WINDOWS.values())} SECOND "
        "GROUP BY e.row_id ORDER BY e.row_id"
    )


def step_reference(root: str) -> None:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    con = duckdb.connect(f"{root}/target/fsql.duckdb", read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    entities = pq.read_table(f"{root}/data/entities.parquet")
    entities = entities.append_column("row_id", pa.array(range(entities.num_rows), pa.int64()))
    con.register("entities", entities)
    result = con.sql(reference_sql()).to_arrow_table()
    con.close()
    emit({"step": "reference", "seconds": time.perf_counter() - started, "rows": result.num_rows})


def step_check(root: str) -> None:
    """fsql's nine features equal the reference's for every entity row (the reference
    counts each row, the events here have no repeated versions)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fsql import FeatureStore
    from tests.support.oracle import values_equal

    with FeatureStore(root) as store:
        got = (
            store.get_historical_features(f"{root}/data/entities.parquet", features=features())
            .to_arrow()
            .to_pylist()
        )
    con = duckdb.connect(f"{root}/target/fsql.duckdb", read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    entities = pq.read_table(f"{root}/data/entities.parquet")
    entities = entities.append_column("row_id", pa.array(range(entities.num_rows), pa.int64()))
    con.register("entities", entities)
    want = con.sql(reference_sql()).to_arrow_table().to_pylist()
    names = [f.split(":")[1] for f in features()]
    bad = sum(
        1
        for g, w in zip(got, want, strict=True)
        if not all(
            values_equal(g[n], w[n] if w[n] is not None or "count" not in n else 0) for n in names
        )
    )
    emit({"step": "check", "rows": len(got), "mismatches": bad})


STEPS = {"build": step_build, "fsql": step_fsql, "reference": step_reference, "check": step_check}


def main() -> None:
    args = bench_args(__doc__ or "", list(SIZES), STEPS)
    if args is None:
        return
    rows, summary = [], {}
    events, keys, ents = SIZES[args.size]
    for hot in (False, True):
        root = str(generate(args.size, hot))
        run_step([str(HERE), "--step", "build", root])
        results: dict[str, list[dict]] = {}
        for _ in range(args.repeat):  # interleaved: machine load hits both alike
            for name in ("reference", "fsql"):
                results.setdefault(name, []).append(run_step([str(HERE), "--step", name, root]))
        ref = min(r["seconds"] for r in results["reference"])
        ours = min(r["seconds"] for r in results["fsql"])
        label = "hot (1% of keys: half the events)" if hot else "uniform keys"
        rows.append(
            [
                label,
                ref,
                ours,
                ours / ref,
                max(r["peak_rss_mb"] for r in results["reference"]),
                max(r["peak_rss_mb"] for r in results["fsql"]),
            ]
        )
        summary[label] = results
        if args.check:
            check = run_step([str(HERE), "--step", "check", root])
            print(f"{label}: {check['mismatches']} mismatching rows of {check['rows']:,}")
    print(
        f"9 windowed features, size {args.size}: {events:,} events, {keys:,} keys, "
        f"{ents:,} entity rows, best of {args.repeat}"
    )
    print(
        table(rows, ["keys", "range join s", "fsql s", "fsql / ref", "ref RSS MiB", "fsql RSS MiB"])
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
