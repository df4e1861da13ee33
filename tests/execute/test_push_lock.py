"""A push while another process holds the offline DuckDB file (a `run` building).

DuckDB lets one process open a file for writing. `fsql push` (like every command) waits
for the file up to the offline engine's `lock_timeout`, saying once that it waits, and
then either succeeds (the pushed row is in the push log and online) or fails with one
line naming the file, the holder's pid and the key to raise, having written nothing.
The last test races a real `fsql run` against a real `fsql push`.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

PUSH = "data/push_user_features.csv"
HOLD = (
    "import duckdb, sys, time\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "print('holding', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def _fsql(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fsql.cli.main", *args, "--project-dir", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _hold(database: Path, seconds: float) -> subprocess.Popen[str]:
    """A process that opens the DuckDB file and keeps it for `seconds`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(database), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def _set_lock_timeout(project: Path, seconds: float) -> None:
    profiles = project / "profiles.yml"
    text = profiles.read_text()
    old = "offline: {type: duckdb, path: target/fsql.duckdb}"
    assert old in text
    new = f"offline: {{type: duckdb, path: target/fsql.duckdb, lock_timeout: {seconds}}}"
    profiles.write_text(text.replace(old, new))


def _online_value(project: Path) -> object:
    """user 7's `user_order_days` online (31 once the row is pushed)."""
    proc = _fsql(
        project,
        "get-online",
        "--features",
        "user_features:user_order_days",
        "--entity",
        "user_id=7",
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out)["user_order_days"]


def _push_log_rows(project: Path) -> int:
    con = duckdb.connect(str(project / "target/fsql.duckdb"), read_only=True)
    try:
        row = con.execute("select count(*) from user_features__push").fetchone()
    except duckdb.CatalogException:
        return 0
    finally:
        con.close()
    assert row is not None
    return int(row[0])


@pytest.fixture
def built(example_project: Path) -> Path:
    proc = _fsql(example_project, "run")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return example_project


def test_push_waits_for_the_file_then_writes(built: Path) -> None:
    # Long enough that the push, however slowly it starts on a loaded machine, finds the
    # file still held.
    holder = _hold(built / "target/fsql.duckdb", 4.0)
    started = time.monotonic()
    push = _fsql(built, "push", "user_features", PUSH)
    _, err = push.communicate(timeout=60)
    holder.wait(timeout=10)
    assert push.returncode == 0, err
    assert time.monotonic() - started >= 1.0  # it did wait for the holder
    assert f"in use by another process (pid {holder.pid})" in err
    assert "Traceback" not in err
    assert _push_log_rows(built) == 1
    assert _online_value(built) == 31


def test_push_gives_up_after_lock_timeout_with_one_line(built: Path) -> None:
    _set_lock_timeout(built, 0.5)
    before = _online_value(built)
    holder = _hold(built / "target/fsql.duckdb", 30)
    try:
        started = time.monotonic()
        push = _fsql(built, "push", "user_features", PUSH)
        _, err = push.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert push.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "target/fsql.duckdb is in use by another process" in errors[0]
    assert f"pid {holder.pid}" in errors[0] and "lock_timeout" in errors[0]
    assert took < 10
    assert _push_log_rows(built) == 0 and _online_value(built) == before != 31


def test_lock_timeout_must_be_seconds(built: Path) -> None:
    _set_lock_timeout(built, -1)
    proc = _fsql(built, "push", "user_features", PUSH)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "lock_timeout" in err and "profiles.yml" in err


def test_push_during_a_real_run_lands_in_both_stores(built: Path) -> None:
    (built / "data/orders.csv").touch()  # the run rebuilds, holding the file a while
    run = _fsql(built, "run", "--full-refresh")
    time.sleep(0.2)
    push = _fsql(built, "push", "user_features", PUSH)
    _, run_err = run.communicate(timeout=120)
    _, push_err = push.communicate(timeout=120)
    assert run.returncode == 0, run_err
    assert push.returncode == 0, push_err
    assert "Traceback" not in run_err + push_err
    assert _push_log_rows(built) == 1
    # The pushed row is newer than any batch row of user 7: whichever wrote last, the
    # online value is the pushed one.
    assert _online_value(built) == 31
    with sqlite3.connect(built / "target/online.db") as con:
        assert con.execute("select count(*) from fsql_run_state").fetchone()[0] >= 1
