"""The sqlglot round trip that lets DuckDB run BigQuery's SQL, itself under test.

No faithful BigQuery engine runs offline. So besides the emulator, the conformance suite
runs the training SQL compiled for BigQuery on DuckDB: taken as text, read back by
sqlglot as BigQuery SQL and written as DuckDB SQL (`bigquery-roundtrip` in
tests/support/engine_runners.py; the round trip is `bigquery_to_duckdb` in
tests/support/round_trips.py). That proves BigQuery's SQL only if it is what ran.

The same round trip runs the example project's view tables: each BigQuery CREATE TABLE
(with its INTERVAL RANGE frame rewritten to a numeric one, and its window null order
kept) must build the table DuckDB's own SQL builds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fsql.adapters.duckdb import DuckDBAdapter
from fsql.compile.plan import compile_project
from fsql.dialects import get_dialect
from fsql.execute.build import ViewBuilder
from fsql.project.load import load_project
from tests.support.pit_cases import USER, simple_view
from tests.support.project_factory import make_project, warehouse_sources
from tests.support.round_trips import bigquery_to_duckdb

BIGQUERY = get_dialect("bigquery")
REPO = Path(__file__).resolve().parents[2]


def test_the_round_trip_runs_bigquery_sql(tmp_path: Path) -> None:
    """The suite proves BigQuery's SQL only if that SQL is what ran."""
    spec = simple_view([], ttl="1h", created_col="created_timestamp")
    root = make_project(tmp_path, [spec], USER)
    compiled = compile_project(load_project(root), BIGQUERY)
    sql = compiled.sql(compiled.training_query(compiled.select_features(["v:x"], False).items))
    assert "ASOF" not in sql.upper()
    assert "`__fsql_entities`" in sql and "CAST(`__fsql_ts` AS TIMESTAMP)" in sql
    assert "ORDER BY `__fsql_at` ASC, `__fsql_is_entity` ASC" in sql  # BigQuery: NULLS FIRST
    duck = bigquery_to_duckdb(sql)
    assert "`" not in duck and "DATETIME" not in duck
    assert 'CAST("__fsql_ts" AS TIMESTAMPTZ)' in duck
    assert 'ORDER BY "__fsql_at" ASC NULLS FIRST, "__fsql_is_entity" ASC NULLS FIRST' in duck


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
    # Unqualified view tables (no project or dataset): DuckDB has neither.
    compiled = compile_project(warehouse_sources(project), BIGQUERY)
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
