"""Writing compiled SQL and manifest.json into target/, replaced as a whole.

Everything is written to a fresh folder beside the old output first; only when all
of it is written does it replace `target/compiled` and `target/manifest.json`, so
a failed compile leaves the previous output exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Set
from contextlib import contextmanager
from pathlib import Path

import orjson

from fsql.compile.manifest import build_manifest
from fsql.compile.plan import CompiledProject, ViewPlan
from fsql.config.secrets import scrub


def view_files(plan: ViewPlan) -> dict[str, str]:
    """Relative path -> SQL text of one view's compiled statements."""
    base = f"{plan.dialect.name}/{plan.view.name}"
    files = {f"{base}/model.sql": plan.view.rendered_sql}
    files[f"{base}/table.sql"] = plan.sql("create") + ";\n"
    if plan.merge is not None:  # what an incremental build runs instead of table.sql
        files[f"{base}/table_incremental.sql"] = plan.sql("merge") + ";\n"
    files[f"{base}/materialize_full.sql"] = plan.sql("latest_full") + ";\n"
    incremental = "latest_since" if plan.latest_since is not None else "latest_range"
    files[f"{base}/materialize_incremental.sql"] = plan.sql(incremental) + ";\n"
    return {rel: scrub(text) for rel, text in files.items()}


def compiled_files(compiled: CompiledProject) -> dict[str, str]:
    """Relative path -> SQL text for every view of the project."""
    files: dict[str, str] = {}
    for plan in compiled.plans.values():
        files.update(view_files(plan))
    return files


def staging_folder(target: Path) -> Path:
    """A new folder in `target` that a compile's output is written to before it replaces
    the old output (`write_target`); its `compiled` folder is made."""
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fsql-compile-", dir=target))
    (staging / "compiled").mkdir()  # a project without views compiles to nothing
    return staging


def write_files(staging: Path, files: Mapping[str, str]) -> None:
    """Compiled files (relative path -> text) into a staging folder's `compiled`."""
    made: set[Path] = set()
    for rel, text in files.items():
        path = staging / "compiled" / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text(scrub(text), encoding="utf-8")


def write_target(
    compiled: CompiledProject,
    target_name: str,
    files: Mapping[str, str] | None = None,
    staging: Path | None = None,
    written: Set[str] = frozenset(),
) -> Path:
    """Write target/compiled (`files`, by default every view's) and target/manifest.json;
    returns the target folder. `staging`: a folder from `staging_folder` where the files
    in `written` are already (compile workers wrote them)."""
    target = compiled.project.target_path
    staging = staging or staging_folder(target)
    try:
        todo = compiled_files(compiled) if files is None else files
        write_files(staging, {r: t for r, t in todo.items() if r not in written})
        (staging / "manifest.json").write_text(
            _manifest_text(compiled, target_name), encoding="utf-8"
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


def _manifest_text(compiled: CompiledProject, target_name: str) -> str:
    """manifest.json's text: indented JSON with non-ASCII text as it is (orjson, twenty
    times faster than the json module on the manifest of a large project)."""
    manifest = build_manifest(compiled.project, target_name, compiled.dialect.name)
    return scrub(orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode()) + "\n"


def update_target(
    compiled: CompiledProject,
    target_name: str,
    changed: Mapping[str, Mapping[str, str]],
) -> Path:
    """Write the compiled files of the `changed` views (view -> relative path -> text) and
    manifest.json into a target/compiled whose other views are current (the partial-parse
    cache says so). Each view's folder is swapped in whole, under the same lock as
    `write_target`; folders of views the project no longer has are removed."""
    target = compiled.project.target_path
    dialect_dir = target / "compiled" / compiled.dialect.name
    staging = Path(tempfile.mkdtemp(prefix=".fsql-compile-", dir=target))
    trash = Path(tempfile.mkdtemp(prefix=".fsql-old-", dir=target))
    try:
        for files in changed.values():
            for rel, text in files.items():
                path = staging / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(scrub(text), encoding="utf-8")
        (staging / "manifest.json").write_text(
            _manifest_text(compiled, target_name), encoding="utf-8"
        )
        with _swap_lock(target):
            gone = [p for p in dialect_dir.iterdir() if p.name not in compiled.project.views]
            for n, old in enumerate(gone):
                old.rename(trash / f"gone{n}")
            for n, view in enumerate(changed):
                old = dialect_dir / view
                if old.exists():
                    old.rename(trash / f"old{n}")
                (staging / compiled.dialect.name / view).rename(old)
            os.replace(staging / "manifest.json", target / "manifest.json")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
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
