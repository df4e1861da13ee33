"""The first question of `fsql compile`: has anything it reads changed since the last
compile wrote target/? Answered from file bytes alone, before any model is rendered or
any engine module imported, so that a compile with nothing to do takes a fraction of a
second (the partial-parse cache, fsql.project.parse_cache, serves the other cases).

What is hashed: fsql's version; every file of the project fsql reads (fsql_project.yml,
models and their YAML, macros) and the profiles file, with their paths; the target and
profiles folder asked for; the vars given on the command line; and the environment
variables the models read (recorded by the last compile) or the profiles file names. The
outputs must also be as the last compile left them (size and modification time of
target/manifest.json and target/compiled).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsql.config.profiles import find_profiles
from fsql.config.project_file import PROJECT_FILE, load_project_config
from fsql.project.files import ProjectFiles, discover
from fsql.version import __version__

STAMP_FILE = "partial_parse.stamp.json"
_PROFILE_ENV = re.compile(r"env_var\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]")


def _outputs(target: Path) -> list[Any]:
    """Size and modification time of manifest.json, and of target/compiled, each folder
    in it and each view's folder: what a compile wrote and nobody may touch since."""
    out: list[Any] = []
    try:
        stat = (target / "manifest.json").stat()
        out.append([stat.st_size, stat.st_mtime_ns])
        for folder in (target / "compiled", *sorted((target / "compiled").iterdir())):
            out.append([folder.name, folder.stat().st_mtime_ns])
            if folder.is_dir() and folder.parent.name == "compiled":
                with os.scandir(folder) as entries:
                    out.extend(sorted([e.name, e.stat().st_mtime_ns] for e in entries))
    except OSError:
        return []
    return out


def inputs_digest(
    project_dir: str | Path,
    target: str | None,
    profiles_dir: str | Path | None,
    vars_: Mapping[str, Any] | None,
    env_names: Sequence[str],
    files: ProjectFiles | None = None,
) -> tuple[str, Path, ProjectFiles]:
    """The digest of everything a compile reads, the project's target folder and its
    files (`files`: as found already)."""
    config = load_project_config(Path(project_dir), dict(vars_ or {}), check_dialect=False)
    files = files or discover(config)
    digest = hashlib.sha256(__version__.encode())
    profiles = find_profiles(config.root, profiles_dir)
    paths = [config.root / PROJECT_FILE, profiles, *files.sql, *files.yml, *files.macros]
    for path in sorted(set(paths)):
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\1missing")
    try:
        profile_text = profiles.read_text(encoding="utf-8", errors="replace")
    except OSError:
        profile_text = ""
    names = sorted({*env_names, *_PROFILE_ENV.findall(profile_text)})
    env = {name: os.environ.get(name) for name in names}
    settings = [target, str(profiles_dir or ""), dict(vars_ or {}), env]
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest(), config.root / config.target_path, files


def unchanged(
    project_dir: str | Path,
    target: str | None,
    profiles_dir: str | Path | None,
    vars_: Mapping[str, Any] | None,
) -> tuple[int | None, Stamp | None]:
    """The number of views compiled last time when nothing has changed since (inputs and
    outputs alike), else None; and the inputs as they are now (None when unreadable),
    which the compile that follows records (`write_stamp`) rather than reading them
    all again."""
    try:
        config = load_project_config(Path(project_dir), dict(vars_ or {}), check_dialect=False)
        target_path = config.root / config.target_path
        try:
            stamp = json.loads((target_path / STAMP_FILE).read_text())
        except (OSError, ValueError):
            stamp = {}
        env = list(stamp.get("env", [])) if isinstance(stamp, dict) else []
        digest, _, files = inputs_digest(project_dir, target, profiles_dir, vars_, env)
    except Exception:  # an unreadable project: the compile itself will say what is wrong
        return None, None
    now = Stamp(digest, tuple(env), files)
    if not isinstance(stamp, dict) or stamp.get("inputs") != digest:
        return None, now
    if stamp.get("outputs") != _outputs(target_path):
        return None, now
    views = stamp.get("views")
    return (views if isinstance(views, int) else None), now


@dataclass(frozen=True)
class Stamp:
    """The digest of a compile's inputs, and the environment variables it covers."""

    digest: str
    env: tuple[str, ...]
    files: ProjectFiles | None = None  # the project's files, as found when taken


def outputs_intact(target_path: Path) -> bool:
    """target/manifest.json and target/compiled are as the last compile left them."""
    try:
        stamp = json.loads((target_path / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return False
    outputs = _outputs(target_path)
    return bool(outputs) and isinstance(stamp, dict) and stamp.get("outputs") == outputs


def write_stamp(
    project_dir: str | Path,
    target: str | None,
    profiles_dir: str | Path | None,
    vars_: Mapping[str, Any] | None,
    env_names: Sequence[str],
    views: int,
    before: Stamp | None = None,
) -> None:
    """Record what this compile read and wrote, for `unchanged` next time. `before`: the
    inputs as they were when the compile started (taken again when the models read
    other environment variables than it covers)."""
    env = tuple(sorted(set(env_names)))
    if before is not None and before.env == env:
        digest = before.digest
        target_path = _target_path(project_dir, vars_)
    else:
        files = before.files if before is not None else None
        digest, target_path, _ = inputs_digest(project_dir, target, profiles_dir, vars_, env, files)
    stamp = {"inputs": digest, "outputs": _outputs(target_path), "env": list(env), "views": views}
    tmp = target_path / f".{STAMP_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(stamp), encoding="utf-8")
    os.replace(tmp, target_path / STAMP_FILE)


def _target_path(project_dir: str | Path, vars_: Mapping[str, Any] | None) -> Path:
    config = load_project_config(Path(project_dir), dict(vars_ or {}), check_dialect=False)
    return config.root / config.target_path
