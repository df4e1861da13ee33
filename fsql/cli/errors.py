"""The one place CLI errors are rendered: one line each, exit 2 or 1, no traceback.

With `--debug` the traceback is printed too, chained exceptions included, but scrubbed
of secrets like every other output, and the exit code stays what it would have been."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from fsql.config.secrets import scrub
from fsql.errors import FsqlError


def _traceback(err: BaseException) -> None:
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    click.echo(scrub(text).rstrip("\n"), err=True)


class _ScrubbedFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def configure_logging(debug: bool) -> None:
    """Drivers' own log records stay out of a command's output: a connector that gives up
    logs its retries and a traceback at ERROR, after which fsql prints its one line.
    With `--debug` they are shown (scrubbed of secrets, like every other output)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "fsql_cli", False):
            root.removeHandler(old)
    handler: logging.Handler
    if debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ScrubbedFormatter("%(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
    else:
        handler = logging.NullHandler()  # also keeps logging's last-resort printer quiet
    setattr(handler, "fsql_cli", True)  # noqa: B010 (a mark of our own on a stdlib object)
    root.addHandler(handler)


def run_guarded(call: Callable[[], Any], debug: bool) -> Any:
    """Run a command; FsqlError -> its one-line message and exit code, others -> exit 1."""
    configure_logging(debug)
    try:
        return call()
    except FsqlError as err:
        if debug:
            _traceback(err)
        for line in err.render().splitlines():
            click.echo(f"error: {scrub(line)}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)  # the reader (e.g. `| head`) is gone: nothing left to report
    except Exception as err:  # an unexpected failure: still one line unless --debug
        if debug:
            _traceback(err)
        text = scrub(str(err)).strip().splitlines()
        detail = text[0] if text else type(err).__name__
        hint = "" if debug else " (re-run with --debug for the traceback)"
        click.echo(f"error: {type(err).__name__}: {detail}{hint}", err=True)
        sys.exit(1)
