"""`fsql compile` as one function: parse (through the partial-parse cache), compile and
write target/, for a profile target, with no connection opened."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsql.compile.plan import compile_project
from fsql.config.profiles import load_target
from fsql.config.project_file import load_project_config
from fsql.dialects.targets import location_args, table_location, target_dialect
from fsql.gc_pause import gc_paused
from fsql.project.load import load_project

if TYPE_CHECKING:
    from fsql.project.unchanged import Stamp


@dataclass(frozen=True)
class Compiled:
    """What `compile_to_target` did: where it wrote, and how many views it compiled
    anew (the others came from the partial-parse cache)."""

    target: Path
    views: int
    compiled: tuple[str, ...]  # the views compiled anew
    dialect: str


@gc_paused()
def compile_to_target(
    project_dir: str | Path = ".",
    target: str | None = None,
    profiles_dir: str | Path | None = None,
    vars: Mapping[str, Any] | None = None,
    inputs: Stamp | None = None,
    processes: int = 1,
) -> Compiled:
    """`fsql compile`: parse, validate and compile into target/, reusing from the
    partial-parse cache (target/partial_parse.json) every view whose inputs did not
    change (fsql.project.parse_cache). Opens no connection. `inputs`: the digest of the
    inputs taken when the command started (`fsql.project.unchanged`). Without a usable
    cache, a large project is parsed in `processes` processes (fsql.compile.parallel;
    the CLI asks for one per core: worker processes re-import the caller's main module,
    which a script or notebook may not allow)."""
    from fsql.compile.parallel import MIN_VIEWS, prefill
    from fsql.compile.writer import staging_folder, update_target, view_files, write_target
    from fsql.project.files import discover
    from fsql.project.parse_cache import ParseCache
    from fsql.project.unchanged import outputs_intact, write_stamp

    config = load_project_config(Path(project_dir), dict(vars or {}))
    chosen = load_target(config.root, config.profile, target, profiles_dir)
    dialect = target_dialect(chosen)
    location = table_location(chosen, dialect)
    context = {
        "engine": chosen.offline_type,
        "dialect": dialect.name,
        "pit_strategy": dialect.pit_strategy,
        "location": location,
        "model_dialect": config.dialect,
        "root": str(config.root),  # file sources compile to absolute paths
    }
    cache = ParseCache.open(config.root / config.target_path, context)
    found = inputs.files if inputs is not None and inputs.files else discover(config)
    models = sorted(path.stem for path in found.sql)
    staging = None
    if not cache.entries and len(models) >= MIN_VIEWS and processes > 1:
        staging = staging_folder(config.root / config.target_path)
        prefill(cache, project_dir, target, profiles_dir, vars, models, processes, staging, found)
    try:
        project = load_project(project_dir, dict(vars or {}), cache=cache, files=found)
        compiled = compile_project(
            project, dialect, *location_args(location), file_root=project.root, consume_models=True
        )
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    target_path = project.target_path
    files: dict[str, str] = {}
    changed: dict[str, dict[str, str]] = {}
    written: set[str] = set()  # files the workers wrote into `staging`
    for name in project.views:
        entry = cache.fresh.get(name)
        if entry is not None and entry.files and name in cache.trusted:
            files.update(entry.files)  # compiled anew, by a worker
            changed[name] = entry.files
            written.update(entry.files)
            continue
        if entry is not None and entry.files:
            files.update(entry.files)
            continue
        made = changed[name] = view_files(compiled.plans[name])
        files.update(made)
        if entry is not None:
            entry.files = made
    # Only the changed views' folders are rewritten when the rest of target/compiled is
    # as the last compile left it; otherwise everything, replaced whole.
    dialect_dir = target_path / "compiled" / dialect.name
    intact = cache.entries and dialect_dir.is_dir() and outputs_intact(target_path)
    if staging is None and intact:
        out = update_target(compiled, chosen.name, changed)
    else:
        out = write_target(compiled, chosen.name, files, staging, written)
    cache.save()
    env = sorted({n for e in cache.fresh.values() for n in e.reads.get("env", [])})
    write_stamp(project_dir, target, profiles_dir, vars, env, len(project.views), inputs)
    return Compiled(out, len(project.views), tuple(changed), dialect.name)
