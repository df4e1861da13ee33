"""CLI start-up benchmark: whole `fsql` processes, wall time from spawn to exit.

A CLI call pays for the interpreter, its imports and parsing the project before it does
any work, so it is measured as a process, each run a fresh one, best of `--runs`:

- `python -c pass` and `fsql --help`: the interpreter alone, and the CLI's own imports;
- `fsql get-online` on a copy of the example project (built and materialized first),
  for one feature and for a service with an on-demand feature (which opens DuckDB);
- `fsql build-training-set` on the workload at `--size` (tables built first) against a
  floor process: Python importing only duckdb and pyarrow (which loads numpy), reading
  the entity file, running the point-in-time SQL fsql ran on the same tables (taken
  from one API run beforehand) and writing the result to parquet.

    python bench/startup.py                    # size M, best of 5
    python bench/startup.py --size S --runs 10

fsql's modules are byte-compiled first, as an install leaves them. The get-online rows
are reads after a first one, which parses the project and writes its snapshot
(target/project_snapshot.json) for the reads that follow.

Targets (issue 17): get-online <= 0.3 s; build-training-set at M <= 1.3x the floor.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, emit, run_step, table
from bench.workload import DATA, FEATURES, SIZES, generate

HERE = Path(__file__).resolve()
FSQL = str(Path(sys.executable).with_name("fsql"))
EXAMPLE_PARTS = ["fsql_project.yml", "profiles.yml", "models", "macros", "data"]
GET_ONLINE_TARGET = 0.3
TRAINING_TARGET = 1.3

# The floor process. numpy comes with pyarrow (pyarrow.lib imports it), so naming it
# costs nothing; nothing of fsql is imported.
FLOOR = """\
import json, sys
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

database, entities_file, plan_file, out = sys.argv[1:]
with open(plan_file) as f:
    plan = json.load(f)
entities = pq.ParquetFile(entities_file).read()
slim = pa.table(
    [*(entities.column(k) for k in plan["keys"]),
     pa.array(np.arange(entities.num_rows, dtype=np.int64)),
     entities.column("event_timestamp")],
    names=[*plan["keys"], plan["row"], plan["ts"]],
)
con = duckdb.connect(database)
con.execute("SET TimeZone = 'UTC'")
con.register(plan["table"], slim)
result = con.sql(plan["sql"]).to_arrow_table()
con.close()
if not result.column(0).equals(slim.column(plan["row"])):
    result = result.sort_by(result.column_names[0])
for index, name in enumerate(plan["columns"], start=1):
    entities = entities.append_column(name, result.column(index))
pq.write_table(entities, out)
"""


def step_plan(root: str, plan_file: str) -> None:
    """Build the workload's stale tables, run the training set once through the API and
    keep the SQL it ran and what the floor needs to register the same entity table."""
    from fsql import FeatureStore
    from fsql.compile.pit import ENTITY_TABLE, ENTITY_TS, ROW_ID

    with FeatureStore(root) as store:
        store.ensure_built(list(store.project.views))
        job = store.get_historical_features(f"{root}/data/entities.parquet", features=FEATURES)
        rows = job.row_count
        keys: list[str] = []
        for item in job.selection.items:
            keys += [key for key, _ in item.key_pairs if key not in keys]
        plan = {
            "sql": job.sql,
            "table": ENTITY_TABLE,
            "row": ROW_ID,
            "ts": ENTITY_TS,
            "keys": keys,
            "columns": list(job.selection.columns),
        }
    Path(plan_file).write_text(json.dumps(plan, indent=2))
    emit({"step": "plan", "rows": rows})


STEPS = {"plan": step_plan}


def timed(args: Sequence[str], cwd: Path | None = None) -> float:
    """Wall seconds of one process, from spawn to exit; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=cwd, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return seconds


def example_copy(dest: Path) -> Path:
    """The repository's example project (without target/), built and materialized."""
    dest.mkdir(parents=True)
    for part in EXAMPLE_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        else:
            shutil.copy(src, dest / part)
    timed([FSQL, "run", "--quiet", "--project-dir", str(dest)])
    return dest


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        STEPS[sys.argv[2]](*sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="M")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command")
    args = parser.parse_args()

    # An installed fsql is byte-compiled when pip installs it; a checkout run with
    # PYTHONDONTWRITEBYTECODE set would compile every module in every process instead.
    compileall.compile_dir(REPO / "fsql", quiet=1)
    root = generate(args.size, DATA / f"startup-{args.size}")
    entities = str(root / "data" / "entities.parquet")
    out = root / "target" / "startup_training.parquet"
    with tempfile.TemporaryDirectory(prefix="fsql-startup-") as tmp:
        plan_file = Path(tmp) / "plan.json"
        rows = run_step([str(HERE), "--step", "plan", str(root), str(plan_file)])["rows"]
        example = example_copy(Path(tmp) / "shop")
        project = ["--project-dir", str(example)]
        commands: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "fsql --help": [FSQL, "--help"],
            "fsql get-online (one feature)": [
                FSQL,
                "get-online",
                "--features",
                "user_features:user_lifetime_value",
                "--entity",
                "user_id=7",
                *project,
            ],
            "fsql get-online (service with an on-demand feature)": [
                FSQL,
                "get-online",
                "--feature-service",
                "checkout_model",
                "--entity",
                "user_id=7",
                "--entity",
                "cart_amount=10.5",
                *project,
            ],
            "floor process (duckdb + pyarrow)": [
                sys.executable,
                "-c",
                FLOOR,
                str(root / "target" / "fsql.duckdb"),
                entities,
                str(plan_file),
                str(out.with_name("startup_floor.parquet")),
            ],
            "fsql build-training-set": [
                FSQL,
                "build-training-set",
                "--project-dir",
                str(root),
                "--entities",
                entities,
                "--features",
                ",".join(FEATURES),
                "--output",
                str(out),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # one unmeasured run each: the snapshot, caches
            timed(command)
        for _ in range(args.runs):  # interleaved, so load on the machine hits all alike
            for name, command in commands.items():
                times[name].append(timed(command))

    best = {name: min(values) for name, values in times.items()}
    floor = best["floor process (duckdb + pyarrow)"]
    targets = {
        "fsql get-online (one feature)": f"<= {GET_ONLINE_TARGET} s",
        "fsql build-training-set": f"<= {TRAINING_TARGET}x floor",
    }
    lines = []
    for name, values in times.items():
        ratio = f"{best[name] / floor:.2f}x" if name == "fsql build-training-set" else ""
        lines.append([name, best[name], statistics.median(values), ratio, targets.get(name, "")])
    print(
        f"CLI processes, best of {args.runs}; training set at size {args.size}: {rows:,} "
        f"entity rows, {SIZES[args.size][0]:,} feature rows"
    )
    print(table(lines, ["process", "best s", "median s", "x floor", "target"]))


if __name__ == "__main__":
    main()
