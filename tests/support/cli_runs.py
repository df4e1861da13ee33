"""Running the CLI in-process as a user sees it, and comparing what two engines answer."""

from __future__ import annotations

import math
import traceback
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from fsql.cli.main import cli

ENTITY = ["--entity", "user_id=7", "--entity", "item_id=1003"]


def fsql(project: Path, *args: str) -> tuple[int, str]:
    """Exit code and everything the user sees: output, and with --debug the traceback."""
    result = CliRunner().invoke(cli, [*args, "--project-dir", str(project)])
    shown = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        shown += "".join(traceback.format_exception(result.exception))
    return result.exit_code, shown


def same_value(a: Any, b: Any) -> bool:
    """Equal, or for floats equal to 1e-9: engines sum in different orders."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b
