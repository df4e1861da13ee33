"""`visible_at: created_timestamp` benchmark: the same training set with and without it.

The workload of bench/workload.py (two views with created timestamps, a 7d TTL) is
built twice: as it is, joined by DuckDB's ASOF plan, and with `visible_at:
created_timestamp` on both views, joined by the stacked plan of fsql.compile.visible
(rows stacked at max(event, created) time, a running max, versions filtered by created
time). Both read the same parquet files; each step runs in its own process.

    python bench/visible_at.py --size M
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_args, emit, run_step, table
from bench.workload import FEATURES, SIZES, generate

HERE = Path(__file__).resolve()


def visible_copy(root: Path) -> Path:
    """A sibling project over the same data, both views `visible_at: created_timestamp`."""
    copy = root.parent / f"{root.name}-visible"
    if copy.exists():
        shutil.rmtree(copy)
    (copy / "models").mkdir(parents=True)
    (copy / "data").symlink_to(root / "data")
    for name in ("fsql_project.yml", "profiles.yml"):
        text = (root / name).read_text().replace(str(root / "target"), str(copy / "target"))
        (copy / name).write_text(text)
    for model in (root / "models").iterdir():
        text = model.read_text()
        if model.suffix == ".yml":
            text = text.replace(
                "    created_timestamp: created_timestamp\n",
                "    created_timestamp: created_timestamp\n    visible_at: created_timestamp\n",
            )
        (copy / "models" / model.name).write_text(text)
    return copy


def step_build(root: str) -> None:
    from fsql import FeatureStore

    with FeatureStore(root) as store:
        store.build(list(store.project.views))
    emit({"step": "build"})


def step_api(root: str) -> None:
    from fsql import FeatureStore

    started = time.perf_counter()
    with FeatureStore(root) as store:
        job = store.get_historical_features(f"{root}/data/entities.parquet", features=FEATURES)
        result = job.to_arrow()
    emit({"step": "api", "seconds": time.perf_counter() - started, "rows": result.num_rows})


STEPS = {"build": step_build, "api": step_api}


def main() -> None:
    args = bench_args(__doc__ or "", list(SIZES), STEPS)
    if args is None:
        return
    plain = generate(args.size)
    visible = visible_copy(plain)
    roots = {"event time (ASOF plan)": plain, "visible_at: created_timestamp": visible}
    for root in roots.values():
        run_step([str(HERE), "--step", "build", str(root)])
    results: dict[str, list[dict]] = {}
    for _ in range(args.repeat):  # interleaved: machine load hits both alike
        for label, root in roots.items():
            results.setdefault(label, []).append(run_step([str(HERE), "--step", "api", str(root)]))
    base = min(r["seconds"] for r in results["event time (ASOF plan)"])
    rows = []
    for label, runs in results.items():
        best = min(r["seconds"] for r in runs)
        rows.append([label, best, best / base, max(r["peak_rss_mb"] for r in runs)])
    print(
        f"training set, size {args.size}: {SIZES[args.size][1]:,} entity rows, "
        f"{SIZES[args.size][0]:,} feature rows, best of {args.repeat}"
    )
    print(table(rows, ["views", "seconds", "x event time", "peak RSS MiB"]))


if __name__ == "__main__":
    main()
