"""Every benchmark of issue 4 in one run, and one table of ratios against the targets.

Runs, one after the other at the same size (each in its own processes, see each script):
`training_set.py`, `materialize.py`, `online_reads.py` (S and M), `compile_bench.py`
(with --compile) and, where Feast can be installed, `feast_compare.py` on the same files.
Each script measures its own reference in the same run; this one reads their JSON and
prints, per target, fsql's figure, the reference, the ratio, the target and whether it
is met, then the fsql/Feast ratios.

    python bench/compare.py --size M                  # fsql + references + Feast
    python bench/compare.py --size L --no-online      # L has no online-read step
    python bench/compare.py --size S --no-feast       # a quick look (CI does not run this)
    python bench/compare.py --size M --compile        # adds the 1,000-view compile vs dbt

A figure from a step that failed or was skipped shows as "-" and its target as unjudged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import table

BENCH = Path(__file__).resolve().parent
Row = list[Any]


def run_script(script: str, args: list[str], out: Path) -> dict[str, Any] | list[Any] | None:
    """Run bench/<script> with --json `out`; its own table goes to our stdout."""
    cmd = [sys.executable, str(BENCH / script), *args, "--json", str(out)]
    print(f"\n$ {' '.join(cmd[1:])}", flush=True)
    done = subprocess.run(cmd, check=False)
    if done.returncode != 0 or not out.is_file():
        print(f"{script} failed (exit {done.returncode}); its figures are left out", flush=True)
        return None
    return json.loads(out.read_text())


def best(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return min(r[key] for r in runs)


def peak(runs: list[dict[str, Any]]) -> float:
    return max(r["peak_rss_mb"] for r in runs)


def judge(value: float | None, limit: float, higher_is_better: bool = False) -> str:
    if value is None:
        return "unjudged"
    ok = value >= limit if higher_is_better else value <= limit
    return "met" if ok else "NOT met"


def training_rows(data: dict[str, Any], size: str) -> tuple[list[Row], dict[str, float]]:
    res = data["results"]
    floor, api = best(res["floor"]), best(res["api"])
    floor_p, cli_p = best(res["floor_file"], "process_seconds"), best(res["cli"], "process_seconds")
    cli_rss = max(r["cli_peak_rss_mb"] for r in res["cli"])
    rows: list[Row] = [
        [f"training set {size}, API", api, floor, api / floor, "<= 1.3", judge(api / floor, 1.3)],
        [
            f"training set {size}, CLI process",
            cli_p,
            floor_p,
            cli_p / floor_p,
            "<= 1.3",
            judge(cli_p / floor_p, 1.3),
        ],
    ]
    rss = max(peak(res["api"]), cli_rss)
    if size == "L":
        rows.append(
            [
                f"training set {size}, peak RSS MiB",
                rss,
                peak(res["floor"]),
                rss / peak(res["floor"]),
                "<= 2,500 MiB",
                judge(rss, 2500),
            ]
        )
    return rows, {"training": api, "training_cli": cli_p}


def materialize_rows(data: dict[str, Any], size: str) -> tuple[list[Row], dict[str, float]]:
    rows: list[Row] = []
    fsql: dict[str, float] = {}
    for store in ("sqlite", "redis"):
        res = data["results"].get(f"{size} {store}")
        if not res:
            continue
        mine, ref = best(res["fsql all"]), best(res["ref all"])
        fsql[f"materialize_{store}"] = mine
        rows.append(
            [
                f"materialize all keys {size}, {store}",
                mine,
                ref,
                mine / ref,
                "<= 1.2",
                judge(mine / ref, 1.2),
            ]
        )
    return rows, fsql


def online_rows(data: dict[str, Any], size: str) -> tuple[list[Row], dict[str, float]]:
    rows: list[Row] = []
    fsql: dict[str, float] = {}
    raw_name = {
        ("sqlite", "1 row"): "raw point SELECT",
        ("sqlite", "100 rows"): "raw IN SELECT",
        ("redis", "1 row"): "raw MGET",
        ("redis", "100 rows"): "raw MGET",
    }
    for store, parts in data["results"].items():
        reads = parts["reads"]["results"]
        for case in ("1 row", "100 rows"):
            mine, raw = reads[case]["fsql"], reads[case][raw_name[(store, case)]]
            p50, p99 = mine["p50_us"] / 1000, mine["p99_us"] / 1000
            fsql[f"online_{store}_{case}"] = p50
            label = f"online read {size}, {store}, {case}"
            rows.append(
                [
                    f"{label} p50 ms",
                    p50,
                    raw["p50_us"] / 1000,
                    mine["p50_us"] / raw["p50_us"],
                    "<= 3 (vs raw)",
                    judge(mine["p50_us"] / raw["p50_us"], 3),
                ]
            )
            rows.append(
                [
                    f"{label} p99 ms",
                    p99,
                    raw["p99_us"] / 1000,
                    p99 / p50,
                    f"p99/p50 <= 2 (raw's own: {raw['p99_us'] / raw['p50_us']:.2f})",
                    judge(p99 / p50, 2),
                ]
            )
    return rows, fsql


def feast_rows(data: list[dict[str, Any]], size: str, fsql: dict[str, float]) -> list[Row]:
    """fsql against Feast: (step, fsql figure, Feast figure, Feast/fsql, target, verdict)."""
    rows: list[Row] = []
    for item in data:
        if item.get("size") != size or "error" in item:
            continue
        step, store = item["step"], item.get("store", "")
        if step == "training" and store.startswith("duckdb") and "training" in fsql:
            feast = item["seconds"]
            need = 1.5 if size == "L" else None
            rows.append(
                [
                    f"training set {size} (API) vs Feast duckdb store",
                    fsql["training"],
                    feast,
                    feast / fsql["training"],
                    ">= 1.5 at L" if need else "-",
                    judge(feast / fsql["training"], need, True) if need else "-",
                ]
            )
        elif step == "materialize":
            for kind in ("sqlite", "redis"):
                key = f"materialize_{kind}"
                if kind in store.lower() and key in fsql:
                    feast = item["seconds"]
                    rows.append(
                        [
                            f"materialize all keys {size}, {kind} vs Feast",
                            fsql[key],
                            feast,
                            feast / fsql[key],
                            ">= 8",
                            judge(feast / fsql[key], 8, True),
                        ]
                    )
        elif step.startswith("online"):  # "online, 1 row" / "online, 100 rows"
            kind = "sqlite" if "sqlite" in store.lower() else "redis"
            case = step.split(", ", 1)[1]
            key = f"online_{kind}_{case}"
            if key in fsql and item.get("p50_ms"):
                rows.append(
                    [
                        f"online read {size}, {kind}, {case} p50 ms vs Feast",
                        fsql[key],
                        item["p50_ms"],
                        item["p50_ms"] / fsql[key],
                        ">= 3",
                        judge(item["p50_ms"] / fsql[key], 3, True),
                    ]
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["S", "M", "L"], default="M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--feast", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--online",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="online reads (default: at S and M)",
    )
    parser.add_argument("--compile", action="store_true", help="also 1,000 views vs dbt")
    args = parser.parse_args()
    size = args.size
    online = args.online if args.online is not None else size != "L"
    load_start = os.getloadavg()
    rows: list[Row] = []
    fsql: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        steps: list[tuple[str, list[str], Callable[..., tuple[list[Row], dict[str, float]]]]]
        steps = [
            ("training_set.py", ["--size", size, "--repeat", str(args.repeat)], training_rows),
            ("materialize.py", ["--size", size], materialize_rows),
        ]
        if online:
            steps.append(("online_reads.py", ["--size", size], online_rows))
        for script, extra, read in steps:
            data = run_script(script, extra, out / f"{script}.json")
            if data is not None:
                new_rows, figures = read(data, size)
                rows += new_rows
                fsql.update(figures)
        if args.compile:
            run_script("compile_bench.py", ["--views", "1000"], out / "compile.json")
        feast: list[Row] = []
        if args.feast:
            feast_steps = "training,materialize" + (",online" if online else "")
            data = run_script(
                "feast_compare.py",
                ["--size", size, "--steps", feast_steps, "--repeat", str(args.repeat)],
                out / "feast.json",
            )
            if isinstance(data, list):
                feast = feast_rows(data, size, fsql)
    load_end = os.getloadavg()
    print(
        f"\nissue 4 targets at {size} ({os.cpu_count()} CPUs; load average "
        f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end)"
    )
    print(
        table(
            rows,
            ["measure (seconds unless named)", "fsql", "reference", "ratio", "target", "verdict"],
        )
    )
    if feast:
        print()
        print(
            table(feast, ["fsql against Feast", "fsql", "Feast", "Feast/fsql", "target", "verdict"])
        )


if __name__ == "__main__":
    main()
