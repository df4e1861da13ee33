"""Parsing and compiling a large project's views in several processes, for `fsql compile`.

Rendering, parsing and compiling one view needs nothing of another view, so a compile
with no usable partial-parse cache splits the views among worker processes (spawned, so
no engine connection is shared). Each worker reads the project's metadata and profile
(which registers the profile's secrets, so a model still cannot read one through
`env_var()`), parses and compiles its views, and returns each as a partial-parse cache
entry (fsql.project.parse_cache). The parent then loads the project through that cache,
which checks everything across views (refs, the DAG, services) as it always does. A view
a worker could not parse (an error, or a `SELECT *` whose columns come from its parents)
is left to the parent, which parses it and reports its errors itself.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Mapping, Sequence
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
# What a worker's start costs (spawning, importing fsql, reading the metadata), in views
# parsed and compiled meanwhile: this process takes as many more than an even share per
# worker (measured on 1,000 views: with even shares it idled 1.4 s of a 6.5 s compile).
START_VIEWS = 100


@dataclass(frozen=True)
class Job:
    project_dir: str
    target: str | None
    profiles_dir: str | None
    vars: dict[str, Any]
    views: tuple[str, ...]
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
    them: it takes the first share while the workers start (each imports fsql anew)."""
    chunks = shares(names, processes)
    jobs = [
        Job(
            str(project_dir),
            target,
            None if profiles_dir is None else str(profiles_dir),
            dict(vars_ or {}),
            chunk,
            str(staging),
            files,
        )
        for chunk in chunks
        if chunk
    ]
    context = multiprocessing.get_context("spawn")
    made: dict[str, Entry] = {}
    try:
        with ProcessPoolExecutor(max_workers=max(1, len(jobs) - 1), mp_context=context) as pool:
            running = [pool.submit(parse_and_compile, job) for job in jobs[1:]]
            # The metadata as parsed here serves the parse that follows (`cache.yaml`).
            made.update(parse_and_compile(jobs[0], cache.yaml))
            for future in running:
                made.update(future.result())
    except Exception:  # a worker could not start or died: the parent parses the rest
        pass
    cache.entries.update(made)
    cache.trusted.update(made)


def shares(names: Sequence[str], processes: int) -> list[tuple[str, ...]]:
    """`names` split among `processes`: this process's share first, `START_VIEWS` more
    than an even share per worker, the rest evenly. Each share is taken at even
    intervals of the names (files sort by kind), so each gets a mix of the project."""
    if processes <= 1 or not names:
        return [tuple(names)]
    own = min(len(names), (len(names) + START_VIEWS * (processes - 1)) // processes)
    step = len(names) / max(own, 1)
    taken = {int(i * step) for i in range(own)}
    rest = [n for i, n in enumerate(names) if i not in taken]
    mine = tuple(n for i, n in enumerate(names) if i in taken)
    return [mine, *(tuple(rest[i :: processes - 1]) for i in range(processes - 1))]


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
    for name in job.views:
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
