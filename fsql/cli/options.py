"""Options shared by every command, defined once."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
import yaml

from fsql.cli.errors import run_guarded
from fsql.errors import ProjectError

if TYPE_CHECKING:
    from fsql.store import FeatureStore


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


class Progress:
    """Progress lines on stderr, each with the time since the command started."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        click.echo(f"[{time.monotonic() - self.start:7.2f}s] {message}", err=True)


@dataclass(frozen=True)
class StoreOptions:
    """The common options, handed to every command as one object."""

    project_dir: str
    profiles_dir: str | None
    target: str | None
    vars: str | None
    debug: bool

    def open(self) -> FeatureStore:
        from fsql.store import FeatureStore  # heavy imports only when a command runs

        return FeatureStore(
            self.project_dir,
            target=self.target,
            profiles_dir=self.profiles_dir,
            vars=parse_vars(self.vars),
            progress=Progress(),
        )


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the common options; the command receives them as `StoreOptions` first, and
    its errors are rendered by the one CLI error handler."""

    @functools.wraps(func)
    def wrapper(
        project_dir: str,
        profiles_dir: str | None,
        target: str | None,
        vars_: str | None,
        debug: bool,
        **kwargs: Any,
    ) -> Any:
        options = StoreOptions(project_dir, profiles_dir, target, vars_, debug)
        return run_guarded(lambda: func(options, **kwargs), debug)

    for option in reversed(_COMMON):
        wrapper = option(wrapper)
    return wrapper


def selection(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SELECT):
        func = option(func)
    return func
