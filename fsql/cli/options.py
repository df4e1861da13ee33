"""Options shared by every command, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import yaml

from fsql.errors import ProjectError


def parse_vars(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ProjectError(
            f"--vars is not valid YAML: {err}", hint="e.g. --vars '{days: 7}'"
        ) from None
    if not isinstance(value, dict):
        raise ProjectError("--vars must be a YAML mapping", hint="e.g. --vars '{days: 7}'")
    return value


def split_list(values: tuple[str, ...]) -> list[str]:
    """Accept `--features a,b --features c` and `--select 'a b'` alike."""
    out: list[str] = []
    for value in values:
        out += [part for part in value.replace(",", " ").split() if part]
    return out


_COMMON = [
    click.option(
        "--project-dir",
        default=".",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Folder holding fsql_project.yml.",
    ),
    click.option(
        "--profiles-dir",
        default=None,
        type=click.Path(file_okay=False),
        help="Folder holding profiles.yml (default: $FSQL_PROFILES_DIR, the project dir, ~/.fsql).",
    ),
    click.option("--target", default=None, help="Profile target (default: the profile's)."),
    click.option("--vars", "vars_", default=None, help="YAML mapping overriding project vars."),
    click.option("--debug", is_flag=True, help="Show tracebacks on errors."),
]

_SELECT = [
    click.option("--select", "-s", multiple=True, help="Views: name, tag:x, +view, view+."),
    click.option("--exclude", multiple=True, help="Views to leave out (same grammar)."),
]


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_COMMON):
        func = option(func)
    return func


def selection(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SELECT):
        func = option(func)
    return func
