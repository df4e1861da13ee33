"""HTTP load on `fsql serve` against Feast's `feast serve`, same data, same run, with wrk.

    python bench/serve_load.py                          # 10,000 users, 10 s per cell, 1 worker
    python bench/serve_load.py --workers 1,2 --duration 10s --json /tmp/serve.json
    python bench/serve_load.py --users 100000 --connections 8 --entities 1

What is measured: `POST /get-online-features` with `{"features": [5 refs], "entities":
{"user_id": [...]}}`, 1 and 100 entity rows per request, keys drawn at random from the
existing users for every request (wrk's Lua `request()` builds each body), at 1, 8 and 64
connections (keep-alive), for `--duration` per cell. wrk reports requests/s, p50 and p99
(its latency is per request, from the request's write to the end of its response; wrk,
not wrk2, so a slow server is offered less load rather than queueing it). wrk runs
one thread (the machine has 2 cores; the server gets the rest). Non-2xx answers, timeouts
and socket errors are counted and printed; a cell with any is flagged. The 1-minute load
average after each cell is printed beside it: other work on the machine shows there.

The data: `--users` users (default 10,000), two versions each (the newer one is served),
event times in 2026-01, five numeric features (3 float64, 2 int64, no NULLs) in one
parquet file, cached in bench/data/serve/. Both servers read it from the same file:

- fsql: a project (temp dir under bench/data/serve/) with one feature view over the file
  (`path:` source, ttl 3650d, online), DuckDB offline and SQLite online (the default
  embedded stores), built and materialized with `fsql run`; served with
  `.venv/bin/fsql serve --project-dir DIR --port P --workers W --log-level warning`.
- Feast 0.67.0 (its venv: bench/.venvs/feast, or .venvs/feast, else created as
  bench/feast_compare.py does): a repo (temp dir) with the same Entity and FeatureView
  (FileSource over the file, ttl 3650 days), Feast's default SQLite online store,
  `feast apply`, `feast materialize`, then `feast serve --workers W --no-access-log
  --max-requests 0`. Feast's default `--max-requests 1000` makes gunicorn restart the
  worker every ~1,000 requests (seconds of Feast start-up each time, no worker left to
  answer at --workers 1); it is turned off so that Feast is measured serving, not starting.

Each server runs alone (never both at once), started as a subprocess on a free port and
ready when `GET /health` answers 200; it is stopped with SIGTERM to its process group,
then SIGKILL after 20 s, whatever happens. Before measuring, both servers are asked for
the same keys (some random users and one unknown) and the answers compared value for
value (feature names, values to 1e-9, statuses); the run stops if they differ. Each
server is warmed with 300 requests of each size before its cells. Temp projects are
deleted at the end (`--keep` leaves them).

Targets (printed beside the figures): fsql's throughput >= 3x Feast's with a p99 no worse
than Feast's, per cell; fsql's p99 < 5 ms at 8 connections, 1 entity per request.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, table

DATA = REPO / "bench" / "data" / "serve"
FSQL = REPO / ".venv" / "bin" / "fsql"
FEAST_VERSION = "0.67.0"
FEAST_VENVS = [REPO / "bench" / ".venvs" / "feast", REPO / ".venvs" / "feast"]
VIEW = "user_stats"
FLOATS = ["lifetime_value", "avg_basket", "churn_score"]
INTS = ["purchase_count", "session_count"]
FEATURES = [f"{VIEW}:{name}" for name in [*FLOATS, *INTS]]
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
DAY_US = 86_400 * 1_000_000
WARMUP = 300  # requests of each size per server, before its cells
READY_SECONDS = 180.0
STOP_SECONDS = 20.0
SEED = 20261204


# --- data and projects -------------------------------------------------------------------


def generate(users: int) -> Path:
    """The users' parquet file (cached): two versions per user, the newer one served."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = DATA / f"users_{users}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    n = users * 2
    user = np.tile(np.arange(1, users + 1, dtype=np.int64), 2)
    # Version 0 in days 0-14 of 2026-01, version 1 in days 15-29: no ties on event time.
    day = np.where(np.arange(n) < users, 0, 15)
    event = START_US + day * DAY_US + rng.integers(0, 15 * DAY_US, n, dtype=np.int64)
    event -= event % 1_000_000  # whole seconds: both servers print the same event time
    columns: dict[str, Any] = {
        "user_id": user,
        "event_timestamp": pa.array(event, pa.timestamp("us", tz="UTC")),
        "lifetime_value": np.round(rng.gamma(2, 150, n), 2),
        "avg_basket": np.round(rng.uniform(5, 200, n), 2),
        "churn_score": rng.random(n),
        "purchase_count": rng.integers(0, 500, n, dtype=np.int64),
        "session_count": rng.integers(0, 50, n, dtype=np.int64),
    }
    order = rng.permutation(n)
    data = pa.table(columns).take(pa.array(order))
    tmp = path.with_suffix(".tmp")
    pq.write_table(data, tmp)
    tmp.rename(path)
    return path


def run(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        list(cmd), cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(cmd)}` failed ({done.returncode}):\n{done.stdout[-2000:]}"
            f"\n{done.stderr[-3000:]}"
        )


def fsql_project(root: Path, parquet: Path) -> Path:
    """An fsql project with one online view over `parquet`, built and materialized."""
    files = {
        "fsql_project.yml": "name: serve_bench\nprofile: serve_bench\n",
        "profiles.yml": (
            "serve_bench:\n  target: dev\n  outputs:\n    dev:\n"
            "      offline: {type: duckdb, path: target/fsql.duckdb}\n"
            "      online: {type: sqlite, path: target/online.db}\n"
        ),
        "models/serve.yml": (
            "entities:\n  - {name: user, join_keys: [user_id]}\n"
            "sources:\n  - name: raw\n    tables:\n"
            f"      - {{name: users, path: {json.dumps(str(parquet))}}}\n"
            f"feature_views:\n  - name: {VIEW}\n    entities: [user]\n"
            "    timestamp: event_timestamp\n    ttl: 3650d\n    online: true\n"
            "    features:\n"
            + "".join(f"      - {{name: {f}, type: float64}}\n" for f in FLOATS)
            + "".join(f"      - {{name: {f}, type: int64}}\n" for f in INTS)
        ),
        f"models/{VIEW}.sql": (
            f"select user_id, event_timestamp, {', '.join([*FLOATS, *INTS])}\n"
            "from {{ source('raw', 'users') }}\n"
        ),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    run([str(FSQL), "run", "--project-dir", str(root)], cwd=root)
    return root


FEAST_REPO_PY = """from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
source = FileSource(path={path!r}, timestamp_field="event_timestamp")
{view} = FeatureView(
    name="{view}",
    entities=[user],
    ttl=timedelta(days=3650),
    schema=[{fields}],
    online=True,
    source=source,
)
"""


def feast_repo(root: Path, parquet: Path, feast: Path) -> Path:
    """A Feast repo with the same view over `parquet`, applied and materialized."""
    fields = ", ".join(
        [f'Field(name="{f}", dtype=Float64)' for f in FLOATS]
        + [f'Field(name="{f}", dtype=Int64)' for f in INTS]
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text(
        "project: serve_bench\nprovider: local\nregistry: data/registry.db\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
        "entity_key_serialization_version: 3\n"
    )
    (root / "data").mkdir(exist_ok=True)
    (root / "features.py").write_text(
        FEAST_REPO_PY.format(path=str(parquet), view=VIEW, fields=fields)
    )
    env = {"FEAST_USAGE": "False"}
    run([str(feast), "-c", str(root), "apply"], cwd=root, env=env)
    run(
        [str(feast), "-c", str(root), "materialize", "2025-01-01T00:00:00", "2026-12-31T00:00:00"],
        cwd=root,
        env=env,
    )
    return root


def feast_cli() -> Path:
    """Feast's CLI in a venv with FEAST_VERSION (created as bench/feast_compare.py does)."""
    for venv in FEAST_VENVS:
        python = venv / "bin" / "python"
        if python.exists():
            done = subprocess.run(
                [str(python), "-c", "import feast; print(feast.__version__)"],
                capture_output=True,
                text=True,
            )
            if done.returncode == 0 and done.stdout.strip() == FEAST_VERSION:
                return venv / "bin" / "feast"
    from bench.feast_compare import VENV, ensure_feast

    why = ensure_feast()
    if why:
        sys.exit(f"Feast {FEAST_VERSION} cannot be installed here, no Feast figures:\n{why}")
    return VENV / "bin" / "feast"


# --- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (its workers too), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


@contextmanager
def server(cmd: Sequence[str], port: int, log: Path, cwd: Path) -> Iterator[int]:
    """Run `cmd` in its own process group until /health answers; stop it on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "FEAST_USAGE": "False"},
        )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"`{' '.join(cmd)}` exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
                )
            try:
                if get(port, "/health", 2.0)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer on /health after {READY_SECONDS:.0f} s: {cmd}")
            time.sleep(0.2)
        yield proc.pid
    finally:
        stop(proc)


def body(keys: Sequence[int]) -> bytes:
    return json.dumps({"features": FEATURES, "entities": {"user_id": list(keys)}}).encode()


def post_many(port: int, bodies: Sequence[bytes]) -> list[dict[str, Any]]:
    """POST each body on one keep-alive connection; the answers, parsed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    answers = []
    try:
        for data in bodies:
            conn.request("POST", "/get-online-features", body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {raw[:500]!r}")
            answers.append(json.loads(raw))
    finally:
        conn.close()
    return answers


def warm(port: int, users: int) -> None:
    rng = random.Random(SEED)
    for n in (1, 100):
        post_many(port, [body(rng.choices(range(1, users + 1), k=n)) for _ in range(WARMUP)])


# --- the same answers ---------------------------------------------------------------------


def normal(answer: dict[str, Any]) -> dict[str, Any]:
    """Feature names, values (numbers as float: Feast may write an int64 as a string)
    and statuses of one answer."""
    names = answer["metadata"]["feature_names"]
    values: dict[str, list[Any]] = {}
    statuses: dict[str, list[str]] = {}
    for name, result in zip(names, answer["results"], strict=True):
        values[name] = [None if v is None else float(v) for v in result["values"]]
        statuses[name] = result["statuses"]
    return {"names": names, "values": values, "statuses": statuses}


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a))


def check_keys(users: int) -> list[int]:
    rng = random.Random(SEED + 1)
    return [*rng.sample(range(1, users + 1), 5), users + 1]  # the last one is unknown


def compare(fsql: dict[str, Any], feast: dict[str, Any], keys: Sequence[int]) -> list[str]:
    """Print both answers key by key, column by name; return the differences."""
    a, b = normal(fsql), normal(feast)
    problems = []
    if sorted(a["names"]) != sorted(b["names"]):
        problems.append(f"feature names differ: fsql {a['names']}, Feast {b['names']}")
        return problems
    if a["names"] != b["names"]:  # compared by name below
        print(f"column order differs: fsql {a['names']}, Feast {b['names']}")
    rows = []
    for i, key in enumerate(keys):
        for name in a["names"][1:]:
            va, vb = a["values"][name][i], b["values"][name][i]
            sa, sb = a["statuses"][name][i], b["statuses"][name][i]
            ok = same(va, vb) and sa == sb
            rows.append([key, name, repr(va), sa, repr(vb), sb, "yes" if ok else "NO"])
            if not ok:
                problems.append(f"user {key} {name}: fsql {va} {sa}, Feast {vb} {sb}")
    print(
        table(
            rows,
            [
                "user_id",
                "feature",
                "fsql value",
                "fsql status",
                "Feast value",
                "Feast status",
                "same",
            ],
        ),
        flush=True,
    )
    return problems


# --- wrk ----------------------------------------------------------------------------------

LUA = """-- generated by bench/serve_load.py: a POST body with random existing keys per request
local n_keys = {users}
local per_request = {entities}
local head = '{head}'
local tail = ']}}}}'
local ids = {{}}
local counter = 0
wrk.method = "POST"
wrk.path = "/get-online-features"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  math.randomseed({seed} + 7919 * (tid or 0))
end

function request()
  for i = 1, per_request do
    ids[i] = math.random(1, n_keys)
  end
  return wrk.format(nil, nil, nil, head .. table.concat(ids, ",", 1, per_request) .. tail)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKRESULT {{"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, '
    .. '"mean_us": %.1f, "max_us": %.1f, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_script(path: Path, users: int, entities: int, seed: int) -> Path:
    head = json.dumps({"features": FEATURES, "entities": {"user_id": []}})
    head = head[: head.rindex("[") + 1]  # up to the opening bracket of the key list
    path.write_text(LUA.format(users=users, entities=entities, head=head, seed=seed))
    return path


def wrk(port: int, script: Path, connections: int, duration: str) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/get-online-features",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("WRKRESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(lines[-1].split(" ", 1)[1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


# --- the run ------------------------------------------------------------------------------


def measure(
    name: str,
    port: int,
    workers: int,
    args: argparse.Namespace,
    scripts: dict[int, Path],
) -> list[dict[str, Any]]:
    warm(port, args.users)
    rows = []
    for entities in args.entities:
        for connections in args.connections:
            result = wrk(port, scripts[entities], connections, args.duration)
            result["load_1m"] = os.getloadavg()[0]
            row = {
                "server": name,
                "workers": workers,
                "entities": entities,
                "connections": connections,
                **result,
            }
            print(
                f"  {name:5} workers={workers} entities={entities:3} c={connections:2}: "
                f"{result['rps']:8.0f} req/s  p50 {result['p50_us'] / 1000:7.2f} ms  "
                f"p99 {result['p99_us'] / 1000:7.2f} ms  errors {result['errors']}  "
                f"load {result['load_1m']:.1f}",
                flush=True,
            )
            rows.append(row)
    return rows


def figures(rows: list[dict[str, Any]]) -> str:
    body = [
        [
            r["server"],
            r["workers"],
            r["entities"],
            r["connections"],
            round(r["rps"]),
            r["p50_us"] / 1000,
            r["p99_us"] / 1000,
            r["requests"],
            r["errors"],
            f"{r['load_1m']:.1f}",
        ]
        for r in sorted(rows, key=lambda r: (r["workers"], r["entities"], r["connections"]))
    ]
    header = [
        "server",
        "workers",
        "entities/request",
        "connections",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "requests",
        "errors",
        "load 1 min",
    ]
    return table(body, header)


def ratios(rows: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """fsql/Feast per cell with the targets; and the targets missed."""
    by = {(r["server"], r["workers"], r["entities"], r["connections"]): r for r in rows}
    body = []
    missed = []
    for (server, w, e, c), a in sorted(by.items(), key=lambda kv: kv[0][1:]):
        if server != "fsql":
            continue
        b = by.get(("feast", w, e, c))
        notes = []
        if e == 1 and c == 8:
            ok = a["p99_us"] < 5000
            notes.append(f"p99 < 5 ms: {'met' if ok else 'MISSED'}")
            if not ok:
                missed.append(f"fsql p99 {a['p99_us'] / 1000:.2f} ms >= 5 ms (w{w}, e{e}, c{c})")
        if b is None:
            body.append([w, e, c, "-", "-", "-", "; ".join(notes)])
            continue
        throughput = a["rps"] / b["rps"]
        p99 = a["p99_us"] / b["p99_us"]
        ok = throughput >= 3 and p99 <= 1
        notes.insert(0, f">= 3x at p99 <= Feast's: {'met' if ok else 'MISSED'}")
        if not ok:
            missed.append(f"w{w}, e{e}, c{c}: {throughput:.2f}x throughput, p99 ratio {p99:.2f}")
        body.append(
            [
                w,
                e,
                c,
                f"{throughput:.2f}x",
                f"{p99:.2f}",
                f"{a['p50_us'] / b['p50_us']:.2f}",
                "; ".join(notes),
            ]
        )
    header = [
        "workers",
        "entities/request",
        "connections",
        "fsql/Feast req/s",
        "fsql/Feast p99",
        "fsql/Feast p50",
        "targets",
    ]
    return table(body, header), missed


def parse_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000, help="keys in the dataset")
    parser.add_argument("--duration", default="10s", help="wrk's -d per cell (10s, 1m)")
    parser.add_argument("--workers", type=parse_list, default=[1], help="comma list: 1,2")
    parser.add_argument("--connections", type=parse_list, default=[1, 8, 64])
    parser.add_argument("--entities", type=parse_list, default=[1, 100])
    parser.add_argument("--servers", default="fsql,feast", help="fsql, feast or both")
    parser.add_argument("--keep", action="store_true", help="keep the temp projects")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not set(servers) <= {"fsql", "feast"} or not servers:
        parser.error(f"--servers: fsql and/or feast, not {args.servers}")
    if shutil.which("wrk") is None:
        sys.exit(
            "wrk is not installed: this benchmark needs it as its load generator.\n"
            "Install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) and run again."
        )
    feast = feast_cli() if "feast" in servers else None
    load_start = "/".join(f"{x:.1f}" for x in os.getloadavg())
    if os.getloadavg()[0] > 1.0:
        print(f"note: the machine is busy (load average {load_start}): figures will be low")
    started = time.perf_counter()
    parquet = generate(args.users)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=DATA))
    rows: list[dict[str, Any]] = []
    try:
        print(f"projects in {work.relative_to(REPO)}; building ...", flush=True)
        project = fsql_project(work / "fsql", parquet) if "fsql" in servers else None
        repo = feast_repo(work / "feast", parquet, feast) if feast is not None else None
        scripts = {
            e: lua_script(work / f"post_{e}.lua", args.users, e, SEED) for e in args.entities
        }

        def command(name: str, port: int, workers: int) -> tuple[list[str], Path]:
            if name == "fsql":
                assert project is not None
                return [
                    str(FSQL),
                    "serve",
                    "--project-dir",
                    str(project),
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                    "--log-level",
                    "warning",
                ], project
            assert feast is not None and repo is not None
            return [
                str(feast),
                "-c",
                str(repo),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--no-access-log",
                "--max-requests",
                "0",
            ], repo

        # The same answers from both servers, before anything is measured.
        keys = check_keys(args.users)
        answers = {}
        for name in servers:
            port = free_port()
            cmd, cwd = command(name, port, 1)
            with server(cmd, port, work / f"{name}_check.log", cwd):
                answers[name] = post_many(port, [body(keys)])[0]
        if len(answers) == 2:
            print(f"\nanswers for users {keys} (the last one unknown):", flush=True)
            problems = compare(answers["fsql"], answers["feast"], keys)
            if problems:
                sys.exit("fsql and Feast answer differently:\n" + "\n".join(problems))
            print("both servers answer the same values and statuses\n", flush=True)
        for workers in args.workers:
            for name in servers:
                port = free_port()
                cmd, cwd = command(name, port, workers)
                with server(cmd, port, work / f"{name}_{workers}.log", cwd):
                    rows += measure(name, port, workers, args, scripts)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nfsql serve vs feast serve {FEAST_VERSION}: {args.users:,} users, "
        f"{len(FEATURES)} features, wrk -t1 -d{args.duration} per cell; {os.cpu_count()} CPUs; "
        f"load average 1/5/15 min {load_start} at the start, {load} at the end; "
        f"{time.perf_counter() - started:.0f} s in all\n"
    )
    print(figures(rows))
    if "feast" in servers and "fsql" in servers:
        text, missed = ratios(rows)
        print("\n" + text)
        print("\ntargets: " + ("all met" if not missed else "missed: " + "; ".join(missed)))
    bad = [r for r in rows if r["errors"]]
    if bad:
        print(
            "\ncells with errors (non-2xx, timeouts, socket errors): "
            + ", ".join(
                f"{r['server']} w{r['workers']} e{r['entities']} c{r['connections']}: {r['errors']}"
                for r in bad
            )
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
