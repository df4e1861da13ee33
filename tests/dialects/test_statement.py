"""Statements written once for an engine: the values they bind, and uploads they read."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from fsql.dialects.bigquery import BIGQUERY, inline_values
from fsql.dialects.duckdb import DUCKDB
from fsql.dialects.snowflake import SNOWFLAKE
from fsql.dialects.statement import prepare, read_upload
from fsql.errors import RunError


def _window() -> exp.Select:
    """`ts` between `start` and `end`, `end` used twice: how compiled plans name values."""
    ts = exp.column("ts")
    end = exp.Placeholder(this="end")
    return (
        exp.select("k")
        .from_("t")
        .where(
            exp.and_(
                exp.LTE(this=ts.copy(), expression=end),
                exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="start")),
                exp.NEQ(this=exp.column("u"), expression=end.copy()),
            )
        )
    )


def test_named_engines_bind_the_names_the_text_uses() -> None:
    statement = DUCKDB.statement(_window())
    assert statement.text == "SELECT k FROM t WHERE ts <= $end AND ts >= $start AND u <> $end"
    assert statement.parameters == ("end", "start")
    assert not statement.numbered
    # Only the values the text uses are sent; a missing one is a bug, said in one line.
    assert statement.values({"start": 1, "end": 2, "unused": 3}) == {"end": 2, "start": 1}
    with pytest.raises(RunError, match="'start' has no value"):
        statement.values({"end": 2})
    assert BIGQUERY.statement(_window()).text.endswith("ts >= @start AND u <> @end")


def test_numbered_engines_bind_one_number_per_name_in_order() -> None:
    tree = _window()
    statement = SNOWFLAKE.statement(tree)
    assert statement.text == "SELECT k FROM t WHERE ts <= :1 AND ts >= :2 AND u <> :1"
    assert statement.parameters == ("end", "start")
    assert statement.values({"start": "s", "end": "e", "unused": 0}) == ["e", "s"]
    # The tree given is left as it was: plans keep their named placeholders.
    assert tree.sql(dialect="snowflake").endswith("ts >= :start AND u <> :end")
    assert prepare(exp.select("1"), "snowflake", numbered=True).parameters == ()


def test_values_run_on_duckdb_as_bound_parameters() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS FROM (VALUES (1, 5, 0), (2, 9, 7), (3, 1, 0)) v(k, ts, u)")
    statement = DUCKDB.statement(_window().order_by("k"))
    rows = con.execute(statement.text, statement.values({"start": 2, "end": 9})).fetchall()
    assert rows == [(1,), (2,)]


def test_inline_values_write_typed_literals_into_the_compiled_tree() -> None:
    statement = BIGQUERY.statement(_window())
    text = inline_values(statement, {"end": datetime(2024, 1, 2, 8), "start": "x' OR 1=1 --"})
    assert "@" not in text
    assert "CAST('2024-01-02T08:00:00+00:00' AS TIMESTAMP)" in text
    assert "'x\\' OR 1=1 --'" in text  # a quoted value, not SQL
    assert inline_values(BIGQUERY.statement(exp.select("1")), {"end": 1}) == "SELECT 1"


def _parse(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read="duckdb")


def test_read_upload_points_unqualified_references_at_the_upload() -> None:
    real = exp.table_("up_1a2b", "ds", "proj", quoted=True)
    tree = _parse("SELECT e.k, u.v FROM ents AS e JOIN ents ON ents.k = e.k JOIN d.ents AS u ON 1")
    pointed = read_upload(tree, "ents", real)
    assert pointed.sql(dialect="bigquery") == (
        "SELECT e.k, u.v FROM `proj`.`ds`.`up_1a2b` AS e "
        "JOIN `proj`.`ds`.`up_1a2b` AS ents ON ents.k = e.k JOIN d.ents AS u ON 1"
    )
    assert tree.sql() == _parse(tree.sql()).sql()  # the tree given is not changed
    assert "up_1a2b" not in tree.sql()
    # A CTE of that name is the query's own; the same table needs no rewrite.
    cte = _parse("WITH ents AS (SELECT 1 AS k) SELECT k FROM ents")
    assert read_upload(cte, "ents", real) is cte
    same = exp.Table(this=exp.to_identifier("ents"))
    assert read_upload(tree, "ents", same) is tree


def test_read_upload_runs_against_the_registered_rows() -> None:
    con = duckdb.connect()
    con.register("upload_7", pa.table({"k": [1, 2], "v": ["a", "b"]}))
    tree = _parse("SELECT ents.v FROM ents WHERE ents.k = 2")
    upload = exp.Table(this=exp.to_identifier("upload_7"))
    assert con.execute(read_upload(tree, "ents", upload).sql(dialect="duckdb")).fetchall() == [
        ("b",)
    ]
