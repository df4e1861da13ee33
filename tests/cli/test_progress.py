"""Progress on stderr: a bar redrawn in place on a terminal, plain lines elsewhere,
nothing with --quiet."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fsql.cli.main import cli
from fsql.cli.options import Progress


def test_a_terminal_gets_one_bar_redrawn_in_place(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(live=True)
    progress("[1/4] building a")
    progress("[2/4] building b")
    progress("  a: 1,000 keys so far")
    progress("[4/4] building d")
    progress("materializing a")
    err = capsys.readouterr().err
    assert "\r" in err and "[######..................] 1/4 building a" in err
    assert "[############............] 2/4 building b" in err
    # A running count is drawn in place too (click drops the erase-line code off a tty).
    assert "s] a: 1,000 keys so far\r" in err
    # The finished bar ends its line, so the next message starts a line of its own.
    lines = err.split("\n")
    assert "4/4 building d" in lines[0] and lines[1].endswith("materializing a")
    assert lines[0].count("\r") == 4


def test_elsewhere_each_message_is_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(live=False)
    progress("[1/2] building a")
    progress("[2/2] building b")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "\r" not in "".join(lines)
    assert lines[0].endswith("s] [1/2] building a")


def test_quiet_prints_no_progress(
    capsys: pytest.CaptureFixture[str], example_project: Path
) -> None:
    Progress(quiet=True)("[1/2] building a")
    assert capsys.readouterr().err == ""
    result = CliRunner().invoke(cli, ["run", "--project-dir", str(example_project), "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert "built 6 views" in result.stdout
    loud = CliRunner().invoke(cli, ["run", "--project-dir", str(example_project)])
    assert "building" in loud.stderr
