"""Snowflake's ASOF plan has SPEC §2's semantics, shown by running it on DuckDB.

No local engine runs Snowflake's `ASOF JOIN ... MATCH_CONDITION` (fakesnow cannot
parse it). So the training SQL compiled for Snowflake is taken as text, parsed as
Snowflake SQL, and only its ASOF joins are rewritten: `MATCH_CONDITION (e.ts >= f.ts)
ON keys` (left outer in Snowflake) becomes DuckDB's `ASOF LEFT JOIN ... ON keys AND
e.ts >= f.ts`, which means the same. Everything else (the tie reduction by ROW_NUMBER,
the pruning CTEs, the TTL CASE) runs as Snowflake would run it, transpiled by sqlglot.
The conformance suite and the property test then compare the answers with the oracle.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import settings
from sqlglot import exp

from fsql.adapters.duckdb import DuckDBAdapter
from fsql.compile.pit import ENTITY_ALIAS, ENTITY_TS
from fsql.compile.plan import compile_project
from fsql.dialects import EngineDialect, get_dialect
from fsql.project.load import load_project
from tests.semantics import test_point_in_time as suite
from tests.semantics import test_property as prop
from tests.semantics import test_window_plan as window_plan
from tests.semantics.test_window_plan import (
    PROPERTY_DATA,
    PROPERTY_SETTINGS,
    Row,
    rerun_suite,
    training_frame,
)
from tests.support.project_factory import make_project

SNOWFLAKE_ASOF = get_dialect("snowflake", "asof")
SNOWFLAKE_WINDOW = get_dialect("snowflake", "window")


def asof_to_duckdb(snowflake_sql: str) -> str:
    """Snowflake SQL with each `ASOF JOIN ... MATCH_CONDITION` in DuckDB's form, as DuckDB SQL.

    Only joins in Snowflake's exact shape are rewritten (method ASOF, no side, the
    entity time on the left of `>=`); any other shape fails here rather than being
    given a meaning it does not have in Snowflake.
    """
    tree = sqlglot.parse_one(snowflake_sql, read="snowflake")
    for join in tree.find_all(exp.Join):
        match = join.args.get("match_condition")
        if match is None:
            continue
        assert join.method == "ASOF" and not join.side, join.sql("snowflake")
        assert isinstance(match, exp.GTE), match.sql("snowflake")
        assert match.this == exp.column(ENTITY_TS, ENTITY_ALIAS), match.sql("snowflake")
        join.set("match_condition", None)
        join.set("on", exp.and_(join.args["on"], match))
        join.set("side", "LEFT")
    return tree.sql(dialect="duckdb")


class SnowflakeSqlOnDuckDB(DuckDBAdapter):
    """An in-memory DuckDB that answers the Snowflake training query, rewritten.

    Only queries go through the rewrite; view tables are built with DuckDB's SQL.
    """

    def fetch_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        return super().fetch_arrow(asof_to_duckdb(sql), params)


def snowflake_frame(
    root: Path,
    entity_df: pd.DataFrame,
    features: list[str],
    *,
    full_feature_names: bool = False,
    dialect: EngineDialect = SNOWFLAKE_ASOF,
) -> pd.DataFrame:
    return training_frame(
        root,
        entity_df,
        features,
        full_feature_names=full_feature_names,
        dialect=dialect,
        adapter_class=SnowflakeSqlOnDuckDB,
    )


rerun_suite(globals())
# Runs here too, through Snowflake's plan (it goes through the suite's `historical`).
test_composite_keys_with_null_parts = window_plan.test_composite_keys_with_null_parts


@pytest.fixture(autouse=True)
def _snowflake_asof_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite, "historical", snowflake_frame)


def test_rewrite_turns_match_condition_into_asof_left_join(tmp_path: Path) -> None:
    """The suite above proves Snowflake's plan only if that plan is what ran."""
    spec = suite.simple_view([], ttl="1h", created_col="created_timestamp")
    root = make_project(tmp_path, [spec], suite.USER)
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


def snowflake_window_frame(
    root: Path, entity_df: pd.DataFrame, features: list[str]
) -> pd.DataFrame:
    """Snowflake's window SQL as text (its casts, INTERVAL and QUALIFY spellings),
    transpiled by sqlglot; it has no ASOF join to rewrite."""
    return snowflake_frame(root, entity_df, features, dialect=SNOWFLAKE_WINDOW)


# Two plans per example: fewer examples than the window plan's own test, same draws.
@settings(PROPERTY_SETTINGS, max_examples=15)
@PROPERTY_DATA
def test_snowflake_plans_match_oracle(
    rows1: list[Row],
    rows2: list[Row],
    ttl1: str | None,
    ttl2: str | None,
    ents: list[Row],
    naive: bool,
) -> None:
    frames = [snowflake_frame, snowflake_window_frame]
    checked = prop.matches_oracle(frames, rows1, rows2, ttl1, ttl2, ents, naive)
    assert checked == [len(ents)] * len(frames)  # both plans compared with the oracle
