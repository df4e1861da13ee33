"""Options shared by every command, defined once."""

from __future__ import annotations

import functools
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from fsql.cli.errors import run_guarded
from fsql.errors import ProjectError

if TYPE_CHECKING:
    from fsql.definitions.models import Project
    from fsql.store import FeatureStore


def parse_vars(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    import yaml  # here: `fsql --help` and `fsql init` parse no YAML

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
    click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr."),
]

_SELECT = [
    click.option("--select", "-s", multiple=True, help="Views: name, tag:x, +view, view+."),
    click.option("--exclude", multiple=True, help="Views to leave out (same grammar)."),
]


# "[3/6] building user_features": a counted step; "  view: 1,200 keys so far": a count.
_STEP = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")
_SO_FAR = re.compile(r"^  \S+: [\d,]+ keys so far$")
_BAR = 24


class Progress:
    """Progress on stderr, with the time since the command started. On a terminal,
    counted steps (`[3/6] building ...`) draw one bar redrawn in place and running
    counts replace each other; elsewhere (CI logs, pipes) every message is its own
    line. `quiet` prints nothing."""

    def __init__(self, quiet: bool = False, live: bool | None = None) -> None:
        self.start = time.monotonic()
        self.quiet = quiet
        self.live = sys.stderr.isatty() if live is None else live
        self._open = False  # a line drawn in place is on screen, without its newline

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        stamp = f"[{time.monotonic() - self.start:7.2f}s]"
        step = _STEP.match(message) if self.live else None
        if step is not None:
            done, total = int(step.group(1)), max(int(step.group(2)), 1)
            filled = _BAR * min(done, total) // total
            bar = "#" * filled + "." * (_BAR - filled)
            self._draw(f"{stamp} [{bar}] {done}/{total} {step.group(3)}", done >= total)
            return
        if self.live and _SO_FAR.match(message):
            self._draw(f"{stamp} {message.strip()}", False)
            return
        self._end_line()
        click.echo(f"{stamp} {message}", err=True)

    def _draw(self, line: str, last: bool) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        click.echo(f"\r{line[:width]}\x1b[K", err=True, nl=last)
        self._open = not last

    def _end_line(self) -> None:
        if self._open:
            click.echo("", err=True)
            self._open = False


@dataclass(frozen=True)
class StoreOptions:
    """The common options, handed to every command as one object."""

    project_dir: str
    profiles_dir: str | None
    target: str | None
    vars: str | None
    debug: bool
    quiet: bool = False

    def progress(self) -> Progress:
        return Progress(quiet=self.quiet)

    def snapshot_keeper(self) -> Callable[[Project], None]:
        """Taken before a command parses the project; called with that project once the
        command has succeeded, it leaves the snapshot `get-online` reads
        (fsql.project.snapshot), unless one is current or an input changed meanwhile."""
        from pathlib import Path

        from fsql.config.project_file import load_project_config
        from fsql.project.snapshot import Inputs, open_snapshot, save_snapshot

        inputs = Inputs(self.project_dir, self.target, self.profiles_dir, parse_vars(self.vars))
        try:
            config = load_project_config(Path(self.project_dir), dict(inputs.vars))
            snapshot = open_snapshot(inputs, config.root / config.target_path, load=False)
        except ProjectError:  # the command itself reports it
            return lambda project: None
        if snapshot.current:
            return lambda project: None
        return lambda project: save_snapshot(snapshot, inputs, project)

    def open(self, for_reads: bool = False) -> FeatureStore:
        """The store; `for_reads`: one that reads online values only (`get-online`), whose
        project may come from its snapshot in target/ (fsql.project.snapshot)."""
        from fsql.store import FeatureStore  # heavy imports only when a command runs

        return FeatureStore(
            self.project_dir,
            target=self.target,
            profiles_dir=self.profiles_dir,
            vars=parse_vars(self.vars),
            progress=self.progress(),
            for_reads=for_reads,
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
        quiet: bool,
        **kwargs: Any,
    ) -> Any:
        options = StoreOptions(project_dir, profiles_dir, target, vars_, debug, quiet)
        return run_guarded(lambda: func(options, **kwargs), debug)

    for option in reversed(_COMMON):
        wrapper = option(wrapper)
    return wrapper


def selection(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SELECT):
        func = option(func)
    return func
