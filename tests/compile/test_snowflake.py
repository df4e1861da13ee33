"""The Snowflake dialect: strategies, types, and one rule for identifier case.

Snowflake folds unquoted names to upper case and matches quoted ones exactly, so a
name fsql quotes in lower case would be a different object from the one a model
created unquoted. These checks compile small projects for Snowflake and read the SQL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from fsql.compile.plan import CompiledProject, compile_project
from fsql.compile.relations import Relations
from fsql.compile.writer import compiled_files
from fsql.definitions.types import FeatureType
from fsql.dialects import get_dialect
from fsql.dialects.duckdb import DUCKDB
from fsql.dialects.snowflake import SNOWFLAKE
from fsql.errors import ProjectError
from fsql.project.load import load_project
from tests.support.project_factory import ViewSpec, make_project

USER = {"user": ["user_id"]}


@pytest.mark.parametrize(
    ("engine", "strategy", "expected"),
    [
        ("snowflake", None, "asof"),
        ("snowflake", "asof", "asof"),
        ("snowflake", "window", "window"),
        ("duckdb", None, "asof"),
        ("duckdb", "window", "window"),
    ],
)
def test_get_dialect_strategies(engine: str, strategy: str | None, expected: str) -> None:
    dialect = get_dialect(engine, strategy)
    assert (dialect.name, dialect.pit_strategy) == (engine, expected)


def test_default_dialects_are_the_declared_ones() -> None:
    assert get_dialect("duckdb") is DUCKDB
    assert get_dialect("snowflake") is SNOWFLAKE


def test_unknown_strategy_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"'range_join'.*snowflake.*asof, window"):
        get_dialect("snowflake", "range_join")


def test_unknown_engine_is_an_error() -> None:
    with pytest.raises(ValueError, match="no dialect for engine 'oracle'"):
        get_dialect("oracle")


@pytest.mark.parametrize("dialect", [DUCKDB, SNOWFLAKE], ids=lambda d: d.name)
def test_every_feature_type_has_an_engine_type(dialect: object) -> None:
    assert set(dialect.type_map) == set(FeatureType)  # type: ignore[attr-defined]
    for ftype in FeatureType:
        assert isinstance(dialect.data_type(ftype), exp.DataType)  # type: ignore[attr-defined]


def test_snowflake_timestamps_are_timestamp_tz() -> None:
    assert SNOWFLAKE.timestamp().this is exp.DataType.Type.TIMESTAMPTZ
    assert SNOWFLAKE.data_type(FeatureType.TIMESTAMP).this is exp.DataType.Type.TIMESTAMPTZ
    assert not SNOWFLAKE.asof_struct_order


def _project(tmp_path: Path, sql: str, features: list[tuple[str, str]]) -> CompiledProject:
    """A one-view project whose raw table is the Snowflake table analytics."Raw".v_raw."""
    spec = ViewSpec(
        name="v",
        entities=["user"],
        features=features,
        rows=[{"user_id": 1, "event_timestamp": None, **{f: None for f, _ in features}}],
        sql=sql,
        created_col="created_timestamp",
        ttl="1h",
    )
    project = load_project(make_project(tmp_path, [spec], USER))
    sources = {
        key: dataclasses.replace(s, path=None, identifier='analytics."Raw".v_raw')
        for key, s in project.sources.items()
    }
    return compile_project(dataclasses.replace(project, sources=sources), SNOWFLAKE)


MODEL = (
    'select user_id, event_timestamp, created_timestamp, n as "rows", "Score"\n'
    "from {{ source('raw', 'v_raw') }}\n"
)


def test_names_are_unquoted_or_quoted_upper_case(tmp_path: Path) -> None:
    compiled = _project(tmp_path, MODEL, [("rows", "int64"), ("Score", "float64")])
    table = compiled.plans["v"].sql("create")
    # DuckDB quotes only to escape keywords: `"Score"` is the plain name Score there.
    assert "CAST(Score AS DOUBLE) AS Score" in table
    assert '"Score"' not in table
    # A name Snowflake reserves is quoted in upper case: the object `rows` would name.
    assert 'n AS "ROWS"' in table
    assert 'CAST("ROWS" AS BIGINT) AS "ROWS"' in table
    assert '"rows"' not in table
    # A source identifier is a Snowflake name, kept as written.
    assert 'FROM analytics."Raw".v_raw AS v_raw' in table
    sqlglot.parse_one(table, read="snowflake")


def test_training_and_materialization_use_the_same_names(tmp_path: Path) -> None:
    compiled = _project(tmp_path, MODEL, [("rows", "int64"), ("Score", "float64")])
    items = compiled.select_features(["v:rows", "v:Score"], False).items
    training = compiled.sql(compiled.training_query(items))
    assert 'THEN __fsql_v0."ROWS" END AS "ROWS"' in training
    assert "THEN __fsql_v0.Score END AS Score" in training
    latest = compiled.plans["v"].sql("latest_full")
    assert '"ROWS"' in latest and '"rows"' not in latest


def test_snowflake_models_keep_their_quotes() -> None:
    """In Snowflake's own dialect a quoted name is case-sensitive on purpose."""
    relations = Relations(SNOWFLAKE, {}, model_dialect="snowflake")
    model = sqlglot.parse_one('SELECT "Score" FROM t', read="snowflake")
    assert relations.resolve(model).sql(dialect="snowflake") == 'SELECT "Score" FROM t'


def test_view_tables_are_unqualified(tmp_path: Path) -> None:
    """The connection's database and schema say where fsql's tables live."""
    compiled = _project(tmp_path, MODEL, [("rows", "int64"), ("Score", "float64")])
    assert compiled.plans["v"].sql("create").startswith("CREATE OR REPLACE TABLE v AS")


def test_file_sources_are_rejected(tmp_path: Path) -> None:
    spec = ViewSpec(name="v", entities=["user"], features=[("x", "int64")])
    project = load_project(make_project(tmp_path, [spec], USER))
    compiled = compile_project(project, SNOWFLAKE)
    with pytest.raises(ProjectError, match="snowflake reads warehouse tables only"):
        compiled.plans["v"].sql("create")


def test_strategy_changes_only_the_training_query(tmp_path: Path) -> None:
    """DuckDB's window variant keeps DuckDB's view and materialization SQL."""
    spec = ViewSpec(
        name="v", entities=["user"], features=[("x", "int64")], created_col="created_timestamp"
    )
    project = load_project(make_project(tmp_path, [spec], USER))
    asof = compile_project(project, DUCKDB)
    window = compile_project(project, get_dialect("duckdb", "window"))
    assert compiled_files(asof) == compiled_files(window)
    items = asof.select_features(["v:x"], False).items
    assert "ASOF LEFT JOIN" in asof.sql(asof.training_query(items))
    assert "ASOF" not in window.sql(window.training_query(items))


def test_compiling_for_snowflake_leaves_definitions_alone(tmp_path: Path) -> None:
    """Identifier rewrites work on copies: DuckDB's SQL is the same before and after."""
    compiled = _project(tmp_path, MODEL, [("rows", "int64"), ("Score", "float64")])
    duckdb_before = compiled_files(compile_project(compiled.project, DUCKDB))
    compiled_files(compiled)
    assert compiled_files(compile_project(compiled.project, DUCKDB)) == duckdb_before
    assert '"Score"' in duckdb_before["duckdb/v/table.sql"]
