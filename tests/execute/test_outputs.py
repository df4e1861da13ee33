"""Training-set output: the data file and its .meta.json after a crash, a signal or a kill.

A crash is modelled at every call the writer makes that touches the disk for good
(`os.fsync`, `os.replace`): at call k the test stops the write as a crash would, with
nothing cleaned up, and looks at what a reader would find. The pair must then be the
complete old pair, the complete new pair, or one `read_training_meta` refuses. Signals
and SIGKILL are sent to real processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fsql.config import secrets
from fsql.config.secrets import MASK, register_secret
from fsql.errors import RunError
from fsql.execute.outputs import (
    read_training_meta,
    remove_stale_temps,
    training_meta_path,
    write_data_file,
    write_training_set,
)

REPO = Path(__file__).resolve().parents[2]
Pair = tuple[bytes | None, bytes | None]  # (data file, meta file) as on disk; None: absent


def table_of(values: list[int], tag: str = "v") -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array(values, pa.int64()),
            "label": pa.array([f"{tag}{v}" for v in values], pa.string()),
        }
    )


def on_disk(path: Path) -> Pair:
    meta = training_meta_path(path)
    return (
        path.read_bytes() if path.exists() else None,
        meta.read_bytes() if meta.exists() else None,
    )


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def reference_pair(table: pa.Table, name: str, meta: dict[str, Any]) -> Pair:
    """The pair a complete write of `table` gives (the bytes are deterministic)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        write_training_set(table, path, meta)
        return on_disk(path)


def check_pair(path: Path, old: Pair, new: Pair) -> str:
    """The pair on disk is the old one, the new one, or refused; returns which."""
    seen = on_disk(path)
    if seen == (None, None) and old == (None, None):
        return "absent"
    if seen in (old, new):
        meta = read_training_meta(path)
        assert meta == json.loads(seen[1] or b"")
        return "old" if seen == old else "new"
    # The data file is authoritative: new data is never visible before its meta.
    if seen[0] == new[0] and new[0] != old[0]:
        raise AssertionError("new data is visible beside a meta that is not the new one")
    with pytest.raises(RunError) as info:
        read_training_meta(path)
    line = info.value.render()
    assert "\n" not in line
    assert str(path) in line and str(training_meta_path(path)) in line
    assert "re-run build-training-set" in line
    return "refused"


class Crash(BaseException):
    """The process stops here: not an error the writer could handle."""


@contextmanager
def disk_steps(at: int, fault: Callable[[int], BaseException]) -> Iterator[list[str]]:
    """Count the writer's os.fsync/os.replace calls; call number `at` (from 0) raises
    `fault(at)` instead of doing anything. Yields the names of the calls made."""
    calls: list[str] = []
    real = {"fsync": os.fsync, "replace": os.replace}

    def step(name: str) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            calls.append(name)
            if len(calls) - 1 == at:
                raise fault(at)
            return real[name](*args)

        return run

    os.fsync, os.replace = step("fsync"), step("replace")
    try:
        yield calls
    finally:
        os.fsync, os.replace = real["fsync"], real["replace"]


# os.fsync(data temp), os.fsync(meta temp), os.replace(meta), os.fsync(dir),
# os.replace(data), os.fsync(dir)
STEPS = ["fsync", "fsync", "replace", "fsync", "replace", "fsync"]


def fault_then_check(
    directory: Path, fmt: str, old_table: pa.Table | None, new_table: pa.Table, at: int, kind: str
) -> str:
    """Write the old output (if any), then the new one with a fault at step `at`.

    kind "crash": the process stops there; the pair is checked at that moment, as a
    crash leaves it (nothing cleaned up). kind "error": that call fails with an OSError
    and the pair is checked after the writer has dealt with it. Returns what was seen.
    """
    path = directory / f"train.{fmt}"
    old: Pair = (None, None)
    if old_table is not None:
        write_training_set(old_table, path, {"run": "old"})
        old = on_disk(path)
    new = reference_pair(new_table, path.name, {"run": "new"})
    at_crash: list[str] = []

    def fault(k: int) -> BaseException:
        if kind == "crash":
            at_crash.append(check_pair(path, old, new))
            return Crash()
        return OSError(28, f"no space left on device (injected at step {k})")

    with disk_steps(at, fault) as calls:
        try:
            write_training_set(new_table, path, {"run": "new"})
            failed = False
        except (Crash, OSError):
            failed = True
    if at >= len(STEPS):
        assert calls == STEPS and not failed
    if kind == "crash" and failed:
        return at_crash[0]
    outcome = check_pair(path, old, new)
    assert temps(directory) == [], "a write that returned or raised leaves no temp files"
    assert failed or outcome == "new"
    return outcome


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("previous", [True, False], ids=["over-old", "fresh"])
@pytest.mark.parametrize("kind", ["crash", "error"])
def test_a_fault_at_every_step_leaves_old_new_or_a_refused_pair(
    tmp_path: Path, fmt: str, previous: bool, kind: str
) -> None:
    outcomes = []
    for at in range(len(STEPS) + 1):
        directory = tmp_path / str(at)
        directory.mkdir()
        old = table_of([1, 2, 3]) if previous else None
        outcomes.append(fault_then_check(directory, fmt, old, table_of([4, 5, 6]), at, kind))
    was = "old" if previous else "absent"
    if kind == "crash":
        # Before the meta's rename: the old pair; between the renames: refused; after: new.
        assert outcomes == [was, was, was, "refused", "refused", "new", "new"]
    else:
        # A failed directory sync is not an error (some filesystems refuse it); a failed
        # data rename leaves the new meta beside the old data, and says so.
        assert outcomes == [was, was, was, "new", "refused", "new", "new"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["csv", "parquet"]),
    previous=st.booleans(),
    old_rows=st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=20),
    new_rows=st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=20),
    same_data=st.booleans(),
    at=st.integers(0, len(STEPS)),
    kind=st.sampled_from(["crash", "error"]),
)
def test_a_fault_anywhere_leaves_old_new_or_a_refused_pair(
    fmt: str,
    previous: bool,
    old_rows: list[int],
    new_rows: list[int],
    same_data: bool,
    at: int,
    kind: str,
) -> None:
    old = table_of(old_rows, "old") if previous else None
    # Same data under a new meta: a pair of old data and new meta is then the new pair.
    new = old if same_data and old is not None else table_of(new_rows, "new")
    with tempfile.TemporaryDirectory() as d:
        outcome = fault_then_check(Path(d), fmt, old, new, at, kind)
    event(f"{kind} at step {at}: {outcome}")
    assert outcome in {"old", "new", "absent", "refused"}


def test_meta_keeps_its_fields_and_records_the_data_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "train.parquet"
    meta = {"run_at": "2024-01-01T00:00:00+00:00", "row_count": 3, "sql": "select 1"}
    assert write_training_set(table_of([1, 2, 3]), path, meta) == training_meta_path(path)
    got = read_training_meta(path)
    assert {k: got[k] for k in meta} == meta
    assert got["data_file"]["format"] == "parquet"
    assert got["data_file"]["bytes"] == path.stat().st_size
    assert len(got["data_file"]["sha256"]) == 64
    assert temps(path.parent) == []
    with pytest.raises(ValueError, match="data_file"):
        write_training_set(table_of([1]), path, {"data_file": {}})


def test_a_data_file_alone_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "rows.data"
    dead = dead_pid()
    (tmp_path / f".rows.data.fsql-{dead}-0123456789ab.tmp").write_bytes(b"x")
    write_data_file(table_of([1, 2]), path, "parquet")
    write_data_file(table_of([3]), path, "parquet")
    assert pq.read_table(path) == table_of([3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.data"]


def test_secrets_are_masked_but_the_checksum_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets, "_secrets", set())
    path = tmp_path / "train.csv"
    write_training_set(table_of([1, 2]), path, {})
    digest = read_training_meta(path)["data_file"]["sha256"]
    register_secret(digest[10:18])  # a secret that happens to be inside the checksum
    register_secret("hunter22")
    register_secret("1234")  # and one inside a number
    meta = {"sql": "password='hunter22'", "hunter22": 1, "row_count": 12345}
    write_training_set(table_of([1, 2]), path, meta)
    got = read_training_meta(path)
    assert got["sql"] == f"password='{MASK}'"
    assert MASK in got and "hunter22" not in training_meta_path(path).read_text()
    assert got["row_count"] == 12345
    assert got["data_file"]["sha256"] == digest


class TestReadTrainingMeta:
    def written(self, tmp_path: Path) -> Path:
        path = tmp_path / "train.csv"
        write_training_set(table_of([1, 2, 3]), path, {"row_count": 3})
        return path

    def refused(self, path: Path, match: str) -> str:
        with pytest.raises(RunError, match=match) as info:
            read_training_meta(path)
        line = info.value.render()
        assert "\n" not in line
        assert line.startswith(f"{path}: ")
        assert str(training_meta_path(path)) in line and "re-run build-training-set" in line
        return line

    def test_a_matching_pair_reads(self, tmp_path: Path) -> None:
        assert read_training_meta(str(self.written(tmp_path)))["row_count"] == 3

    def test_data_changed_in_place(self, tmp_path: Path) -> None:
        path = self.written(tmp_path)
        path.write_bytes(path.read_bytes().replace(b"v1", b"v9"))  # same size
        assert "sha256" in self.refused(path, "sha256")

    def test_data_of_another_size(self, tmp_path: Path) -> None:
        path = self.written(tmp_path)
        path.write_bytes(path.read_bytes() + b"4,v4\n")
        assert "bytes" in self.refused(path, "bytes")

    def test_missing_meta_or_data(self, tmp_path: Path) -> None:
        path = self.written(tmp_path)
        meta = training_meta_path(path).read_text()
        training_meta_path(path).unlink()
        assert "metadata file is missing" in self.refused(path, "metadata file is missing")
        training_meta_path(path).write_text(meta)
        path.unlink()
        assert "training set is missing" in self.refused(path, "training set is missing")

    def test_meta_without_checksum_or_not_json(self, tmp_path: Path) -> None:
        path = self.written(tmp_path)
        training_meta_path(path).write_text(json.dumps({"row_count": 3}))
        self.refused(path, "no 'data_file' checksum")
        training_meta_path(path).write_text("{")
        self.refused(path, "not valid JSON")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: no process has this pid now
    return proc.pid


@contextmanager
def live_process() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_stale_temps_of_dead_processes_are_removed_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    dead = dead_pid()
    with live_process() as live:
        stale = [
            f".train.csv.fsql-{dead}-0123456789ab.tmp",
            f".train.csv.meta.json.fsql-{dead}-0123456789ab.tmp",
            f".train.csv.{dead}.tmp",  # the name an older fsql gave its temps
            f".train.csv.fsql-{os.getpid()}-00000000dead.tmp",  # our pid, no write of ours
        ]
        kept = [
            f".train.csv.fsql-{live}-0123456789ab.tmp",  # a writer still running
            f".train.csv.meta.json.fsql-{live}-0123456789ab.tmp",
            f".other.csv.fsql-{dead}-0123456789ab.tmp",  # another output's
            "notes.tmp",
        ]
        for name in stale + kept:
            (tmp_path / name).write_bytes(b"x" * 10)
        write_training_set(table_of([1]), path, {})
        assert temps(tmp_path) == sorted(kept)
    read_training_meta(path)


def test_a_write_in_flight_in_this_process_keeps_its_temps(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    started, release = threading.Event(), threading.Event()
    real_fsync = os.fsync
    main = threading.current_thread()

    def held_fsync(fd: int) -> None:
        if threading.current_thread() is not main:
            started.set()
            release.wait(30)
        real_fsync(fd)

    errors: list[BaseException] = []

    def write() -> None:
        try:
            write_training_set(table_of([1, 2]), path, {})
        except BaseException as err:
            errors.append(err)

    os.fsync = held_fsync
    try:
        thread = threading.Thread(target=write)
        thread.start()
        assert started.wait(30)
        in_flight = temps(tmp_path)
        assert in_flight  # the data temp, written and being synced
        assert remove_stale_temps(path) == []
        assert temps(tmp_path) == in_flight
    finally:
        release.set()
        os.fsync = real_fsync
    thread.join(30)
    assert errors == []
    read_training_meta(path)
    assert temps(tmp_path) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_signal_handlers_are_taken_over_only_while_writing(tmp_path: Path) -> None:
    def mine(signum: int, frame: Any) -> None:
        pass

    during: list[Any] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        during.append(
            {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
        )
        real_fsync(fd)

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    os.fsync = spy
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, mine)  # an application's own handler
        write_training_set(table_of([1]), tmp_path / "train.csv", {})
        after = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    finally:
        os.fsync = real_fsync
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert during
    assert all(d[signal.SIGTERM] not in (signal.SIG_DFL, None) for d in during)
    assert all(d[signal.SIGHUP] is mine for d in during)  # left to the application
    assert all(d[signal.SIGINT] is signal.default_int_handler for d in during)
    assert after == {signal.SIGTERM: signal.SIG_DFL, signal.SIGHUP: mine}


# A child that writes a training set of `rows` rows to argv[1]; with "hold", its first
# fsync (the data temp is complete, nothing renamed yet) waits instead of returning.
CHILD = """
import os, signal, sys, time
from pathlib import Path
import pyarrow as pa
import pyarrow.parquet as pq
from fsql.execute.outputs import write_training_set

# The dispositions a shell gives a program, whatever this test runner was started with.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.signal(signal.SIGHUP, signal.SIG_DFL)
out, rows, hold = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "hold"
table = pa.table({
    "user_id": pa.array(range(rows), pa.int64()),
    "label": pa.array(["a fairly long label to make the file large"] * rows),
})
if hold:
    def fsync(fd):
        print("holding", flush=True)
        # Short sleeps: a signal the kernel hands to one of Arrow's threads interrupts
        # no sleep of the main thread, whose handler runs when it next wakes.
        for _ in range(1200):
            time.sleep(0.1)
    os.fsync = fsync
print("writing", flush=True)
write_training_set(table, out, {"run": "new"})
print("done", flush=True)
"""


def start_child(out: Path, rows: int, hold: bool) -> subprocess.Popen[str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out), str(rows), "hold" if hold else "go"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(check: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"child never got to {what}: {err}")
        time.sleep(0.002)


SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
@pytest.mark.parametrize("stage", ["writing", "holding"])
@pytest.mark.parametrize("previous", [True, False], ids=["over-old", "fresh"])
def test_a_signal_mid_write_removes_the_temps_and_ends_the_process_by_it(
    tmp_path: Path, sig: signal.Signals, stage: str, previous: bool
) -> None:
    out = tmp_path / "train.csv"
    old: Pair = (None, None)
    if previous:
        write_training_set(table_of([1, 2, 3]), out, {"run": "old"})
        old = on_disk(out)
    if stage == "writing":  # a large table (~90 MB of csv): the signal lands mid-write
        proc = start_child(out, 2_000_000, hold=False)
        started = lambda: any(t.startswith(".train.csv.fsql-") for t in temps(tmp_path))  # noqa: E731
        wait_for(started, proc, "a temp file")
    else:  # held at the data temp's fsync, deterministically before any rename
        proc = start_child(out, 1000, hold=True)
        assert proc.stdout is not None
        wait_for(lambda: proc.stdout.readline().strip() == "holding", proc, "its fsync")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -sig, err  # killed by that signal, as without fsql
    assert temps(tmp_path) == []
    assert on_disk(out) == old
    if previous:
        assert read_training_meta(out)["run"] == "old"


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_temps_left_by_a_killed_writer_go_with_the_next_write(tmp_path: Path) -> None:
    out = tmp_path / "train.parquet"
    write_training_set(table_of([1, 2, 3]), out, {"run": "old"})
    old = on_disk(out)
    proc = start_child(out, 1000, hold=True)
    assert proc.stdout is not None
    wait_for(lambda: proc.stdout.readline().strip() == "holding", proc, "its fsync")
    proc.kill()  # SIGKILL: nothing runs in the child
    proc.communicate(timeout=60)
    left = temps(tmp_path)
    assert len(left) == 1 and re.fullmatch(
        rf"\.train\.parquet\.fsql-{proc.pid}-[0-9a-f]+\.tmp", left[0]
    )
    assert on_disk(out) == old
    write_training_set(table_of([4]), out, {"run": "next"})
    assert temps(tmp_path) == []
    assert read_training_meta(out)["run"] == "next"
