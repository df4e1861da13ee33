"""The BigQuery lint: SQL that sqlglot writes for BigQuery without complaint, and that
BigQuery itself rejects, fails compile with one line naming where it came from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlglot

from fsql.compile.lint import check_dialect, lint_bigquery
from fsql.dialects import get_dialect
from fsql.dialects.bigquery import BIGQUERY
from fsql.errors import ProjectError
from tests.support.bigquery_compile import bigquery_project as _project
from tests.support.bigquery_compile import compile_bigquery

GOOD = [
    # the window plan's shape: typed stacks, a ROWS frame
    "SELECT k, CAST(ts AS TIMESTAMP) AS at, CAST(NULL AS TIMESTAMP) AS f, 1 AS e FROM a "
    "UNION ALL SELECT k, CAST(ts AS TIMESTAMP), CAST(ts AS TIMESTAMP), 0 FROM b",
    "SELECT MAX(f) OVER (PARTITION BY k ORDER BY at ROWS BETWEEN UNBOUNDED PRECEDING "
    "AND CURRENT ROW) FROM s",
    # numeric RANGE frames, integer/float/NULL/string-literal branches BigQuery coerces
    "SELECT SUM(x) OVER (ORDER BY UNIX_MICROS(ts) RANGE BETWEEN 1000 PRECEDING "
    "AND CURRENT ROW) FROM t",
    "SELECT 1 AS n, NULL AS z, CURRENT_TIMESTAMP() AS t FROM a "
    "UNION ALL SELECT 2.5, 'x', '2024-01-01 00:00:00+00' FROM b",
    # columns of unknown tables: no type to compare
    "SELECT a FROM t UNION ALL SELECT CAST(b AS DATETIME) FROM u",
    "SELECT * FROM a LEFT JOIN b ON a.k = b.k",
]

BAD = [
    (
        "SELECT * FROM e ASOF LEFT JOIN f ON e.k = f.k AND e.ts >= f.ts",
        "duckdb",
        "ASOF join with f: bigquery has no ASOF join",
    ),
    (
        "SELECT * FROM e ASOF JOIN f MATCH_CONDITION (e.ts >= f.ts) ON e.k = f.k",
        "snowflake",
        "ASOF join with f",
    ),
    (
        "SELECT SUM(x) OVER (PARTITION BY k ORDER BY ts "
        "RANGE BETWEEN INTERVAL 29 DAY PRECEDING AND CURRENT ROW) FROM t",
        "bigquery",
        "window frame RANGE with an INTERVAL bound",
    ),
    (
        "SELECT CAST(a AS TIMESTAMP) AS ts FROM t UNION ALL SELECT CAST(a AS DATETIME) FROM u",
        "bigquery",
        "UNION branches give column 'ts' two types, TIMESTAMP and DATETIME",
    ),
    (
        "SELECT 1 AS n, CURRENT_DATE() AS d FROM t "
        "UNION ALL SELECT 2, CURRENT_TIMESTAMP() FROM u "
        "UNION ALL SELECT 3, CURRENT_DATE() FROM v",
        "bigquery",
        "UNION branches give column 'd' two types, DATE and TIMESTAMP",
    ),
    (
        "SELECT * FROM (SELECT CAST(a AS TIMESTAMP) AS ts FROM t "
        "UNION DISTINCT SELECT CAST(a AS DATETIME) FROM u) AS s",
        "bigquery",
        "UNION branches give column 'ts'",
    ),
]


@pytest.mark.parametrize("sql", GOOD)
def test_good_sql_passes(sql: str) -> None:
    assert lint_bigquery(sqlglot.parse_one(sql, read="bigquery"), "view 'v'") == []


@pytest.mark.parametrize(("sql", "read", "problem"), BAD)
def test_bad_sql_fails_naming_the_problem(sql: str, read: str, problem: str) -> None:
    tree = sqlglot.parse_one(sql, read=read)
    problems = lint_bigquery(tree, "view 'v' (table)")
    assert len(problems) == 1, problems
    assert problems[0].startswith("view 'v' (table): ")
    assert problem in problems[0]
    with pytest.raises(ProjectError) as info:
        check_dialect(tree, BIGQUERY, "view 'v' (table)", file="models/v.sql")
    line = info.value.render()
    assert "\n" not in line
    assert line.startswith("models/v.sql: view 'v' (table) compiles to SQL bigquery rejects")
    assert problem in line


def test_every_problem_is_counted_in_one_line() -> None:
    sql = BAD[0][0] + " UNION ALL " + BAD[0][0]
    with pytest.raises(ProjectError, match=r"has no ASOF join \(and 1 more\)"):
        check_dialect(sqlglot.parse_one(sql, read="duckdb"), BIGQUERY, "training set")


def test_dialects_without_rules_are_not_linted() -> None:
    tree = sqlglot.parse_one(BAD[0][0], read="duckdb")
    check_dialect(tree, get_dialect("duckdb"), "training set")  # DuckDB runs ASOF joins


def test_the_lint_leaves_the_tree_alone() -> None:
    tree = sqlglot.parse_one(BAD[3][0], read="bigquery")
    before = tree.sql("bigquery"), [node.type for node in tree.walk()]
    lint_bigquery(tree, "x")
    assert (tree.sql("bigquery"), [node.type for node in tree.walk()]) == before


def test_training_query_is_linted(tmp_path: Path) -> None:
    """point_in_time_query lints what it returns: told to use an ASOF plan, a dialect
    with BigQuery's rules fails compile instead of sending BigQuery an ASOF join."""
    project = _project(tmp_path)
    compiled = compile_bigquery(project)
    items = compiled.select_features(["v:x"], False).items
    compiled.training_query(items)  # the window plan passes
    asof = dataclasses.replace(BIGQUERY, pit_strategy="asof", pit_strategies=("asof",))
    compiled = compile_bigquery(project, dialect=asof)
    with pytest.raises(ProjectError, match=r"training set \(v\) compiles to .*ASOF join"):
        compiled.training_query(items)
