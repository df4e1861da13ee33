"""Writing compiled SQL and manifest.json into target/, replaced as a whole.

Everything is written to a fresh folder beside the old output first; only when all
of it is written does it replace `target/compiled` and `target/manifest.json`, so
a failed compile leaves the previous output exactly as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fsql.compile.manifest import build_manifest
from fsql.compile.plan import CompiledProject
from fsql.config.secrets import scrub


def compiled_files(compiled: CompiledProject) -> dict[str, str]:
    """Relative path -> SQL text for every view of the project."""
    dialect = compiled.dialect.name
    files: dict[str, str] = {}
    for name, plan in compiled.plans.items():
        base = f"{dialect}/{name}"
        files[f"{base}/model.sql"] = plan.view.rendered_sql
        files[f"{base}/table.sql"] = plan.sql("create") + ";\n"
        if plan.merge is not None:  # what an incremental build runs instead of table.sql
            files[f"{base}/table_incremental.sql"] = plan.sql("merge") + ";\n"
        files[f"{base}/materialize_full.sql"] = plan.sql("latest_full") + ";\n"
        incremental = "latest_since" if plan.latest_since is not None else "latest_range"
        files[f"{base}/materialize_incremental.sql"] = plan.sql(incremental) + ";\n"
    return files


def write_target(compiled: CompiledProject, target_name: str) -> Path:
    """Write target/compiled and target/manifest.json; returns the target folder."""
    target = compiled.project.target_path
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fsql-compile-", dir=target))
    try:
        (staging / "compiled").mkdir()  # a project without views compiles to nothing
        for rel, text in compiled_files(compiled).items():
            path = staging / "compiled" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(scrub(text), encoding="utf-8")
        manifest = build_manifest(compiled.project, target_name, compiled.dialect.name)
        (staging / "manifest.json").write_text(
            scrub(json.dumps(manifest, indent=2, sort_keys=False)) + "\n", encoding="utf-8"
        )
        old = target / "compiled"
        trash = Path(tempfile.mkdtemp(prefix=".fsql-old-", dir=target))
        # Several compiles may share a target (CI jobs, an editor and a terminal): the
        # swap of the two renames is made under a lock, so each replaces the output whole.
        with _swap_lock(target):
            if old.exists():
                old.rename(trash / "compiled")
            (staging / "compiled").rename(old)
            os.replace(staging / "manifest.json", target / "manifest.json")
        shutil.rmtree(trash, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@contextmanager
def _swap_lock(target: Path) -> Iterator[None]:
    """An exclusive lock on `target/.fsql-compile.lock` (POSIX advisory lock; where the
    platform has none, compiles are not serialized)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(target / ".fsql-compile.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
