"""The MERGE an incremental build runs, in DuckDB's and Snowflake's SQL.

The example project has no `incremental` view, so its golden files hold no MERGE: the
SQL is written out here instead, to show in review when it changes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from fsql.compile.plan import CompiledProject, compile_project
from fsql.compile.writer import compiled_files
from fsql.dialects import get_dialect
from fsql.project.load import load_project
from tests.support.project_factory import ViewSpec, make_project

MODEL = """select user_id, event_timestamp, created_ts, spend, "order"
from {{ source('raw', 'spend_raw') }}
{% if is_incremental() %}
where event_timestamp > (select max(event_timestamp) from {{ this }})
{% endif %}
"""

EXPECTED = {
    "duckdb": """MERGE INTO spend AS t
USING (
  SELECT
    *
  FROM (
    SELECT
      *
      REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp, CAST(created_ts AS TIMESTAMPTZ) AS created_ts, CAST(spend AS DOUBLE) AS spend, CAST("order" AS BIGINT) AS "order")
    FROM (
      SELECT
        user_id,
        event_timestamp,
        created_ts,
        spend,
        "order"
      FROM READ_PARQUET('data/spend_raw.parquet') AS spend_raw
      WHERE
        event_timestamp > (
          SELECT
            MAX(event_timestamp)
          FROM spend
        )
    ) AS __fsql_model
  ) AS __fsql_rows
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY user_id, event_timestamp, created_ts
      ORDER BY CAST(HASH(spend, "order") >> 1 AS BIGINT) DESC
    ) = 1
) AS s
ON t.user_id = s.user_id
AND t.event_timestamp = s.event_timestamp
AND t.created_ts IS NOT DISTINCT FROM s.created_ts
WHEN MATCHED THEN UPDATE SET
  spend = s.spend,
  "order" = s."order"
WHEN NOT MATCHED THEN INSERT (user_id, event_timestamp, created_ts, spend, "order") VALUES (s.user_id, s.event_timestamp, s.created_ts, s.spend, s."order")""",  # noqa: E501
    "snowflake": """MERGE INTO spend AS t
USING (
  SELECT
    *
  FROM (
    SELECT
      *
      REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp, CAST(created_ts AS TIMESTAMPTZ) AS created_ts, CAST(spend AS DOUBLE) AS spend, CAST("ORDER" AS BIGINT) AS "ORDER")
    FROM (
      SELECT
        user_id,
        event_timestamp,
        created_ts,
        spend,
        "ORDER"
      FROM raw.spend_raw AS spend_raw
      WHERE
        event_timestamp > (
          SELECT
            MAX(event_timestamp)
          FROM spend
        )
    ) AS __fsql_model
  ) AS __fsql_rows
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY user_id, event_timestamp, created_ts
      ORDER BY BITSHIFTRIGHT(HASH(spend, "ORDER"), 1) DESC NULLS LAST
    ) = 1
) AS s
ON t.user_id = s.user_id
AND t.event_timestamp = s.event_timestamp
AND t.created_ts IS NOT DISTINCT FROM s.created_ts
WHEN MATCHED THEN UPDATE SET
  spend = s.spend,
  "ORDER" = s."ORDER"
WHEN NOT MATCHED THEN INSERT (user_id, event_timestamp, created_ts, spend, "ORDER") VALUES (s.user_id, s.event_timestamp, s.created_ts, s.spend, s."ORDER")""",  # noqa: E501
}


def _compiled(root: Path, engine: str, created: bool = True) -> CompiledProject:
    spend = ViewSpec(
        name="spend",
        entities=["user"],
        features=[("spend", "float64"), ("order", "int64")],
        created_col="created_ts" if created else None,
        sql=MODEL if created else MODEL.replace(" created_ts,", ""),
        extra_yaml={"materialized": "incremental"},
        rows=[{"user_id": 1}],
    )
    plain = ViewSpec(name="plain", entities=["user"], features=[("spend", "float64")])
    project = load_project(make_project(root, [spend, plain], {"user": ["user_id"]}))
    if engine == "snowflake":  # Snowflake reads warehouse tables, not files
        sources = {
            key: dataclasses.replace(source, path=None, identifier=f"raw.{source.name}")
            for key, source in project.sources.items()
        }
        project = dataclasses.replace(project, sources=sources)
    return compile_project(project, get_dialect(engine))


@pytest.mark.parametrize("engine", ["duckdb", "snowflake"])
def test_merge_sql(tmp_path: Path, engine: str) -> None:
    compiled = _compiled(tmp_path, engine)
    sql = compiled.plans["spend"].sql("merge")
    assert sql == EXPECTED[engine]
    (merge,) = sqlglot.parse(sql, read=engine)
    assert isinstance(merge, exp.Merge)
    # a NULL created timestamp matches a NULL one; keys and event time stay equi-joins
    assert [type(c).__name__ for c in merge.args["on"].flatten()] == ["EQ", "EQ", "NullSafeEQ"]


@pytest.mark.parametrize("engine", ["duckdb", "snowflake"])
def test_table_incremental_sql_is_the_merge_of_incremental_views_only(
    tmp_path: Path, engine: str
) -> None:
    files = compiled_files(_compiled(tmp_path, engine))
    assert files[f"{engine}/spend/table_incremental.sql"] == EXPECTED[engine] + ";\n"
    assert f"{engine}/plain/table_incremental.sql" not in files


def test_without_a_created_timestamp_rows_match_on_keys_and_event_time(tmp_path: Path) -> None:
    merge = _compiled(tmp_path, "duckdb", created=False).plans["spend"].merge
    assert merge is not None
    on = merge.args["on"]
    assert not list(on.find_all(exp.NullSafeEQ))
    assert on.sql() == "t.user_id = s.user_id AND t.event_timestamp = s.event_timestamp"
    partition = merge.find(exp.Window).args["partition_by"]
    assert [c.name for c in partition] == ["user_id", "event_timestamp"]
