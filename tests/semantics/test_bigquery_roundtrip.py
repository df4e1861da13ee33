"""BigQuery's training SQL has SPEC §2's semantics, shown by running it on DuckDB.

No faithful BigQuery engine runs offline. So the training SQL compiled for BigQuery is
taken as text, read back by sqlglot as BigQuery SQL and written as DuckDB SQL, and run
on an in-memory DuckDB whose view tables were built with DuckDB's own SQL. BigQuery has
only the window plan, so nothing is rewritten by hand: what runs is BigQuery's text
(backticked names, TIMESTAMP casts, `INTERVAL n SECOND`, QUALIFY, the implicit null
order of its window ORDER BY) as sqlglot understands it. The conformance suite and the
property test then compare the answers with the oracle.

The same round trip runs the example project's view tables: each BigQuery CREATE TABLE
(with its INTERVAL RANGE frame rewritten to a numeric one, and its window null order
kept) must build the table DuckDB's own SQL builds.
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

from fsql.adapters.duckdb import DuckDBAdapter
from fsql.compile.plan import compile_project
from fsql.dialects import EngineDialect, get_dialect
from fsql.execute.build import ViewBuilder
from fsql.project.load import load_project
from tests.compile.test_bigquery import compile_bigquery
from tests.compile.test_golden import warehouse_sources
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

BIGQUERY = get_dialect("bigquery")
REPO = Path(__file__).resolve().parents[2]


def bigquery_to_duckdb(bigquery_sql: str) -> str:
    """BigQuery SQL text as DuckDB SQL, through sqlglot alone (one statement)."""
    statements = sqlglot.transpile(bigquery_sql, read="bigquery", write="duckdb")
    assert len(statements) == 1, bigquery_sql
    return statements[0]


class BigQuerySqlOnDuckDB(DuckDBAdapter):
    """An in-memory DuckDB that answers BigQuery queries, transpiled by sqlglot.

    Only queries go through the round trip; view tables are built with DuckDB's SQL.
    """

    def fetch_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        return super().fetch_arrow(bigquery_to_duckdb(sql), params)


def bigquery_frame(
    root: Path,
    entity_df: pd.DataFrame,
    features: list[str],
    *,
    full_feature_names: bool = False,
    dialect: EngineDialect = BIGQUERY,
) -> pd.DataFrame:
    return training_frame(
        root,
        entity_df,
        features,
        full_feature_names=full_feature_names,
        dialect=dialect,
        adapter_class=BigQuerySqlOnDuckDB,
    )


rerun_suite(globals())
# Aimed at the window plan; they go through the suite's `historical`, so run here too.
test_composite_keys_with_null_parts = window_plan.test_composite_keys_with_null_parts


@pytest.fixture(autouse=True)
def _bigquery_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite, "historical", bigquery_frame)


def test_equal_event_times_without_created_give_one_row(tmp_path: Path) -> None:
    """The equi-join on (keys, time) must not fan out over equal event times."""
    t0, h = suite.T0, suite.H
    rows = [
        {"user_id": 1, "event_timestamp": t0 - h, "x": 1},
        {"user_id": 1, "event_timestamp": t0 - h, "x": 2},
        {"user_id": 1, "event_timestamp": t0 - 2 * h, "x": 3},
    ]
    ents = [
        {"user_id": 1, "event_timestamp": t0},
        {"user_id": 1, "event_timestamp": t0 - 90 * suite.M},
    ]
    root = make_project(tmp_path, [suite.simple_view(rows)], suite.USER)
    frame = bigquery_frame(root, suite.entity_frame(ents), ["v:x"])
    assert len(frame) == len(ents)
    first, second = list(frame["x"])
    assert first in (1, 2)
    assert second == 3


def test_the_round_trip_runs_bigquery_sql(tmp_path: Path) -> None:
    """The suite above proves BigQuery's SQL only if that SQL is what ran."""
    spec = suite.simple_view([], ttl="1h", created_col="created_timestamp")
    root = make_project(tmp_path, [spec], suite.USER)
    compiled = compile_project(load_project(root), BIGQUERY)
    sql = compiled.sql(compiled.training_query(compiled.select_features(["v:x"], False).items))
    assert "ASOF" not in sql.upper()
    assert "`__fsql_entities`" in sql and "CAST(`__fsql_ts` AS TIMESTAMP)" in sql
    assert "ORDER BY `__fsql_at` ASC, `__fsql_is_entity` ASC" in sql  # BigQuery: NULLS FIRST
    duck = bigquery_to_duckdb(sql)
    assert "`" not in duck and "DATETIME" not in duck
    assert 'CAST("__fsql_ts" AS TIMESTAMPTZ)' in duck
    assert 'ORDER BY "__fsql_at" ASC NULLS FIRST, "__fsql_is_entity" ASC NULLS FIRST' in duck


# Same draws as the window plan's own property test, fewer examples.
@settings(PROPERTY_SETTINGS, max_examples=15)
@PROPERTY_DATA
def test_bigquery_plan_matches_oracle(
    rows1: list[Row],
    rows2: list[Row],
    ttl1: str | None,
    ttl2: str | None,
    ents: list[Row],
    naive: bool,
) -> None:
    checked = prop.matches_oracle([bigquery_frame], rows1, rows2, ttl1, ttl2, ents, naive)
    assert checked == [len(ents)]  # every entity row compared with the oracle


def _example_tables(adapter: DuckDBAdapter, views: list[str]) -> dict[str, pd.DataFrame]:
    tables = {}
    for view in views:
        frame = adapter.fetch_arrow(f'SELECT * FROM "{view}"').to_pandas()
        keys = [c for c in ("user_id", "item_id", "event_timestamp") if c in frame.columns]
        tables[view] = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    return tables


def test_example_view_tables_built_from_bigquery_sql_match_duckdb(tmp_path: Path) -> None:
    """The example project's BigQuery CREATE TABLEs, run on DuckDB over the same raw rows
    as `raw.<table>` tables, build exactly the tables DuckDB's own SQL builds."""
    project = load_project(REPO)
    views = list(project.views)  # DAG order
    duck = DuckDBAdapter(None, project.root)
    try:
        ViewBuilder(duck, compile_project(project, get_dialect("duckdb"))).build(views)
        expected = _example_tables(duck, views)
    finally:
        duck.close()
    compiled = compile_bigquery(warehouse_sources(project), gcp_project=None, dataset=None)
    bq = DuckDBAdapter(None, project.root)
    try:
        bq.execute("CREATE SCHEMA raw")
        for source in project.sources.values():
            reader = "read_csv" if source.file_format == "csv" else "read_parquet"
            path = project.root / source.path if source.path else None
            bq.execute(f"CREATE TABLE raw.{source.name} AS SELECT * FROM {reader}('{path}')")
        for view in views:
            bq.execute(bigquery_to_duckdb(compiled.plans[view].sql("create")))
        got = _example_tables(bq, views)
    finally:
        bq.close()
    for view in views:
        assert len(expected[view]) > 0, view
        pd.testing.assert_frame_equal(expected[view], got[view], check_dtype=False, obj=view)
