"""The rewrite that lets DuckDB run Snowflake's ASOF plan, itself under test.

No local engine runs Snowflake's `ASOF JOIN ... MATCH_CONDITION` (fakesnow cannot parse
it), so the conformance suite runs Snowflake's ASOF training SQL on DuckDB with only its
ASOF joins rewritten (`snowflake-asof-rewrite` in tests/support/engine_runners.py; the
rewrite is `asof_to_duckdb` in tests/support/round_trips.py). That proves Snowflake's
plan only if the SQL that ran is Snowflake's, rewritten as described, and no more.
"""

from __future__ import annotations

from pathlib import Path

from fsql.compile.plan import compile_project
from fsql.dialects import get_dialect
from fsql.project.load import load_project
from tests.support.pit_cases import USER, simple_view
from tests.support.project_factory import make_project
from tests.support.round_trips import asof_to_duckdb

SNOWFLAKE_ASOF = get_dialect("snowflake", "asof")


def test_rewrite_turns_match_condition_into_asof_left_join(tmp_path: Path) -> None:
    """The suite proves Snowflake's plan only if that plan is what ran."""
    spec = simple_view([], ttl="1h", created_col="created_timestamp")
    root = make_project(tmp_path, [spec], USER)
    compiled = compile_project(load_project(root), SNOWFLAKE_ASOF)
    items = compiled.select_features(["v:x"], False).items
    sql = compiled.sql(compiled.training_query(items))
    assert "MATCH_CONDITION (e.__fsql_ts >= __fsql_v0.__fsql_feature_ts)" in sql
    assert "ROW_NUMBER()" in sql  # ties reduced before the join, not by OBJECT order
    duck = asof_to_duckdb(sql)
    assert "MATCH_CONDITION" not in duck
    assert (
        "ASOF LEFT JOIN __fsql_v0 AS __fsql_v0 ON e.user_id = __fsql_v0.user_id"
        " AND e.__fsql_ts >= __fsql_v0.__fsql_feature_ts" in duck
    )
