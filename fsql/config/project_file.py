"""`fsql_project.yml`: the project's name, profile, paths, dialect and vars."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot

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


def _str_list(value: Any, key: str, line: int | None) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ProjectError(
        f"'{key}' must be a list of folder names",
        file=PROJECT_FILE,
        line=line,
        hint=f"e.g. {key}: [models]",
    )


def load_project_config(project_dir: Path, cli_vars: dict[str, Any] | None = None) -> ProjectConfig:
    """Read fsql_project.yml; `--vars` from the command line override its `vars`."""
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
    dialect = str(data.get("dialect", "duckdb")).lower()
    try:
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
        model_paths=_str_list(data.get("model-paths", ["models"]), "model-paths", line_of(data)),
        macro_paths=_str_list(data.get("macro-paths", ["macros"]), "macro-paths", line_of(data)),
        dialect=dialect,
        vars=dict(merged),
        target_path=str(data.get("target-path", "target")),
    )
