"""Golden compiled SQL for the example project: a change in generated SQL shows in review.

Covered: DuckDB, Snowflake with both point-in-time strategies (`asof`, `window`), and
BigQuery (the window plan only; view tables in `my-project`.`fsql`). A view's own
files do not depend on the strategy, so Snowflake keeps one set of them and one
training set per strategy (`snowflake/training_sets/<strategy>/`).

Regenerate after an intended change with `FSQL_UPDATE_GOLDEN=1 pytest tests/compile`,
then read the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from fsql.compile.plan import CompiledProject, compile_project
from fsql.compile.writer import compiled_files
from fsql.definitions.models import Project
from fsql.dialects import get_dialect
from fsql.execute.training import compile_training_sql
from fsql.project.load import load_project
from tests.support.bigquery_compile import compile_bigquery

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FSQL_UPDATE_GOLDEN") == "1"
SNOWFLAKE_STRATEGIES = ("asof", "window")


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def warehouse_sources(project: Project) -> Project:
    """The example project as a Snowflake deployment declares it: its CSV sources
    as warehouse tables (`identifier: raw.<table>`), since Snowflake reads no files."""
    sources = {
        key: dataclasses.replace(source, path=None, identifier=f"raw.{source.name}")
        for key, source in project.sources.items()
    }
    return dataclasses.replace(project, sources=sources)


def _training_sql(compiled: CompiledProject) -> str:
    refs = [str(r) for r in compiled.project.services["churn_model"].features]
    return compile_training_sql(compiled, compiled.select_features(refs, False).items)


def _generated() -> dict[str, str]:
    project = load_project(REPO)
    compiled = compile_project(project, get_dialect("duckdb"))
    files = compiled_files(compiled)
    files["duckdb/training_sets/churn_model.sql"] = _training_sql(compiled)
    snowflake = warehouse_sources(project)
    for strategy in SNOWFLAKE_STRATEGIES:
        compiled = compile_project(snowflake, get_dialect("snowflake", strategy))
        files.update(compiled_files(compiled))
        files[f"snowflake/training_sets/{strategy}/churn_model.sql"] = _training_sql(compiled)
    # BigQuery reads warehouse tables too: the same `raw.<table>` sources.
    compiled = compile_bigquery(snowflake)
    files.update(compiled_files(compiled))
    files["bigquery/training_sets/churn_model.sql"] = _training_sql(compiled)
    return files


GENERATED = _generated()


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_compiled_sql_matches_golden(rel: str) -> None:
    path = GOLDEN / rel
    text = GENERATED[rel]
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_normalise(text) + "\n")
    assert path.is_file(), f"no golden file {rel}; run with FSQL_UPDATE_GOLDEN=1 and review"
    assert _normalise(text) == _normalise(path.read_text())


def test_no_stale_golden_files() -> None:
    on_disk = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.sql")}
    assert on_disk == set(GENERATED)


@pytest.mark.parametrize("rel", [r for r in sorted(GENERATED) if not r.endswith("model.sql")])
def test_golden_sql_reparses_in_its_dialect(rel: str) -> None:
    # The compiled SQL must be a single statement its engine's grammar (as sqlglot knows
    # it) reads; the folder names the dialect. Re-parsing alone cannot tell one
    # dialect's ASOF from another's, hence the checks on each training set below.
    dialect = rel.split("/", 1)[0]
    statements = [s for s in sqlglot.parse(GENERATED[rel], read=dialect) if s]
    assert len(statements) == 1


# churn_model reads, in order: user_orders (windowed), user_features (`visible_at:
# created_timestamp`, the linear visible plan), item_features (the plain point-in-time
# join) and item_orders (windowed). Only the plain join is an ASOF join.
PLAIN_VIEW = "__fsql_v2"


def test_training_sql_uses_native_asof_left_join() -> None:
    sql = GENERATED["duckdb/training_sets/churn_model.sql"]
    assert sql.count("ASOF LEFT JOIN") == 1
    # Ties on event time break on created time, then the version hash, inside the join
    # (struct order), not by a ROW_NUMBER pass over the feature rows.
    entity_side = "{'t': e.__fsql_ts, 'c': CAST('infinity' AS TIMESTAMPTZ), 'v': CAST(0 AS BIGINT)}"
    assert f"ASOF LEFT JOIN {PLAIN_VIEW} AS {PLAIN_VIEW}" in sql
    assert f"{entity_side} >= {PLAIN_VIEW}.__fsql_order" in sql
    plain = next(
        cte
        for cte in sqlglot.parse_one(sql, read="duckdb").find_all(exp.CTE)
        if cte.alias == PLAIN_VIEW
    )
    assert "ROW_NUMBER" not in plain.sql("duckdb")


def test_snowflake_view_files_do_not_depend_on_the_strategy() -> None:
    """One golden set of Snowflake view files stands for both strategies."""
    project = warehouse_sources(load_project(REPO))
    asof, window = (
        compiled_files(compile_project(project, get_dialect("snowflake", strategy)))
        for strategy in SNOWFLAKE_STRATEGIES
    )
    assert asof == window


def test_snowflake_asof_training_sql_uses_match_condition() -> None:
    sql = GENERATED["snowflake/training_sets/asof/churn_model.sql"]
    assert sql.count("ASOF JOIN") == 1
    assert "ASOF LEFT" not in sql  # Snowflake's ASOF JOIN is left outer as written
    # The entity time stays on the left: Snowflake requires the left table's column first.
    assert f"MATCH_CONDITION (e.__fsql_ts >= {PLAIN_VIEW}.__fsql_feature_ts)" in sql
    # No OBJECT comparison in Snowflake's ASOF: ties are reduced before the join.
    assert "ROW_NUMBER" in sql
    assert "{" not in sql


def test_snowflake_window_training_sql_has_no_asof() -> None:
    sql = GENERATED["snowflake/training_sets/window/churn_model.sql"]
    assert "ASOF" not in sql
    assert "MATCH_CONDITION" not in sql
    assert "LAST_VALUE" not in sql  # it would carry an older value over a NULL
    assert sql.count("ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW") == 2
    assert "ORDER BY __fsql_at ASC NULLS FIRST, __fsql_is_entity ASC NULLS FIRST" in sql


def test_snowflake_materialization_ranks_rows() -> None:
    """Snowflake has no STRUCT order for arg_max: the latest row per key is ranked."""
    for rel, sql in GENERATED.items():
        if rel.startswith("snowflake/") and "/materialize_" in rel:
            assert "QUALIFY" in sql and "ROW_NUMBER()" in sql, rel
            assert "ARG_MAX" not in sql.upper(), rel


BIGQUERY_SQL = {rel: sql for rel, sql in GENERATED.items() if rel.startswith("bigquery/")}


def test_bigquery_training_sql_is_the_window_plan() -> None:
    sql = GENERATED["bigquery/training_sets/churn_model.sql"]
    assert "ASOF" not in sql.upper() and "MATCH_CONDITION" not in sql
    assert "LAST_VALUE" not in sql  # it would carry an older value over a NULL
    assert sql.count("ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW") == 2
    assert "FROM `my-project`.`fsql`.`user_features` AS `f`" in sql


@pytest.mark.parametrize("rel", [r for r in sorted(BIGQUERY_SQL) if not r.endswith("model.sql")])
def test_bigquery_sql_is_timestamp_and_backticked(rel: str) -> None:
    """fsql's own SQL never writes DATETIME (a wall-clock time in BigQuery) and quotes
    every name it writes, as BigQuery reads it back."""
    tree = sqlglot.parse_one(BIGQUERY_SQL[rel], read="bigquery")
    assert all(i.quoted for i in tree.find_all(exp.Identifier)), rel
    if rel.endswith("table.sql"):
        # The model (DuckDB SQL) may say TIMESTAMP, a wall-clock time; fsql's casts of
        # the view's columns around it are instants.
        replace = tree.find(exp.Star).args["replace"]
        casts = [c.this.to for c in replace]
        assert exp.DataType.Type.TIMESTAMPTZ in {c.this for c in casts}
    else:
        casts = [c.to for c in tree.find_all(exp.Cast)]
    assert exp.DataType.Type.TIMESTAMP not in {c.this for c in casts}, rel
    if "training_sets" in rel:
        assert "DATETIME" not in BIGQUERY_SQL[rel]


def test_bigquery_window_order_keeps_explicit_null_order() -> None:
    """BigQuery text omits NULLS FIRST on ASC (its default); read back as BigQuery and
    written for DuckDB, the running max sorts exactly as fsql's tree says."""
    sql = GENERATED["bigquery/training_sets/churn_model.sql"]
    duck = sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]
    order = 'ORDER BY "__fsql_at" ASC NULLS FIRST, "__fsql_is_entity" ASC NULLS FIRST ROWS'
    assert duck.count(order) == 2
    tree = sqlglot.parse_one(sql, read="bigquery")
    for window in tree.find_all(exp.Window):
        for key in window.args["order"].expressions:
            assert key.args.get("nulls_first") is not None, window.sql("bigquery")


def test_bigquery_sql_passes_its_lint() -> None:
    from fsql.compile.lint import lint_bigquery

    for rel, sql in BIGQUERY_SQL.items():
        if not rel.endswith("model.sql"):
            assert lint_bigquery(sqlglot.parse_one(sql, read="bigquery"), rel) == []
