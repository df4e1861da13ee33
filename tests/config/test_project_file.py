"""Tests for `fsql.config.project_file.load_project_config`."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsql.config.project_file import PROJECT_FILE, load_project_config
from fsql.errors import ProjectError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / PROJECT_FILE).write_text(text, encoding="utf-8")
    return tmp_path


def test_defaults(tmp_path: Path) -> None:
    config = load_project_config(write(tmp_path, "name: shop\n"))
    assert config.name == "shop"
    assert config.profile == "shop"  # the profile defaults to the project name
    assert config.root == tmp_path.resolve()
    assert config.model_paths == ("models",)
    assert config.macro_paths == ("macros",)
    assert config.dialect == "duckdb"
    assert config.vars == {}
    assert config.target_path == "target"


def test_explicit_settings(tmp_path: Path) -> None:
    text = (
        "name: shop\nprofile: other\nmodel-paths: [views, more]\nmacro-paths: m\n"
        "dialect: Snowflake\ntarget-path: out\nvars: {a: 1}\n"
    )
    config = load_project_config(write(tmp_path, text))
    assert config.profile == "other"
    assert config.model_paths == ("views", "more")
    assert config.macro_paths == ("m",)
    assert config.dialect == "snowflake"  # dialect names are case-insensitive
    assert config.target_path == "out"
    assert config.vars == {"a": 1}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as info:
        load_project_config(tmp_path)
    assert PROJECT_FILE in info.value.render()
    assert info.value.exit_code == 2


def test_unknown_setting(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="unknown setting 'modle-paths'") as info:
        load_project_config(write(tmp_path, "name: shop\nmodle-paths: [models]\n"))
    assert info.value.render().startswith(PROJECT_FILE)


def test_bad_dialect(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="unknown SQL dialect 'nosuchsql'") as info:
        load_project_config(write(tmp_path, "name: shop\ndialect: nosuchsql\n"))
    assert PROJECT_FILE in info.value.render()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profile: shop\n", "'name' is required"),
        ("- name\n", "must be a mapping"),
        ("name: shop\nvars: [1, 2]\n", "'vars' must be a mapping"),
        ("name: shop\nmodel-paths: {a: 1}\n", "'model-paths' must be a list"),
    ],
)
def test_invalid_values(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        load_project_config(write(tmp_path, text))


def test_cli_vars_override_project_vars(tmp_path: Path) -> None:
    project = write(tmp_path, "name: shop\nvars: {a: 1, b: 2}\n")
    config = load_project_config(project, {"b": 20, "c": 30})
    assert config.vars == {"a": 1, "b": 20, "c": 30}


def test_cli_vars_without_project_vars(tmp_path: Path) -> None:
    config = load_project_config(write(tmp_path, "name: shop\n"), {"x": "y"})
    assert config.vars == {"x": "y"}
