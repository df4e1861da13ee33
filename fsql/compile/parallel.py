"""Parsing and compiling a large project's views in several processes, for `fsql compile`.

Rendering, parsing and compiling one view needs nothing of another view, so a compile
with no usable partial-parse cache shares the views among worker processes (spawned, so
no engine connection is shared) and the command's own: each claims the next view from a
shared counter when it is free, so none idles while another still has views. Each worker
reads the project's metadata and profile (which registers the profile's secrets, so a
model still cannot read one through `env_var()`), parses and compiles the views it
claims, and returns each as a partial-parse cache entry (fsql.project.parse_cache). The
parent then loads the project through that cache, which checks everything across views
(refs, the DAG, services) as it always does. A view a worker could not parse (an error,
or a `SELECT *` whose columns come from its parents) is left to the parent, which parses
it and reports its errors itself.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsql.compile.plan import view_plan
from fsql.compile.relations import Relations
from fsql.compile.writer import view_files, write_files
from fsql.config.profiles import load_target
from fsql.config.project_file import load_project_config
from fsql.dialects.base import EngineDialect
from fsql.dialects.targets import location_args, table_location, target_dialect
from fsql.gc_pause import gc_paused
from fsql.project.context import ParseContext
from fsql.project.files import ProjectFiles, discover
from fsql.project.metadata import read_metadata
from fsql.project.parse_cache import Entry, ParseCache, view_to_json
from fsql.project.views import open_renderer, parse_view

# Below this many views the processes cost more than they save (each worker imports
# fsql and reads the metadata again: about a second).
MIN_VIEWS = 300
# Whether the command's own process parses views beside its workers (it would otherwise
# idle while they work); tests turn it off to make the workers do everything.
PARENT_CLAIMS = True

# The index of the next view to claim, shared by the command's process and its workers
# (a worker receives it when it starts: `_receive_counter`).
_counter: Any = None
# Seconds a process waits for the counter's lock before it stops claiming: a worker
# killed while holding it (the lock is held for microseconds a view) would otherwise
# stop every other process for good. What nobody claimed is parsed by the command after.
CLAIM_TIMEOUT = 10.0


@dataclass(frozen=True)
class Job:
    project_dir: str
    target: str | None
    profiles_dir: str | None
    vars: dict[str, Any]
    views: tuple[str, ...]  # every view to compile; each process claims the next in turn
    staging: str  # where its views' compiled files are written (writer.staging_folder)
    # The project's files as the command found (and checked) them: not looked for again.
    files: ProjectFiles | None = None


def workers() -> int:
    """The processes to use: one per core available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def prefill(
    cache: ParseCache,
    project_dir: str | Path,
    target: str | None,
    profiles_dir: str | Path | None,
    vars_: Mapping[str, Any] | None,
    names: Sequence[str],
    processes: int,
    staging: Path,
    files: ProjectFiles | None = None,
) -> None:
    """Parse and compile `names` in `processes` processes into `cache` (as entries the
    parse that follows trusts, `ParseCache.trusted`), their compiled files written into
    `staging` (the writes are much of a cold compile's time). This process is one of
    them. Views are claimed one at a time from a shared counter, so no process idles
    while another still has a share to do: the workers start late (each imports fsql
    and reads the metadata anew) and views differ in cost."""
    global _counter
    job = Job(
        str(project_dir),
        target,
        None if profiles_dir is None else str(profiles_dir),
        dict(vars_ or {}),
        tuple(names),
        str(staging),
        files,
    )
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    made: dict[str, Entry] = {}
    try:
        with ProcessPoolExecutor(
            max_workers=max(1, processes - 1),
            mp_context=context,
            initializer=_receive_counter,
            initargs=(counter,),
        ) as pool:
            running = [pool.submit(worker, job) for _ in range(processes - 1)]
            if PARENT_CLAIMS:
                _counter = counter
                # The metadata as parsed here serves the parse that follows (`cache.yaml`).
                made.update(parse_and_compile(job, cache.yaml))
            for future in running:
                made.update(future.result())
    except Exception:  # a worker could not start or died: the parent parses the rest
        pass
    finally:
        _counter = None
    cache.entries.update(made)
    cache.trusted.update(made)


def worker(job: Job) -> dict[str, Entry]:
    """What each worker process runs (a module-level name, so a test can give the
    workers one that dies)."""
    return parse_and_compile(job)


def _receive_counter(counter: Any) -> None:
    """A worker's start: the shared counter it claims views from."""
    global _counter
    _counter = counter


def claimed(names: Sequence[str]) -> Iterator[str]:
    """The names this process claims, in turn with the others sharing the counter (each
    name goes to exactly one process); all of them when no counter is shared."""
    if _counter is None:
        yield from names
        return
    lock = _counter.get_lock()
    while True:
        if not lock.acquire(timeout=CLAIM_TIMEOUT):
            return  # its holder died (see CLAIM_TIMEOUT)
        try:
            index = _counter.value
            if index >= len(names):
                return
            _counter.value = index + 1
        finally:
            lock.release()
        yield names[index]


@gc_paused()
def parse_and_compile(job: Job, yaml: dict[str, list[Any]] | None = None) -> dict[str, Entry]:
    """A worker: its views as cache entries (without digests: the parent computes them);
    a view that does not parse cleanly is left out. `yaml`: receives the metadata files
    as parsed (the partial-parse cache's form), for the parse in this process after it."""
    config = load_project_config(Path(job.project_dir), job.vars)
    chosen = load_target(config.root, config.profile, job.target, job.profiles_dir)
    dialect = target_dialect(chosen)
    schema, catalog = location_args(table_location(chosen, dialect))
    ctx = ParseContext(config, job.files or discover(config))
    if yaml is not None:
        ctx.yaml_cache = {}  # nothing to take from it; but the files parsed are recorded
    if not read_metadata(ctx):
        return {}
    if yaml is not None:
        yaml.update(ctx.yaml_seen)
    ctx.renderer = open_renderer(ctx)
    if ctx.renderer is None:
        return {}
    relations = Relations(
        dialect,
        ctx.declared.sources,
        schema,
        config.dialect,
        catalog=catalog,
        file_root=config.root,
        consume_models=True,
    )
    models = {path.stem: path for path in ctx.files.sql}
    out: dict[str, Entry] = {}
    for name in claimed(job.views):
        found = ctx.declared.view_docs.get(name)
        if found is None or name not in models or name in ctx.declared.duplicates:
            continue
        entry = _compiled_entry(ctx, name, found, models[name], dialect, relations, job.staging)
        if entry is not None:
            out[name] = entry
        # The view's trees are garbage now. With the collector paused they would stay (a
        # process of a 10,000-view compile grew past 1.5 GB); a collection of the young
        # generations frees them, walking only what was allocated since the last view,
        # never the whole heap again.
        gc.collect(1)
    return out


def _compiled_entry(
    ctx: ParseContext,
    name: str,
    found: tuple[Any, str],
    model: Path,
    dialect: EngineDialect,
    relations: Relations,
    staging: str,
) -> Entry | None:
    """One view parsed, compiled and its files written, as a cache entry; None when it
    does not parse cleanly (the parent parses it again and reports it)."""
    before = len(ctx.errs.errors)
    view = parse_view(ctx, found[0], found[1], model)
    if view is None or len(ctx.errs.errors) > before or view.output_columns is None:
        return None
    try:
        files = view_files(view_plan(view, dialect, relations))
        write_files(Path(staging), files)
    except Exception:  # left to the parent, which reports it in its own words
        return None
    reads = ctx.reads.get(name, {"vars": [], "env": []})
    return Entry(
        "",
        {
            "vars": reads["vars"],
            "env": reads["env"],
            "sources": [f"{s}.{t}" for s, t in view.sources],
            "refs": list(view.refs),
        },
        view_to_json(view),
        files,
    )
