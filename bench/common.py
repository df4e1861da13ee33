"""Helpers shared by the benchmarks: isolated steps with their own peak memory, tables.

Every measured step runs in a fresh Python process (`run_step`) so that its peak RSS
(`ru_maxrss`) is its own, not the harness's or a previous step's; the step prints one
JSON object as its last line of stdout, which `run_step` returns with `peak_rss_mb`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Read from /proc (VmHWM): `ru_maxrss` of a forked child starts at its parent's peak,
    so it would report the harness's memory as the step's own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(result: dict[str, Any]) -> None:
    """Print a step's result as the last stdout line, with its peak memory."""
    print(json.dumps({**result, "peak_rss_mb": round(peak_rss_mb(), 1)}), flush=True)


def run_step(
    args: Sequence[str],
    python: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run `python <args>` in a fresh process; return its JSON result plus wall time."""
    started = time.perf_counter()
    proc = subprocess.run(
        [python or sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"step {args} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    last = [line for line in proc.stdout.splitlines() if line.startswith("{")][-1]
    return {**json.loads(last), "process_seconds": round(wall, 3)}


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A Markdown table, right-aligned numbers, for bench/RESULTS.md."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def bench_args(
    doc: str, sizes: Sequence[str], steps: Mapping[str, Callable[..., None]]
) -> argparse.Namespace | None:
    """Run `--step NAME ARGS...` (a measured step, in its own process) and return None; or
    parse the harness's options: --size, --repeat, --check, --json."""
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        steps[sys.argv[2]](*sys.argv[3:])
        return None
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size", choices=sorted(sizes), default="M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="check results row for row")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args()
