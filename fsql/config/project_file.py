"""`fsql_project.yml`: the project's name, profile, paths, dialect and vars."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from fsql.config.yaml_lines import line_of, load_yaml_file
from fsql.errors import ProjectError

PROJECT_FILE = "fsql_project.yml"
_KNOWN_KEYS = {
    "name",
    "profile",
    "model-paths",
    "macro-paths",
    "vars",
    "dialect",
    "target-path",
    "version",
    "config-version",
}


@dataclass(frozen=True)
class ProjectConfig:
    name: str
    profile: str
    root: Path
    model_paths: tuple[str, ...] = ("models",)
    macro_paths: tuple[str, ...] = ("macros",)
    dialect: str = "duckdb"
    vars: dict[str, Any] = field(default_factory=dict)
    target_path: str = "target"


def _str_list(value: Any, key: str, line: int | None, required: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if required and not value:
            raise ProjectError(
                f"'{key}' lists no folder",
                file=PROJECT_FILE,
                line=line,
                hint=f"e.g. {key}: [models]",
            )
        for folder in value:
            _check_folder(folder, key, line)
        return tuple(value)
    raise ProjectError(
        f"'{key}' must be a list of folder names",
        file=PROJECT_FILE,
        line=line,
        hint=f"e.g. {key}: [models]",
    )


def _check_folder(folder: str, key: str, line: int | None) -> None:
    """A folder setting names a folder inside the project, relative to it.

    fsql reads every file under model and macro paths and replaces what it writes
    under the target path: a project (perhaps from a pull request) must not point
    either at `/`, at a home folder or at a sibling checkout.
    """
    parts = PurePosixPath(folder.replace("\\", "/")).parts
    if (
        not folder.strip()
        or any(ord(c) < 32 for c in folder)
        or PurePosixPath(folder).is_absolute()
        or PureWindowsPath(folder).drive
        or ".." in parts
        or any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in parts)
    ):
        raise ProjectError(
            f"'{key}': {folder!r} is not a folder inside the project",
            file=PROJECT_FILE,
            line=line,
            hint="give a path relative to the project folder, without ..",
        )


def load_project_config(
    project_dir: Path, cli_vars: dict[str, Any] | None = None, check_dialect: bool = True
) -> ProjectConfig:
    """Read fsql_project.yml; `--vars` from the command line override its `vars`.

    `check_dialect=False`: the dialect's name is taken as it is, not looked up in
    sqlglot (which importing costs a tenth of a second): for a caller that only reads
    what a parse of the same file checked (the project snapshot of online reads, the
    digest of the compile stamp)."""
    root = project_dir.resolve()
    path = root / PROJECT_FILE
    if not path.is_file():
        raise ProjectError(
            f"no {PROJECT_FILE} in {root}",
            file=str(path),
            hint="run fsql from the project folder or pass --project-dir",
        )
    data = load_yaml_file(path, PROJECT_FILE)
    if not isinstance(data, dict):
        raise ProjectError("must be a mapping of settings", file=PROJECT_FILE, line=1)
    for key in data:
        if key not in _KNOWN_KEYS:
            raise ProjectError(
                f"unknown setting '{key}'",
                file=PROJECT_FILE,
                line=line_of(data),
                hint="known settings: " + ", ".join(sorted(_KNOWN_KEYS)),
            )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ProjectError("'name' is required", file=PROJECT_FILE, line=line_of(data))
    profile = data.get("profile", name)
    if not isinstance(profile, str):
        raise ProjectError("'profile' must be a name", file=PROJECT_FILE, line=line_of(data))
    dialect = str(data.get("dialect", "duckdb")).strip().lower()
    try:
        # A plain name only: sqlglot also reads settings after a comma, which would make
        # the project's dialect a string that no longer compares equal to its name.
        if not re.fullmatch(r"[a-z][a-z0-9_]*", dialect):
            raise ValueError(dialect)
        if check_dialect:
            import sqlglot

            sqlglot.Dialect.get_or_raise(dialect)
    except ValueError:
        raise ProjectError(
            f"unknown SQL dialect '{dialect}'",
            file=PROJECT_FILE,
            line=line_of(data),
            hint="use a sqlglot dialect name such as duckdb, snowflake or bigquery",
        ) from None
    vars_ = data.get("vars") or {}
    if not isinstance(vars_, dict):
        raise ProjectError("'vars' must be a mapping", file=PROJECT_FILE, line=line_of(data))
    merged = {**vars_, **(cli_vars or {})}
    return ProjectConfig(
        name=name,
        profile=profile,
        root=root,
        model_paths=_str_list(
            data.get("model-paths", ["models"]), "model-paths", line_of(data), required=True
        ),
        macro_paths=_str_list(data.get("macro-paths", ["macros"]), "macro-paths", line_of(data)),
        dialect=dialect,
        vars=dict(merged),
        target_path=_target_path(data.get("target-path", "target"), line_of(data)),
    )


def _target_path(value: Any, line: int | None) -> str:
    """The build output folder: inside the project, and not the project folder itself,
    since compiling replaces `compiled/` and `manifest.json` there wholesale."""
    if not isinstance(value, str):
        raise ProjectError(
            "'target-path' must be a folder name", file=PROJECT_FILE, line=line, hint="e.g. target"
        )
    _check_folder(value, "target-path", line)
    if PurePosixPath(value.replace("\\", "/")).parts in ((), (".",)):
        raise ProjectError(
            "'target-path' cannot be the project folder itself",
            file=PROJECT_FILE,
            line=line,
            hint="e.g. target-path: target",
        )
    return value
