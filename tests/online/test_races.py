"""Races between real processes sharing one online store (SPEC §2 "Online store"),
on SQLite and on the real Redis.

1. Two definitions of one view, materialized by overlapping `fsql run` processes in
   both orders: the run that started later wins, whatever finishes first; the earlier
   one either swapped before it or fails with the fencing line (exit 1, no traceback);
   `freshness` calls the loser's project `redefined`; a later run of the loser's
   project installs its definition again.
2. Readers during rebuilds: two reader processes read a fixed set of keys in a tight
   loop while a third process rebuilds the view again and again from data alternating
   between two versions. Zero errors, and every read is one version's whole answer.
3. Concurrent state writers: `materialize-incremental` with ENDs in random order and
   `materialize START END` in parallel processes, with a monitor process sampling the
   watermark: it never goes back and ends at the greatest END (an END in the future
   records the run's start), and the values equal the point-in-time answer there.
   Two more tests force, with real processes paused right before their swap, the
   interleavings of full materializations with different ENDs (a swap never brings
   back values at an earlier END; a run to a later END is never lost), and a third
   checks, after a redefinition, that a full run to an earlier END records that END.

Processes are started with `sys.executable -m fsql.cli.main` (commands) or the
multiprocessing `spawn` method (readers, monitors, paused writers); every output is
captured and shown when an assertion fails.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import random
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from fsql import FeatureStore
from fsql.errors import FsqlError
from tests.support.project_factory import ViewSpec, make_project

VIEW = "stats"
ENTITIES = {"user": ["user_id"]}
H = timedelta(hours=1)
SPAWN = multiprocessing.get_context("spawn")
WAIT_S = 60  # a generous bound on any one process; tests take a few seconds each

Online = dict[str, Any] | None

# --- projects and data ---------------------------------------------------------------------


def _model(expr: str, where: str = "") -> str:
    return (
        f"select user_id, event_timestamp, {expr} as value\n"
        f"from {{{{ source('raw', 'stats_raw') }}}}\n{where}"
    )


def _project(
    root: Path,
    sql: str,
    source: Path,
    online: Online,
    shared_db: Path,
    materialized: str = "table",
) -> Path:
    """A one-view project whose offline DuckDB file is its own (DuckDB files cannot be
    shared between processes) and whose online store and source file are shared: the
    source by absolute path, so copies with one model have one definition and one data
    version; SQLite by one absolute path, Redis by url, key prefix and project name."""
    spec = ViewSpec(
        VIEW,
        ["user"],
        [("value", "float64")],
        online=True,
        sql=sql,
        extra_yaml={"materialized": materialized},
    )
    sources = {"sources": [{"name": "raw", "tables": [{"name": "stats_raw", "path": str(source)}]}]}
    return make_project(
        root,
        [spec],
        ENTITIES,
        online_store=online or {"type": "sqlite", "path": str(shared_db)},
        extra_files={"models/sources.yml": yaml.safe_dump(sources, sort_keys=False)},
    )


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _write_table(path: Path, keys: np.ndarray, times_us: np.ndarray, values: np.ndarray) -> None:
    table = pa.table(
        {
            "user_id": pa.array(keys, pa.int64()),
            "event_timestamp": pa.array(times_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "value": pa.array(values, pa.float64()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)  # a build never reads a half-written file


def _write_latest(path: Path, now: datetime, values: dict[int, float]) -> None:
    """Two rows per key: an old one (-1) and the latest one, an hour ago, of `values`."""
    keys = np.fromiter(values, dtype=np.int64, count=len(values))
    latest = np.fromiter(values.values(), dtype=np.float64, count=len(values))
    at = _micros(now)
    hour = 3600_000_000
    times = np.concatenate([np.full(len(keys), at - 2 * hour), np.full(len(keys), at - hour)])
    _write_table(
        path,
        np.concatenate([keys, keys]),
        times,
        np.concatenate([np.full(len(keys), -1.0), latest]),
    )


def _hash(project: Path) -> str:
    with FeatureStore(project_dir=project) as store:
        return store.project.views[VIEW].content_hash


def _read(project: Path, keys: Sequence[int]) -> list[Any]:
    with FeatureStore(project_dir=project) as store:
        got = store.get_online_features(
            features=[f"{VIEW}:value"], entity_rows=[{"user_id": k} for k in keys]
        )
        return got.to_dict()["value"]


# --- processes -----------------------------------------------------------------------------


@dataclass
class Proc:
    """A command in its own process; stdout and stderr go to files."""

    name: str
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path
    launched: datetime
    exited: datetime | None = None

    def wait(self, timeout: float = WAIT_S) -> int:
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            message = f"{self.name} did not finish in {timeout}s\n{self.report()}"
            raise AssertionError(message) from None
        if self.exited is None:
            self.exited = datetime.now(UTC)
        return rc

    @property
    def rc(self) -> int | None:
        return self.popen.poll()

    @property
    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def report(self) -> str:
        return (
            f"--- {self.name} (exit {self.rc}): {self.popen.args}\n"
            f"stdout:\n{self.stdout}stderr:\n{self.stderr}"
        )


class Procs:
    """The processes a test started: their outputs for failure messages, and a kill of
    the ones still running at the end (only these, by their own handles)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[Proc] = []
        self.workers: list[multiprocessing.process.BaseProcess] = []

    def fsql(self, name: str, *args: str | Path) -> Proc:
        self.logs.mkdir(parents=True, exist_ok=True)
        n = len(self.procs)
        out, err = self.logs / f"{n:02d}-{name}.out", self.logs / f"{n:02d}-{name}.err"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                [sys.executable, "-m", "fsql.cli.main", *map(str, args)],
                stdout=stdout,
                stderr=stderr,
                env=env,
            )
        proc = Proc(name, popen, out, err, datetime.now(UTC))
        self.procs.append(proc)
        return proc

    def spawn(self, target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
        worker = SPAWN.Process(target=target, args=args, daemon=True)
        worker.start()
        self.workers.append(worker)
        return worker

    def report(self) -> str:
        return "\n".join(p.report() for p in self.procs)

    def close(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.kill()
                proc.popen.wait()
        for worker in self.workers:
            if worker.is_alive():
                worker.kill()
            worker.join(10)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    started = Procs(tmp_path / "logs")
    try:
        yield started
    finally:
        started.close()


def _wait_for(proc: Proc, text: str, timeout: float = WAIT_S) -> None:
    """Until `text` is in the process's stderr (progress lines are written at once)."""
    deadline = time.monotonic() + timeout
    while text not in proc.stderr:
        if proc.rc is not None or time.monotonic() > deadline:
            raise AssertionError(f"{proc.name} never printed {text!r}\n{proc.report()}")
        time.sleep(0.01)


def _get(box: Any, worker: multiprocessing.process.BaseProcess, what: str) -> Any:
    """A worker's result from its queue; fails (rather than hangs) when it died without one."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return box.get(timeout=0.2)
        except queue.Empty:
            if not worker.is_alive() or time.monotonic() > deadline:
                message = f"{what} ended without a result (exit {worker.exitcode})"
                raise AssertionError(message) from None


def _freshness(procs: Procs, name: str, project: Path) -> tuple[int, dict[str, Any], Proc]:
    proc = procs.fsql(name, "freshness", "--format", "json", "--project-dir", project)
    rc = proc.wait()
    [row] = json.loads(proc.stdout)
    return rc, row, proc


# --- 1. two definitions, both orders ---------------------------------------------------------

KEYS_1 = 100_000
SAMPLE_1 = [0, 1, 2, 17, 4242, 50_001, 77_777, KEYS_1 - 1]
FENCED = "a newer definition was materialized meanwhile"
# The project of `value * 1` is made slow: its model makes DuckDB spend a second or two
# on a scalar subquery once its rebuild has begun (views are `materialized: view`, so the
# model runs while the materialization streams). When it starts first, the faster later
# run swaps in first and the slow one is refused at its swap; when it starts second, the
# first run finishes first. Both outcomes are accepted either way: timing only makes each
# order likely to show a different interleaving.
SLOW_WHERE = "where (select sum(hash(i)) % 7 from range(300000000) t(i)) >= 0\n"
MODELS_1 = {1: _model("value * 1", SLOW_WHERE), 2: _model("value * 2")}


def _raw_1(key: int) -> float:
    return key * 0.5 + 1.0


def _check_live(project: Path, k: int, expect_hash: str, why: str) -> None:
    with FeatureStore(project_dir=project) as store:
        live = store.online.namespace(VIEW)
        state = store.online.get_state(VIEW)
    assert live is not None and state is not None, why
    assert live.view_hash == expect_hash, f"live namespace of another definition: {why}"
    assert state.view_hash == expect_hash, f"run state of another definition: {why}"
    expected = [_raw_1(key) * k for key in SAMPLE_1]
    assert _read(project, SAMPLE_1) == expected, f"values not of definition k={k}: {why}"


@pytest.mark.parametrize("first", [1, 2], ids=["slow_first", "fast_first"])
def test_two_definitions_later_started_run_wins(
    tmp_path: Path, online_store_config: Online, procs: Procs, first: int
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    source = tmp_path / "data" / "stats_raw.parquet"
    _write_latest(source, now, {key: _raw_1(key) for key in range(KEYS_1)})
    shared = tmp_path / "shared-online.db"
    projects = {
        k: _project(tmp_path / f"k{k}", MODELS_1[k], source, online_store_config, shared, "view")
        for k in (1, 2)
    }
    hashes = {k: _hash(p) for k, p in projects.items()}
    assert hashes[1] != hashes[2]
    earlier_k, later_k = first, 3 - first
    earlier, later = projects[earlier_k], projects[later_k]

    a = procs.fsql(f"run-k{earlier_k}", "run", "--project-dir", earlier)
    # B starts once A has taken its start time (it prints "materializing" after), so B's
    # run is the later-started one whatever the scheduler does.
    _wait_for(a, f"materializing {VIEW}")
    time.sleep(0.3)
    b = procs.fsql(f"run-k{later_k}", "run", "--project-dir", later)
    rc_b, rc_a = b.wait(), a.wait()
    log = procs.report()
    assert rc_b == 0, log
    assert "Traceback" not in a.stderr + b.stderr, log
    if rc_a == 0:  # A swapped in before B did; B replaced it
        assert f"{VIEW}: {KEYS_1:,} keys written (full" in a.stderr, log
    else:
        assert rc_a == 1, log
        assert FENCED in a.stderr, log
    outcome = "fenced" if rc_a else "swapped before"
    print(f"earlier run (k={earlier_k}): {outcome}")
    if online_store_config is None:  # the loser's pending namespace (a table) is gone
        with closing(sqlite3.connect(shared)) as conn:
            tables = conn.execute(
                "select name from sqlite_master where name like 'fsql_view__stats__%'"
            ).fetchall()
        assert len(tables) == 1, tables

    _check_live(later, later_k, hashes[later_k], f"the later run must win\n{log}")
    _check_live(earlier, later_k, hashes[later_k], f"read through the other project\n{log}")

    rc, row, proc = _freshness(procs, f"fresh-k{later_k}", later)
    assert (rc, row["status"]) == (0, "unscheduled"), proc.report()
    rc, row, proc = _freshness(procs, f"fresh-k{earlier_k}", earlier)
    assert (rc, row["status"]) == (1, "redefined"), proc.report()
    assert "redefined" in proc.stderr, proc.report()

    # A run of the earlier project now is the newer one: its definition comes back.
    again = procs.fsql(f"rerun-k{earlier_k}", "run", "--project-dir", earlier)
    assert again.wait() == 0, again.report()
    assert "Traceback" not in again.stderr, again.report()
    _check_live(earlier, earlier_k, hashes[earlier_k], again.report())
    rc, row, proc = _freshness(procs, f"fresh-again-k{earlier_k}", earlier)
    assert (rc, row["status"]) == (0, "unscheduled"), proc.report()
    rc, row, proc = _freshness(procs, f"fresh-again-k{later_k}", later)
    assert (rc, row["status"]) == (1, "redefined"), proc.report()


# --- 2. readers during rebuilds ----------------------------------------------------------------

KEYS_2 = 60_000
ROUNDS_2 = 7  # rebuilds: B, A, B, ..., B (odd: the last one is B, the first one to be read is A)
MIN_READS = 100
# Keys ending in 8 have a value in A only, keys ending in 9 in B only; KEYS_2 + 3 in neither.
READ_KEYS_2 = [*sorted(random.Random(2).sample(range(KEYS_2), 700)), 8, 9, KEYS_2 + 3]


def _version_2(name: str) -> dict[int, float]:
    if name == "A":
        return {key: key + 0.25 for key in range(KEYS_2) if key % 10 != 9}
    return {key: key * 3 + 0.5 for key in range(KEYS_2) if key % 10 != 8}


def _answer_2(name: str) -> list[float | None]:
    values = _version_2(name)
    return [values.get(key) for key in READ_KEYS_2]


# The same two answers made by one source and two definitions (x + 0.25 times 3, less
# 0.25, is 3x + 0.5 exactly): a redefinition that alternates.
MODELS_2 = {
    "A": _model("value", "where user_id % 10 != 9\n"),
    "B": _model("value * 3 - 0.25", "where user_id % 10 != 8\n"),
}


def _rebuilder(project: str, source: str, change: str, now: datetime, results: Any) -> None:
    """Worker: rebuild the view ROUNDS_2 times (`FeatureStore.run()`, a new store each
    time, as a new definition needs), alternating B, A, B, ...: the source or the model."""
    out: dict[str, Any] = {"runs": [], "error": None}
    try:
        for i in range(ROUNDS_2):
            name = "B" if i % 2 == 0 else "A"
            if change == "data":
                _write_latest(Path(source), now, _version_2(name))
            else:
                (Path(project) / "models" / f"{VIEW}.sql").write_text(MODELS_2[name])
            with FeatureStore(project_dir=project) as store:
                _, [result] = store.run()
            out["runs"].append((name, result.rows, result.reason))
    except BaseException:
        out["error"] = traceback.format_exc()
    results.put(out)


def _reader(project: str, ready: Any, stop: Any, results: Any) -> None:
    """Worker: read READ_KEYS_2 (one batch) and one key alone, again and again until
    told to stop; count the reads and which version each batch was wholly equal to."""
    out: dict[str, Any] = {"reads": 0, "seen": {"A": 0, "B": 0}, "switches": 0}
    out.update(errors=[], mixed=[])
    answers = {name: _answer_2(name) for name in ("A", "B")}
    rows = [{"user_id": key} for key in READ_KEYS_2]
    last = None
    try:
        with FeatureStore(project_dir=project) as store:
            i = 0
            while not stop.is_set() and len(out["errors"]) < 5 and len(out["mixed"]) < 5:
                i += 1
                try:
                    got = store.get_online_features([f"{VIEW}:value"], rows).to_dict()["value"]
                    pos = i % len(READ_KEYS_2)
                    one = store.get_online_features(
                        [f"{VIEW}:value"], [{"user_id": READ_KEYS_2[pos]}]
                    ).to_dict()["value"]
                except Exception:
                    out["errors"].append(traceback.format_exc())
                    continue
                out["reads"] += 1
                if out["reads"] == 1:
                    ready.set()
                version = next((n for n, want in answers.items() if got == want), None)
                if version is None:
                    odd = [
                        (key, got[j], answers["A"][j], answers["B"][j])
                        for j, key in enumerate(READ_KEYS_2)
                        if got[j] not in (answers["A"][j], answers["B"][j])
                    ]
                    same_a = sum(g == a for g, a in zip(got, answers["A"], strict=True))
                    out["mixed"].append(
                        f"read {i}: {same_a} of {len(got)} values as in A, the others as in B"
                        f"; values in neither (key, got, A, B): {odd[:10]}"
                    )
                    continue
                out["seen"][version] += 1
                out["switches"] += last is not None and version != last
                last = version
                if one[0] not in (answers["A"][pos], answers["B"][pos]):
                    out["mixed"].append(f"read {i}: key {READ_KEYS_2[pos]} alone: {one[0]}")
    except BaseException:
        out["errors"].append(traceback.format_exc())
    ready.set()  # never leave the test waiting
    results.put(out)


@pytest.mark.parametrize("change", ["data", "definition"])
def test_readers_during_rebuilds_see_one_whole_version(
    tmp_path: Path, online_store_config: Online, procs: Procs, change: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    source = tmp_path / "data" / "stats_raw.parquet"
    if change == "data":
        _write_latest(source, now, _version_2("A"))
        model = _model("value")
    else:
        _write_latest(source, now, {key: key + 0.25 for key in range(KEYS_2)})
        model = MODELS_2["A"]
    project = _project(tmp_path / "p", model, source, online_store_config, tmp_path / "online.db")
    with FeatureStore(project_dir=project) as store:
        store.run()
    assert _read(project, READ_KEYS_2) == _answer_2("A")

    stop = SPAWN.Event()
    readers = []
    for _ in range(2):
        ready, results = SPAWN.Event(), SPAWN.Queue()
        readers.append((procs.spawn(_reader, str(project), ready, stop, results), ready, results))
    for _, ready, _ in readers:
        assert ready.wait(WAIT_S), "a reader never started"
    done = SPAWN.Queue()
    writer = procs.spawn(_rebuilder, str(project), str(source), change, now, done)
    wrote = _get(done, writer, "the rebuilding process")
    time.sleep(1.5)  # readers go on past the last swap (Redis readers look again each second)
    stop.set()
    outcomes = [_get(results, reader, "a reader") for reader, _, results in readers]

    assert wrote["error"] is None, wrote["error"]
    full = "full" if change == "data" else "full (definition changed)"
    assert [(name, reason) for name, _, reason in wrote["runs"]] == [
        ("B" if i % 2 == 0 else "A", full) for i in range(ROUNDS_2)
    ], wrote
    for n, got in enumerate(outcomes):
        print(f"reader {n}: {got['reads']} reads, {got['seen']}, {got['switches']} switches")
        assert got["errors"] == [], "\n".join(got["errors"])
        assert got["mixed"] == [], "\n".join(got["mixed"])
        assert got["reads"] > MIN_READS, got
        assert got["seen"]["A"] > 0 and got["seen"]["B"] > 0, got
    assert _read(project, READ_KEYS_2) == _answer_2("B")


# --- 3. concurrent state writers ---------------------------------------------------------------

KEYS_3 = 2_000
ROWS_PER_KEY = 24
N_COPIES = 8


@dataclass
class Source3:
    keys: np.ndarray
    times: np.ndarray  # microseconds
    values: np.ndarray

    def pit(self, end: datetime) -> list[float | None]:
        """The point-in-time answer at `end` for keys 0..KEYS_3 (the latest row per key)."""
        mask = self.times <= _micros(end)
        keys, times, values = self.keys[mask], self.times[mask], self.values[mask]
        order = np.lexsort((times, keys))
        latest: dict[int, float] = dict(
            zip(keys[order].tolist(), values[order].tolist(), strict=True)
        )
        return [latest.get(key) for key in range(KEYS_3)]


def _source_3(path: Path, now: datetime) -> Source3:
    """Rows at distinct random times over the last 46 hours, none in the last minute."""
    rng = np.random.default_rng(3)
    n = KEYS_3 * ROWS_PER_KEY
    keys = np.repeat(np.arange(KEYS_3, dtype=np.int64), ROWS_PER_KEY)
    span = 46 * 3600_000_000
    times = _micros(now) - 60_000_000 - rng.choice(span, size=n, replace=False)
    values = np.round(rng.uniform(-1000, 1000, size=n), 3)
    _write_table(path, keys, times, values)
    return Source3(keys, times, values)


def _copies(tmp_path: Path, online: Online, now: datetime) -> tuple[list[Path], Source3]:
    source = tmp_path / "data" / "stats_raw.parquet"
    data = _source_3(source, now)
    shared = tmp_path / "online.db"
    copies = [
        _project(tmp_path / f"c{i}", _model("value"), source, online, shared)
        for i in range(N_COPIES)
    ]
    assert len({_hash(c) for c in copies[:2]}) == 1  # one definition, one store
    return copies, data


def _monitor(project: str, stop: Any, results: Any) -> None:
    """Worker: sample the view's watermark as fast as possible until told to stop; report
    the distinct values in order (each with how often it was seen) and every decrease."""
    out: dict[str, Any] = {"samples": 0, "values": [], "decreases": [], "error": None}
    try:
        with FeatureStore(project_dir=project) as store:
            online = store.online
            last: datetime | None = None
            while not stop.is_set():
                state = online.get_state(VIEW)
                mark = state.watermark if state is not None else None
                out["samples"] += 1
                if last is not None and (mark is None or mark < last):
                    out["decreases"].append((last.isoformat(), mark and mark.isoformat()))
                if mark != last:
                    out["values"].append([mark and mark.isoformat(), 0])
                    last = mark
                out["values"][-1][1] += 1
    except BaseException:
        out["error"] = traceback.format_exc()
    results.put(out)


def _state(project: Path) -> Any:
    with FeatureStore(project_dir=project) as store:
        return store.online.get_state(VIEW)


def _materializer(project: str, commands: list[Any], ready: Any, go: Any, results: Any) -> None:
    """Worker: build the project's own offline table, then, once told to go, run its
    materializations one after the other: (None, END) incremental, (START, END) a range."""
    out: dict[str, Any] = {"results": [], "error": None}
    try:
        with FeatureStore(project_dir=project) as store:
            store.ensure_built([VIEW])
            store.online.get_state(VIEW)  # connected
            ready.set()
            if not go.wait(WAIT_S):
                raise TimeoutError("never told to go")
            for start, end in commands:
                if start is None:
                    [result] = store.materialize_incremental(end)
                else:
                    [result] = store.materialize(start, end)
                out["results"].append((start, end, result.rows, result.reason))
    except BaseException:
        out["error"] = traceback.format_exc()
    ready.set()
    results.put(out)


def test_concurrent_state_writers_never_move_the_watermark_back(
    tmp_path: Path, online_store_config: Online, procs: Procs
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    copies, data = _copies(tmp_path, online_store_config, now)
    first = procs.fsql(
        "initial", "materialize-incremental", now - 40 * H, "--project-dir", copies[0]
    )
    assert first.wait() == 0, first.report()
    assert _state(copies[0]).watermark == now - 40 * H

    stop, samples = SPAWN.Event(), SPAWN.Queue()
    monitor = procs.spawn(_monitor, str(copies[0]), stop, samples)
    # ENDs in random order, each twice, and ranges from before the first row (a range from
    # later than the watermark would leave a gap below it, by design): spread over
    # processes that all start at one signal.
    ends = [now - 30 * H, now - 20 * H, now - 8 * H, now - H, now]
    commands: list[tuple[datetime | None, datetime]] = [(None, e) for e in ends * 2]
    commands += [(now - 47 * H, now - k * H) for k in (12, 3, 25, 1)]
    seed = random.randrange(2**32)
    print(f"order seed {seed}")
    random.Random(seed).shuffle(commands)
    go = SPAWN.Event()
    workers = []
    for i in range(1, N_COPIES - 1):
        ready, results = SPAWN.Event(), SPAWN.Queue()
        mine = commands[i - 1 :: N_COPIES - 2]
        workers.append(
            (procs.spawn(_materializer, str(copies[i]), mine, ready, go, results), ready, results)
        )
    for _, ready, _ in workers:
        assert ready.wait(WAIT_S), "a materializing process never got ready"
    go.set()
    outcomes = [_get(results, worker, "a materializing process") for worker, _, results in workers]
    for got in outcomes:
        assert got["error"] is None, got["error"]
    reasons = [r for got in outcomes for r in got["results"]]
    print(
        "\n".join(
            f"{s and s.isoformat()} {e.isoformat()}: {n} keys, {why}" for s, e, n, why in reasons
        )
    )
    assert len(reasons) == len(commands)
    assert all(not why.startswith("full") for *_, why in reasons), reasons  # all partial
    mid = _state(copies[0]).watermark
    assert mid == now, f"the greatest END is {now}, the watermark {mid}"
    assert _read(copies[0], range(KEYS_3)) == data.pit(now), "values are not those at END"

    # Then, as commands, an END in the future beside a backfill and a range: the watermark
    # stops at the future run's start (between its launch and its exit).
    future = procs.fsql(
        "future", "materialize-incremental", now + 24 * H, "--project-dir", copies[1]
    )
    more = [
        procs.fsql("backfill", "materialize-incremental", now - 5 * H, "--project-dir", copies[2]),
        procs.fsql("range", "materialize", now - 47 * H, now - 2 * H, "--project-dir", copies[3]),
    ]
    for proc in (future, *more):
        assert proc.wait() == 0 and "Traceback" not in proc.stderr, procs.report()
    stop.set()
    seen = _get(samples, monitor, "the watermark monitor")

    assert seen["error"] is None, seen["error"]
    print(f"monitor: {seen['samples']} samples, watermarks {seen['values']}")
    assert seen["samples"] > MIN_READS, seen
    assert seen["decreases"] == [], seen
    marks = [datetime.fromisoformat(v) for v, _ in seen["values"]]
    final = _state(copies[0]).watermark
    assert marks[-1] == final, seen
    assert now in marks, seen
    assert now < future.launched <= final <= (future.exited or datetime.now(UTC)), (final, future)
    assert _read(copies[0], range(KEYS_3)) == data.pit(now), "values are not those at now"


# --- 3b. full materializations with different ENDs, in forced interleavings ---------------


def _paused_full(project: str, end: datetime, at_swap: Any, go: Any, results: Any) -> None:
    """Worker: `materialize_incremental(end)` that stops right before its swap (the
    store's `commit_rebuild`) until told to go on; reports the result or the error."""
    out: dict[str, Any] = {"rows": None, "reason": None, "error": None, "fsql_error": False}
    try:
        with FeatureStore(project_dir=project) as store:
            online = store.online
            commit = online.commit_rebuild

            def paused(*args: Any, **kwargs: Any) -> bool:
                at_swap.set()
                if not go.wait(WAIT_S):
                    raise TimeoutError("never told to swap")
                return commit(*args, **kwargs)

            online.commit_rebuild = paused  # type: ignore[method-assign]
            [result] = store.materialize_incremental(end)
            out.update(rows=result.rows, reason=result.reason)
    except BaseException as err:
        out.update(error=traceback.format_exc(), fsql_error=isinstance(err, FsqlError))
    at_swap.set()
    results.put(out)


@dataclass
class Paused:
    worker: multiprocessing.process.BaseProcess
    at_swap: Any
    go: Any
    results: Any

    def release(self) -> dict[str, Any]:
        self.go.set()
        return _get(self.results, self.worker, "a paused materialization")


def _start_paused(procs: Procs, project: Path, end: datetime) -> Paused:
    at_swap, go, results = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    worker = procs.spawn(_paused_full, str(project), end, at_swap, go, results)
    assert at_swap.wait(WAIT_S), "the paused materialization never reached its swap"
    return Paused(worker, at_swap, go, results)


def _require(condition: object, message: object) -> None:
    """A precondition of a test: fails it outright, apart from the assertion it is about."""
    if not condition:
        pytest.fail(str(message))


def test_full_run_to_an_earlier_end_never_swaps_values_back(
    tmp_path: Path, online_store_config: Online, procs: Procs
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    copies, data = _copies(tmp_path, online_store_config, now)
    # P (END now) and then Q (END 20 hours ago) both find the view never materialized and
    # rebuild it in full; P swaps first (nothing contests it), then Q, which started later,
    # reaches its swap. Q may be refused (an fsql error) or write what it may; either way
    # the store must hold the answer at its watermark, now.
    p = _start_paused(procs, copies[0], now)
    q = _start_paused(procs, copies[1], now - 20 * H)
    got_p, got_q = p.release(), q.release()
    print("P:", got_p, "\nQ:", got_q)
    _require(got_p["error"] is None, got_p["error"])
    _require(got_q["error"] is None or got_q["fsql_error"], got_q["error"])
    state = _state(copies[0])
    values = _read(copies[0], range(KEYS_3))
    again = procs.fsql("incremental", "materialize-incremental", now, "--project-dir", copies[2])
    _require(again.wait() == 0, again.report())
    after = _read(copies[0], range(KEYS_3))
    wrong = sum(a != b for a, b in zip(after, data.pit(now), strict=True))
    _require(state.watermark == now, state)
    assert values == data.pit(now), (
        f"Q: {got_q['reason'] or got_q['error']}; watermark {state.watermark}, but the values "
        f"are those at {'Q' if values == data.pit(now - 20 * H) else 'another'}'s END; after "
        f"another `materialize-incremental {now.isoformat()}` ({again.stdout.strip()}), "
        f"{wrong} of {KEYS_3} keys still differ from the answer at {now.isoformat()}"
    )


def test_a_skipped_full_run_never_loses_its_later_end(
    tmp_path: Path, online_store_config: Online, procs: Procs
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    copies, data = _copies(tmp_path, online_store_config, now)
    # P (END now) rebuilds in full and waits at its swap; Q (END 20 hours ago), a command
    # started after it, also rebuilds in full and swaps; then P reaches its swap. P may
    # fail (an fsql error: the user knows to run it again); if it reports success, its
    # END must be materialized.
    p = _start_paused(procs, copies[0], now)
    q = procs.fsql(
        "earlier-end", "materialize-incremental", now - 20 * H, "--project-dir", copies[1]
    )
    _require(q.wait() == 0, q.report())
    got_p = p.release()
    print("P:", got_p, "\nQ:", q.stdout)
    _require(got_p["error"] is None or got_p["fsql_error"], got_p["error"])
    if got_p["error"] is None:
        state = _state(copies[0])
        at_now = _read(copies[0], range(KEYS_3)) == data.pit(now)
        assert (state.watermark, at_now) == (now, True), (
            f"P (END {now.isoformat()}) reported {got_p['reason']!r} with exit 0; the "
            f"watermark is {state.watermark.isoformat()} and the values are "
            f"{'those at now' if at_now else 'not those at now'}"
        )


def test_a_redefined_view_materialized_to_an_earlier_end_keeps_a_true_watermark(
    tmp_path: Path, online_store_config: Online, procs: Procs
) -> None:
    """The same swap-back as above, sequential: the common root is that a swap keeps the
    greater of the stored and the new watermark whatever END the swapped values have."""
    now = datetime.now(UTC).replace(microsecond=0)
    copies, data = _copies(tmp_path, online_store_config, now)
    first = procs.fsql("first", "materialize-incremental", now, "--project-dir", copies[0])
    _require(first.wait() == 0, first.report())
    (copies[0] / "models" / f"{VIEW}.sql").write_text(_model("value + 0"))  # same values
    back = procs.fsql(
        "redefined", "materialize-incremental", now - 20 * H, "--project-dir", copies[0]
    )
    _require(back.wait() in (0, 1) and "Traceback" not in back.stderr, back.report())
    state = _state(copies[0])
    values = _read(copies[0], range(KEYS_3))
    again = procs.fsql("incremental", "materialize-incremental", now, "--project-dir", copies[0])
    _require(again.wait() == 0, again.report())
    after = _read(copies[0], range(KEYS_3))
    wrong = sum(a != b for a, b in zip(after, data.pit(now), strict=True))
    print(back.stdout, again.stdout)
    if values == data.pit(now - 20 * H):  # it swapped in values at its END: so must the state
        assert state.watermark == now - 20 * H, (
            f"{back.stdout.strip()}: values at {(now - 20 * H).isoformat()}, watermark "
            f"{state.watermark.isoformat()}; then {again.stdout.strip()}: {wrong} of "
            f"{KEYS_3} keys still differ from the answer at {now.isoformat()}"
        )
    assert after == data.pit(now), f"{wrong} keys differ after {again.stdout.strip()}"
