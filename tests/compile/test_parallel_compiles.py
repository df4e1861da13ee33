"""Twelve `fsql compile` processes on one project at once: each exits 0 and the target
holds one whole output (SPEC §3: compile output is replaced as a whole)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.project_factory import ViewSpec, make_project


def test_twelve_parallel_compiles(tmp_path: Path) -> None:
    spec = ViewSpec("v0", ["user"], [("x", "float64")], [{"user_id": 1, "x": 1.0}])
    root = make_project(tmp_path / "p", [spec], {"user": ["user_id"]})
    command = [sys.executable, "-m", "fsql.cli.main", "compile", "--project-dir", str(root)]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(12)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in outcomes] == [0] * 12, outcomes
    assert not any("Traceback" in err for _, err in outcomes)
    target = root / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    assert "v0" in manifest["views"]
    assert (target / "compiled" / "duckdb" / "v0" / "table.sql").is_file()
    leftovers = [p.name for p in target.iterdir() if p.name.startswith(".fsql-")]
    assert leftovers in ([], [".fsql-compile.lock"]), leftovers


def test_concurrent_writers_in_one_process_never_fail(tmp_path: Path) -> None:
    """The same race, made likely: 12 threads each replacing the output 15 times."""
    from concurrent.futures import ThreadPoolExecutor

    from fsql.compile.plan import compile_project
    from fsql.compile.writer import write_target
    from fsql.dialects import get_dialect
    from fsql.project.load import load_project

    specs = [
        ViewSpec(f"v{i}", ["user"], [("x", "float64")], [{"user_id": 1, "x": 1.0}])
        for i in range(20)
    ]
    root = make_project(tmp_path / "p", specs, {"user": ["user_id"]})
    compiled = compile_project(load_project(root), get_dialect("duckdb"))

    def work(_: int) -> None:
        for _ in range(15):
            write_target(compiled, "dev")

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(work, range(12)))  # re-raises the first failure
    target = root / "target"
    assert sorted(p.name for p in (target / "compiled" / "duckdb").iterdir()) == sorted(
        f"v{i}" for i in range(20)
    )
    assert json.loads((target / "manifest.json").read_text())["views"]
