"""The benchmark's work run through Feast on the same files, for the fsql/Feast ratios.

    python bench/feast_compare.py --size S                    # all steps at S
    python bench/feast_compare.py --size M --steps training,materialize,online
    python bench/feast_compare.py --size L        # materialize only, 10 min limit per step

Feast runs in its own venv, bench/.venvs/feast (created here when missing, Feast pinned to
FEAST_VERSION), through `bench/feast_steps.py`; every measured step is its own process
(`common.run_step`), so its peak RSS is its own. Steps:

- training: `get_historical_features(entities.parquet, 7 features).to_df()` with the
  duckdb offline store, and (S and M only) with Feast's default file offline store, which
  drops entity rows; `--repeat` processes, median reported, of the first call in a fresh
  process (it pays about 2 s of Feast's lazy imports) and of a second call in the same one.
- materialize: `materialize(2025-01-01, 2026-04-08T00:00Z)` into SQLite and into Redis
  (127.0.0.1:6379 db 15, a project name of its own; our keys are deleted at the end).
- online: `get_online_features(...).to_dict()` p50/p99 for 1 and 100 entity rows.

At S (or with --check) the training sets are checked row for row against fsql's
(`FeatureStore('bench/data/S').get_historical_features(...)` run in this venv): rows are
matched on (user_id, item_id, event_timestamp, label) and a row differs when any feature
differs (NULL-aware, floats to 1e-9 relative).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, emit, run_step, table
from bench.workload import FEATURES, generate

FEAST_VERSION = "0.67.0"
VENV = REPO / "bench" / ".venvs" / "feast"
FEAST_PY = VENV / "bin" / "python"
STEPS_PY = "bench/feast_steps.py"
HERE = "bench/feast_compare.py"
L_LIMIT = 600.0  # seconds: L is measured only where Feast finishes within 10 minutes
ONLINE_ITERATIONS = {1: 1000, 100: 300}
KEYS = ["user_id", "item_id", "event_timestamp", "label"]
NAMES = [f.split(":")[1] for f in FEATURES]
VIEW_OF = {f.split(":")[1]: f.split(":")[0] for f in FEATURES}


def ensure_feast() -> str | None:
    """Create the Feast venv if needed; return why Feast is unusable, or None."""
    check = [str(FEAST_PY), "-c", "import feast; print(feast.__version__)"]
    if FEAST_PY.exists():
        done = subprocess.run(check, capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip() == FEAST_VERSION:
            return None
    python = shutil.which("python3") or sys.executable
    print(
        f"creating {VENV.relative_to(REPO)} with feast[duckdb,redis]=={FEAST_VERSION} ...",
        file=sys.stderr,
    )
    for cmd in (
        [python, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "pip"), "install", "-q", f"feast[duckdb,redis]=={FEAST_VERSION}"],
        check,
    ):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"`{' '.join(cmd)}` failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return None


def feast(
    command: str, size: str, variant: str, *extra: str, timeout: float = 3600
) -> dict[str, Any]:
    return run_step(
        [STEPS_PY, command, "--size", size, "--variant", variant, *extra],
        python=str(FEAST_PY),
        timeout=timeout,
    )


def attempt(label: str, fn, *args, **kwargs) -> dict[str, Any]:
    """Run one step; a failure or timeout becomes a row that says so, not a crash."""
    try:
        return fn(*args, **kwargs)
    except subprocess.TimeoutExpired as err:
        return {"error": f"did not finish in {err.timeout:.0f} s"}
    except RuntimeError as err:
        lines = [ln for ln in str(err).splitlines() if ln.strip()]
        print(f"{label} failed:\n{err}", file=sys.stderr)
        return {"error": lines[-1][:120] if lines else "failed"}


def training(size: str, variant: str, repeat: int, out: Path | None) -> dict[str, Any]:
    runs = []
    for n in range(repeat):
        extra = ["--out", str(out)] if out is not None and n == 0 else []
        runs.append(feast("training", size, variant, *extra))
    result = dict(runs[0])
    result["seconds"] = round(statistics.median(r["seconds"] for r in runs), 3)
    result["warm_seconds"] = round(statistics.median(r["warm_seconds"] for r in runs), 3)
    result["runs"] = [r["seconds"] for r in runs]
    result["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return result


def run_size(size: str, steps: list[str], repeat: int, check: bool) -> list[dict[str, Any]]:
    generate(size)
    timeout = L_LIMIT if size == "L" else 3600
    out_dir = REPO / "bench" / "data" / size / "feast"
    rows: list[dict[str, Any]] = []

    def add(step: str, store: str, result: dict[str, Any]) -> dict[str, Any]:
        rows.append({**result, "size": size, "step": step, "store": store})
        return result

    if "training" in steps:
        variants = [("duckdb_sqlite", "duckdb offline")]
        if size in ("S", "M"):
            variants.append(("file_sqlite", "file offline (default)"))
        for variant, label in variants:
            out = out_dir / f"training_{variant}.parquet" if check else None
            setup = attempt("setup", feast, "setup", size, variant)
            if "error" in setup:
                add("training", label, setup)
                continue
            add("training", label, attempt("training", training, size, variant, repeat, out))
    for variant, label in (("duckdb_sqlite", "SQLite"), ("duckdb_redis", "Redis")):
        if "materialize" not in steps and "online" not in steps:
            break
        setup = attempt("setup", feast, "setup", size, variant)
        if "error" in setup:
            add("materialize", label, setup)
            continue
        try:
            done = attempt("materialize", feast, "materialize", size, variant, timeout=timeout)
            if "materialize" in steps:
                add("materialize", label, done)
            if "online" in steps and "error" not in done:
                for n, iterations in ONLINE_ITERATIONS.items():
                    add(
                        f"online, {n} row{'s' if n > 1 else ''}",
                        label,
                        attempt(
                            "online",
                            feast,
                            "online",
                            size,
                            variant,
                            "--rows",
                            str(n),
                            "--iterations",
                            str(iterations),
                        ),
                    )
        finally:
            if variant.endswith("redis"):
                attempt("cleanup", feast, "cleanup", size, variant)
    if check and "training" in steps:
        fsql_out = out_dir / "training_fsql.parquet"
        fsql = run_step([HERE, "fsql-training", "--size", size, "--out", str(fsql_out)])
        for variant, label in (
            ("duckdb_sqlite", "duckdb offline"),
            ("file_sqlite", "file offline (default)"),
        ):
            feast_out = out_dir / f"training_{variant}.parquet"
            if feast_out.exists():
                rows.append(
                    {
                        "size": size,
                        "step": "check vs fsql",
                        "store": label,
                        "fsql_seconds": fsql["seconds"],
                        **compare(fsql_out, feast_out, out_dir.parent / "data"),
                    }
                )
    return rows


def fsql_training(size: str, out: str) -> None:
    """Run in fsql's venv: the same training set through fsql, written to `out`."""
    import pyarrow.parquet as pq

    from fsql import FeatureStore

    root = REPO / "bench" / "data" / size
    entities = pq.read_table(root / "data" / "entities.parquet")
    started = time.perf_counter()
    result = FeatureStore(root).get_historical_features(entities, features=FEATURES).to_arrow()
    seconds = time.perf_counter() - started
    pq.write_table(result, out)
    emit({"step": "fsql_training", "seconds": round(seconds, 3), "rows": result.num_rows})


def compare(fsql_path: Path, feast_path: Path, data: Path) -> dict[str, Any]:
    """Rows of the two training sets whose features differ (NULL-aware, float tolerance).

    Rows are matched on the entity columns (numbered within equal entity rows). Rows only
    fsql has are split by cause: a key the view knows with no row in [t - TTL, t] (fsql
    returns NULL features), or an entity row sharing (user_id, event_timestamp) with
    another; differing rows are counted where the view's newest row in the window has a
    tied event_timestamp (resolved by created_timestamp).
    """
    import duckdb

    con = duckdb.connect()
    order = ", ".join(f"{n} nulls first" for n in NAMES)

    def numbered(path: Path) -> str:
        return (
            f"select * replace (event_timestamp::timestamptz as event_timestamp), "
            f"row_number() over (partition by {', '.join(KEYS)} order by {order}) as rn "
            f"from read_parquet('{path}')"
        )

    def differs(name: str) -> str:
        a, b = f"s.{name}", f"f.{name}"
        if name in ("country", "category"):
            return f"({a} is distinct from {b})"
        return (
            f"(({a} is null) <> ({b} is null) or abs({a}::double - {b}::double) > "
            f"1e-9 * greatest(1, abs({a}::double)))"
        )

    views = {"user_stats": "user_id", "item_stats": "item_id"}
    flags = [
        f"({' or '.join(differs(n) for n in NAMES if VIEW_OF[n] == view)}) as {view}_diff"
        for view in views
    ]
    on = " and ".join(f"s.{k} is not distinct from f.{k}" for k in [*KEYS, "rn"])
    con.execute(f"create temp table s as {numbered(fsql_path)}")
    con.execute(f"create temp table f as {numbered(feast_path)}")
    keys = ", ".join(f"coalesce(s.{k}, f.{k}) as {k}" for k in KEYS)
    con.execute(
        f"create temp table j as select {keys},"
        f" s.user_id is not null as in_fsql, f.user_id is not null as in_feast, {', '.join(flags)}"
        f" from s full join f on {on}"
    )
    for view, key in views.items():
        src = f"read_parquet('{data / (view + '.parquet')}')"
        window = (
            f"v.{key} = j.{key} and v.event_timestamp <= j.event_timestamp and "
            f"v.event_timestamp >= j.event_timestamp - interval 7 day"
        )
        con.execute(
            f"create temp table {view}_why as select j.{key}, j.event_timestamp, "
            f"exists (select 1 from {src} v where v.{key} = j.{key}) as known, "
            f"(select count(*) from {src} v where {window} and v.event_timestamp = "
            f"(select max(w.event_timestamp) from {src} w where "
            f"{window.replace('v.', 'w.')})) as newest "
            f"from (select distinct {key}, event_timestamp from j) j"
        )
    both = "in_fsql and in_feast"
    gap = " or ".join(f"({v}.known and {v}.newest = 0)" for v in views)
    shared = "count(*) over (partition by j.user_id, j.event_timestamp) > 1"
    query = f"""
        with x as (
            select j.*, {gap} as ttl_gap, {shared} as shared,
                   user_stats.newest > 1 as user_tie, item_stats.newest > 1 as item_tie
            from j
            join user_stats_why user_stats using (user_id, event_timestamp)
            join item_stats_why item_stats using (item_id, event_timestamp))
        select count(*) filter (where {both}) as matched,
               count(*) filter (where in_fsql and not in_feast) as only_fsql,
               count(*) filter (where in_feast and not in_fsql) as only_feast,
               count(*) filter (where in_fsql and not in_feast and ttl_gap) as dropped_ttl_gap,
               count(*) filter (where in_fsql and not in_feast and not ttl_gap and shared)
                   as dropped_shared_user_time,
               count(*) filter (where {both} and (user_stats_diff or item_stats_diff))
                   as differing,
               count(*) filter (where {both} and user_stats_diff) as user_stats_differing,
               count(*) filter (where {both} and item_stats_diff) as item_stats_differing,
               count(*) filter (where {both} and ((user_stats_diff and not user_tie)
                   or (item_stats_diff and not item_tie))) as differing_not_on_tie
        from x"""
    values = con.execute(query).fetchone()
    result = dict(zip([d[0] for d in con.description], values, strict=True))
    types = dict(
        con.execute(
            f"select column_name, column_type from (describe select * from "
            f"read_parquet('{feast_path}'))"
        ).fetchall()
    )
    result["int_features_as"] = {n: types[n] for n in ("purchase_count_30d", "session_count_1h")}
    return result


def render(rows: list[dict[str, Any]]) -> str:
    body = []
    for r in rows:
        if r["step"] == "check vs fsql":
            continue
        note = r.get("error", "")
        amount: Any = ""
        if r["step"] == "training" and "rows" in r:
            amount = f"{r['rows']:,} / {r['entity_rows']:,}"
            dropped = r["entity_rows"] - r["rows"]
            note = note or (
                f"{dropped:,} entity rows dropped ({dropped / r['entity_rows']:.0%})"
                if dropped
                else ""
            )
            note += (
                f"{'; ' if note else ''}first call in a fresh process, runs {r['runs']};"
                f" 2nd call in the same process {r['warm_seconds']} s"
            )
        elif r["step"] == "materialize" and "keys" in r:
            amount = f"{r['keys']:,} keys"
        elif r["step"].startswith("online") and "p50_ms" in r:
            amount = f"{r['iterations']} calls"
        body.append(
            [
                r["size"],
                r["step"],
                r["store"],
                r.get("seconds", ""),
                amount,
                r.get("p50_ms", ""),
                r.get("p99_ms", ""),
                r.get("peak_rss_mb", ""),
                note,
            ]
        )
    header = [
        "size",
        "step",
        "Feast store",
        "seconds",
        "rows / keys",
        "p50 ms",
        "p99 ms",
        "peak RSS MB",
        "note",
    ]
    text = table(body, header)
    checks = [r for r in rows if r["step"] == "check vs fsql"]
    if checks:
        text += "\n\n" + table(
            [
                [
                    r["size"],
                    r["store"],
                    r["matched"],
                    r["only_fsql"],
                    r["dropped_ttl_gap"],
                    r["dropped_shared_user_time"],
                    r["only_feast"],
                    r["differing"],
                    r["differing"] - r["differing_not_on_tie"],
                    "/".join(sorted(set(r["int_features_as"].values()))).lower(),
                    r["fsql_seconds"],
                ]
                for r in checks
            ],
            [
                "size",
                "Feast training set vs fsql",
                "rows matched",
                "only in fsql",
                "of which: no row in TTL window",
                "of which: shared (user, time)",
                "only in Feast",
                "rows differing",
                "of which on a tie",
                "int features as",
                "fsql s",
            ],
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description="The benchmark's steps through Feast.")
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("fsql-training", help="internal: fsql's training set, for --check")
    inner.add_argument("--size", default="S")
    inner.add_argument("--out", required=True)
    parser.add_argument("--size", default="S", help="S, M or L, or a list: S,M")
    parser.add_argument(
        "--steps",
        default=None,
        help="comma list of training, materialize, online (default: all; materialize only at L)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="training runs per store")
    parser.add_argument(
        "--check",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compare Feast's training set with fsql's (default: at S)",
    )
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args()
    if args.command == "fsql-training":
        fsql_training(args.size, args.out)
        return
    sizes = [s.strip().upper() for s in args.size.split(",")]
    if args.steps is None:
        args.steps = "materialize" if sizes == ["L"] else "training,materialize,online"
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = set(steps) - {"training", "materialize", "online"}
    if unknown or not set(sizes) <= {"S", "M", "L"}:
        parser.error(f"bad --steps or --size: {args.steps} {args.size}")
    why = ensure_feast()
    if why:
        print(f"Feast {FEAST_VERSION} cannot be installed here, no Feast figures:\n{why}")
        sys.exit(2)
    load_start = "/".join(f"{x:.1f}" for x in os.getloadavg())
    rows: list[dict[str, Any]] = []
    for size in sizes:
        check = args.check if args.check is not None else size == "S"
        rows += run_size(size, steps, args.repeat, check)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"Feast {FEAST_VERSION} on the fsql workload ({', '.join(sizes)}; steps {args.steps};"
        f" {os.cpu_count()} CPUs; load average 1/5/15 min: {load_start} at the start,"
        f" {load} at the end)\n"
    )
    print(render(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
