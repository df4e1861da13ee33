"""Cold `fsql compile` of this checkout against an earlier commit, interleaved in one run.

On a shared machine the speed of the same code varies by a third between hours, so a
figure taken on another day says little; this compares the two versions round by round
under the same load. The earlier commit is checked out into a temporary git worktree and
run through the same interpreter and packages with `PYTHONPATH` pointing at it (the
command runs in the project folder, so neither version's folder is on the path
otherwise; compile workers inherit the variable). Each round compiles the project of
`bench/compile_bench.py` (generated when missing) cold, once with each version, and takes
wall time and CPU (user + sys, workers included) from `wait4`. The previous target/ is
moved aside before each run and removed at the end, or deleted with `--delete-output`
(why: `bench/compile_bench.py`'s docstring, on this disk's cost of new files just after
deletions).

    python bench/compile_against.py --commit 1cbdbac [--views 1000] [--rounds 3]
                                    [--delete-output]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import REPO, table
from bench.compile_bench import OUT, clear_output, generate, remove_aside

FSQL = str(Path(sys.executable).with_name("fsql"))


def timed_compile(project: Path, pythonpath: str | None, delete: bool) -> tuple[float, float]:
    """Wall and CPU seconds of one cold `fsql compile` (its workers' CPU included)."""
    clear_output([project / "target"], delete)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    started = time.perf_counter()
    proc = subprocess.Popen(
        [FSQL, "compile", "--quiet"], cwd=project, env=env, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"fsql compile failed in {project} (PYTHONPATH={pythonpath})")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commit", required=True, help="the earlier version (any git ref)")
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--delete-output",
        action="store_true",
        help="delete the previous target/ before each run (default: move it aside)",
    )
    args = parser.parse_args()
    try:
        _compare(args)
    finally:
        remove_aside()


def _compare(args: argparse.Namespace) -> None:

    project = OUT / "fsql"
    if (
        not (project / "fsql_project.yml").is_file()
        or len(list((project / "models").rglob("*.sql"))) != args.views
    ):
        generate(args.views, args.seed)
    compileall.compile_dir(REPO / "fsql", quiet=1)
    with tempfile.TemporaryDirectory(prefix="fsql-against-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.commit],
            check=True,
            capture_output=True,
        )
        try:
            compileall.compile_dir(tree / "fsql", quiet=1)
            runs: dict[str, list[tuple[float, float]]] = {args.commit: [], "this checkout": []}
            delete = args.delete_output
            timed_compile(project, None, delete)  # warm the file cache; not measured
            for _ in range(args.rounds):
                runs[args.commit].append(timed_compile(project, str(tree), delete))
                runs["this checkout"].append(timed_compile(project, None, delete))
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                check=False,
                capture_output=True,
            )
    base = statistics.median(w for w, _ in runs[args.commit])
    lines = []
    for name, values in runs.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        each = ", ".join(f"{w:.2f}" for w, _ in values)
        lines.append([name, wall, cpu, f"{wall / base:.2f}x", each])
    print(f"Cold compile of {args.views:,} views, {args.rounds} interleaved rounds, median:")
    print(table(lines, ["version", "wall s", "CPU s", "x earlier", "wall of each round"]))


if __name__ == "__main__":
    main()
