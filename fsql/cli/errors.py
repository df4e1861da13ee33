"""The one place CLI errors are rendered: one line each, exit 2 or 1, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from fsql.config.secrets import scrub
from fsql.errors import FsqlError


def run_guarded(call: Callable[[], Any], debug: bool) -> Any:
    """Run a command; FsqlError -> its one-line message and exit code, others -> exit 1."""
    try:
        return call()
    except FsqlError as err:
        if debug:
            raise
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
            raise
        text = scrub(str(err)).strip().splitlines()
        detail = text[0] if text else type(err).__name__
        click.echo(
            f"error: {type(err).__name__}: {detail} (re-run with --debug for the traceback)",
            err=True,
        )
        sys.exit(1)
