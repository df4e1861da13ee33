"""The BigQuery dialect: the window plan only, TIMESTAMP types, backticked names, and
rewrites for what BigQuery cannot say (INTERVAL RANGE frames, window null order)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from fsql.compile.plan import compile_project
from fsql.compile.relations import Relations
from fsql.definitions.types import FeatureType
from fsql.dialects import get_dialect
from fsql.dialects.bigquery import BIGQUERY
from fsql.errors import ProjectError
from fsql.project.load import load_project
from tests.support.bigquery_compile import (
    USER,
    compile_bigquery,
)
from tests.support.bigquery_compile import bigquery_project as _project
from tests.support.project_factory import ViewSpec, make_project


def test_bigquery_runs_the_window_plan_only() -> None:
    assert get_dialect("bigquery") is BIGQUERY
    assert BIGQUERY.pit_strategy == "window"
    assert not BIGQUERY.struct_order_join
    with pytest.raises(ValueError, match=r"'asof'.*bigquery.*window"):
        get_dialect("bigquery", "asof")


def test_every_feature_type_has_a_bigquery_type() -> None:
    assert set(BIGQUERY.type_map) == set(FeatureType)
    spelled = {f: BIGQUERY.sql(BIGQUERY.data_type(f)) for f in FeatureType}
    assert spelled == {
        FeatureType.INT32: "INT64",
        FeatureType.INT64: "INT64",
        FeatureType.FLOAT32: "FLOAT64",
        FeatureType.FLOAT64: "FLOAT64",
        FeatureType.BOOL: "BOOL",
        FeatureType.STRING: "STRING",
        FeatureType.TIMESTAMP: "TIMESTAMP",
        FeatureType.DATE: "DATE",
        FeatureType.BYTES: "BYTES",
    }


def test_timestamps_are_instants_not_datetimes() -> None:
    """BigQuery's TIMESTAMP is sqlglot's TIMESTAMPTZ; sqlglot's TIMESTAMP is DATETIME."""
    for dtype in (BIGQUERY.timestamp(), BIGQUERY.data_type(FeatureType.TIMESTAMP)):
        assert dtype.this is exp.DataType.Type.TIMESTAMPTZ
        assert BIGQUERY.sql(dtype) == "TIMESTAMP"
        assert dtype.sql("duckdb") == "TIMESTAMPTZ"


def test_view_tables_are_project_qualified_and_backticked(tmp_path: Path) -> None:
    compiled = compile_bigquery(_project(tmp_path))
    create = compiled.plans["v"].sql("create")
    assert create.startswith("CREATE OR REPLACE TABLE `my-project`.`fsql`.`v` AS")
    assert "CAST(`rows` AS INT64) AS `rows`" in create  # a reserved word needs no care
    assert "CAST(`x` AS FLOAT64) AS `x`" in create
    assert "FROM `raw`.`v_raw`" in create
    latest = compiled.plans["v"].sql("latest_range")
    assert "FROM `my-project`.`fsql`.`v`" in latest
    assert "@start" in latest and "@end" in latest  # BigQuery's named parameters
    sqlglot.parse_one(create, read="bigquery")


def test_relations_without_a_dataset_stay_unqualified() -> None:
    relations = Relations(BIGQUERY, {}, catalog="my-project")
    assert relations.view_table("v").sql("bigquery") == "v"
    relations = Relations(BIGQUERY, {}, "ds", catalog="my-project")
    assert relations.view_table("v").sql("bigquery") == "`my-project`.ds.v"


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("analytics.orders", "`analytics`.`orders`"),
        ("other-project.analytics.orders", "`other-project`.`analytics`.`orders`"),
        ("`other-project.analytics.orders`", "`other-project.analytics.orders`"),
    ],
)
def test_source_identifiers_are_bigquery_names(
    tmp_path: Path, identifier: str, expected: str
) -> None:
    compiled = compile_bigquery(_project(tmp_path, identifier=identifier))
    create = compiled.plans["v"].sql("create")
    assert f"FROM {expected} AS `v_raw`" in create
    table = sqlglot.parse_one(create, read="bigquery").find(exp.Subquery).find(exp.Table)
    assert (table.catalog, table.db, table.name)[-2:] == ("analytics", "orders")


def test_file_sources_are_rejected(tmp_path: Path) -> None:
    spec = ViewSpec(name="v", entities=["user"], features=[("x", "int64")])
    project = load_project(make_project(tmp_path, [spec], USER))
    with pytest.raises(ProjectError, match="bigquery reads warehouse tables only"):
        compile_bigquery(project).plans["v"].sql("create")


RANGE_MODEL = """
select user_id, event_timestamp, created_timestamp,
    cast(count(*) over (
        partition by user_id order by event_timestamp
        range between interval {n} {unit} preceding and current row) as bigint) as "rows",
    sum(x) over (partition by user_id order by event_timestamp
        rows between unbounded preceding and current row) as x
from {{{{ source('raw', 'v_raw') }}}}
"""


def test_interval_range_frames_become_numeric(tmp_path: Path) -> None:
    project = _project(tmp_path, RANGE_MODEL.format(n=2, unit="day"))
    create = compile_bigquery(project).plans["v"].sql("create")
    assert "ORDER BY UNIX_MICROS(CAST(`event_timestamp` AS TIMESTAMP))" in create
    assert "range BETWEEN 172800000000 preceding AND CURRENT ROW" in create
    assert "INTERVAL" not in create.split("REPLACE", 1)[1].split("ROWS", 1)[0]


def test_window_null_order_is_kept(tmp_path: Path) -> None:
    """DuckDB's `ORDER BY ts` sorts NULLs last; BigQuery would put them first."""
    project = _project(tmp_path, RANGE_MODEL.format(n=2, unit="day"))
    create = compile_bigquery(project).plans["v"].sql("create")
    assert "ORDER BY `event_timestamp` IS NULL ASC, `event_timestamp`" in create
    duck = sqlglot.transpile(create, read="bigquery", write="duckdb")[0]
    assert 'ORDER BY "event_timestamp" IS NULL ASC NULLS FIRST, "event_timestamp"' in duck


def test_month_range_frames_fail_compile_naming_the_view(tmp_path: Path) -> None:
    project = _project(tmp_path, RANGE_MODEL.format(n=1, unit="month"))
    compiled = compile_bigquery(project)
    pattern = r"models/v\.sql: view 'v' \(create\).*RANGE with an INTERVAL bound"
    with pytest.raises(ProjectError, match=pattern):
        compiled.plans["v"]  # the view's plan is linted as it is compiled


def test_qualify_alone_gets_where_true() -> None:
    tree = sqlglot.parse_one(
        "SELECT * FROM t QUALIFY ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC) = 1"
    )
    assert "FROM `t` WHERE TRUE QUALIFY" in BIGQUERY.sql(BIGQUERY.finish(tree))


def test_training_sql_is_linted_and_has_no_asof(tmp_path: Path) -> None:
    compiled = compile_bigquery(_project(tmp_path))
    items = compiled.select_features(["v:rows", "v:x"], False).items
    sql = compiled.sql(compiled.training_query(items))
    assert "ASOF" not in sql.upper() and "DATETIME" not in sql
    assert "FROM `my-project`.`fsql`.`v` AS `f`" in sql
    assert (
        "CASE WHEN `__fsql_v0`.`__fsql_feature_ts` >= `e`.`__fsql_ts` - INTERVAL 3600 SECOND" in sql
    )


def test_compiling_for_bigquery_leaves_other_dialects_alone(tmp_path: Path) -> None:
    project = _project(tmp_path)
    duckdb = get_dialect("duckdb")
    before = compile_project(project, duckdb).plans["v"].sql("create")
    compile_bigquery(project).plans["v"].sql("create")
    assert compile_project(project, duckdb).plans["v"].sql("create") == before
    assert "`" not in before
