"""A `SELECT *` model that lacks a declared column is a project error naming the model,
the view and the column (SPEC §1 "Model SQL": a model outputs every declared column).

The view's table casts declared columns with `SELECT * REPLACE (...)`, so a missing one
used to fail in the engine's words (`Column ... in REPLACE list not found`). A star
over CTEs, subqueries or ref()'d views is expanded at load time; a star over a source
is only known to the engine, and the failed build asks it for the model's columns.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fsql.cli.main import cli

STAGING = "models/staging/user_daily_orders.sql"
ORDERS = """with orders as (
    select cast(user_id as bigint) as user_id, {{ day_end('order_ts') }} as day_end,
        cast(amount as double) as amount
    from {{ source('raw', 'orders') }}
),
daily as (
    select user_id, day_end as event_timestamp, count(*) as daily_order_count
    from orders
    group by user_id, day_end
)
"""
MISSING = "feature view 'user_daily_orders': the SQL does not output column 'daily_spend'"
HINT = "(select it in the model or remove it from models/staging/staging.yml)"


def _fsql(command: str, root: Path) -> Result:
    return CliRunner().invoke(cli, [command, "--project-dir", str(root)])


def _one_line(result: Result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    # `run` reports progress on stderr too: the error is the one `error:` line
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "select",
    [
        "select * from daily",
        "select *, 1 as extra from daily",
        "select d.* from daily as d",
        "select * from (select * from daily) as d",
        "select * exclude (daily_order_count), 0.0 as daily_spend from daily",
    ],
)
def test_a_star_over_ctes_is_checked_at_compile_time(example_project: Path, select: str) -> None:
    (example_project / STAGING).write_text(ORDERS + select + "\n")
    line = _one_line(_fsql("compile", example_project), STAGING, "user_daily_orders")
    assert "does not output column" in line and "select it in the model" in line
    assert not (example_project / "target" / "compiled").exists()


def test_the_message_names_model_view_column_and_what_to_do(example_project: Path) -> None:
    (example_project / STAGING).write_text(ORDERS + "select * from daily\n")
    line = _one_line(_fsql("compile", example_project))
    assert line == f"error: {STAGING}: {MISSING} {HINT}"


def test_a_star_over_a_ref_is_checked_at_compile_time(example_project: Path) -> None:
    model = (
        "select *, event_timestamp as created_timestamp, 1 as user_30d_purchase_count,\n"
        "    2.0 as user_lifetime_value\nfrom {{ ref('user_daily_orders') }}\n"
    )
    (example_project / "models/user/user_features.sql").write_text(model)
    _one_line(
        _fsql("compile", example_project),
        "models/user/user_features.sql",
        "feature view 'user_features': the SQL does not output column 'user_order_days'",
    )


@pytest.mark.parametrize(
    "select",
    [
        "select *, 0.0 as daily_spend from daily",
        "select * from daily union all by name\n"
        "select user_id, event_timestamp, 0 as daily_order_count, 1.0 as daily_spend from daily",
        "select * from {{ source('raw', 'orders') }}",  # unknown until the build
    ],
)
def test_a_star_that_may_output_everything_compiles(example_project: Path, select: str) -> None:
    (example_project / STAGING).write_text(ORDERS + select + "\n")
    result = _fsql("compile", example_project)
    assert result.exit_code == 0, result.stderr


def test_a_star_over_a_source_is_checked_when_built(example_project: Path) -> None:
    model = (
        "select cast(user_id as bigint) as user_id, {{ day_end('order_ts') }} as event_timestamp,"
        "\n    *, 1 as daily_order_count\nfrom {{ source('raw', 'orders') }}\n"
    )
    (example_project / STAGING).write_text(model)
    assert _fsql("compile", example_project).exit_code == 0
    line = _one_line(_fsql("run", example_project))
    assert line == f"error: {STAGING}: {MISSING} {HINT}"
    assert "REPLACE" not in line


def test_other_build_failures_of_a_star_model_stay_run_errors(example_project: Path) -> None:
    model = (
        "select cast(user_id as bigint) as user_id, {{ day_end('order_ts') }} as event_timestamp,"
        "\n    *, 1 as daily_order_count, 'many' as daily_spend\n"
        "from {{ source('raw', 'orders') }}\n"
    )
    (example_project / STAGING).write_text(model)
    result = _fsql("run", example_project)
    assert result.exit_code == 1, result.output  # 'many' is no float64: a failed run
    assert "failed to build" in result.stderr and "does not output" not in result.stderr
