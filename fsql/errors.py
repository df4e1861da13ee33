"""The error types fsql raises on purpose, and how each one renders as a single line.

A `ProjectError` means the project or the command line is wrong (exit code 2); a
`RunError` means a run or check failed against a database or store (exit code 1).
Both carry the file, line and column they are about plus a hint saying what to do,
so the CLI can print one line without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where an error points: a file, and optionally a 1-based line and column."""

    file: str | None = None
    line: int | None = None
    column: int | None = None

    def render(self) -> str:
        if not self.file:
            return ""
        out = self.file
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out


class FsqlError(Exception):
    """Base of every error fsql raises deliberately."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.location = Location(str(file) if file is not None else None, line, column)
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """One line: `file:line:col: message (hint)`."""
        where = self.location.render()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split("\n"))


class ProjectError(FsqlError):
    """The project files or the command line are wrong: fix the input and re-run."""

    exit_code = 2


class RunError(FsqlError):
    """A run or a check failed: an engine or store error, a stale view, a failed test."""

    exit_code = 1


class ProjectErrors(ProjectError):
    """Several project errors found in one pass; rendered one per line."""

    def __init__(self, errors: Iterable[ProjectError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(e.render() for e in self.errors))

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)


def raise_collected(errors: list[ProjectError]) -> None:
    """Raise the collected errors, if any: one as itself, several together."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProjectErrors(errors)
