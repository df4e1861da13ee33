"""Syntax errors point at the template line the user wrote, not the rendered copy."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fsql.cli.main import cli
from fsql.project.lines import template_line

TEMPLATE = """{%- set days = 30 %}
-- a comment
select
    user_id,
    {{ my_macro('x') }} as y,
    from where
"""


def test_verbatim_line_maps_to_its_template_line() -> None:
    rendered = "-- a comment\nselect\n    user_id,\n    (1\n+ 2) as y,\n    from where\n"
    assert template_line(TEMPLATE, rendered, 6) == (6, True)
    assert template_line(TEMPLATE, rendered, 2) == (3, True)


def test_generated_line_is_reported_as_rendered() -> None:
    rendered = "-- a comment\nselect\n    user_id,\n    (1\n+\n2) as y,\n    from where\n"
    assert template_line(TEMPLATE, rendered, 5) == (5, False)
    assert template_line(TEMPLATE, rendered, 99) == (99, False)


def test_cli_reports_the_template_line(example_project: Path) -> None:
    path = example_project / "models/user/user_features.sql"
    lines = path.read_text().splitlines()
    target = next(i for i, text in enumerate(lines) if text.strip() == "event_timestamp,")
    lines[target] = lines[target] + " where where"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["compile", "--project-dir", str(example_project)])
    assert result.exit_code == 2
    assert f"models/user/user_features.sql:{target + 1}:" in result.stderr, result.stderr
