"""Warehouse SQL run on DuckDB, for the plans no local engine runs faithfully.

- Snowflake's ASOF plan: fakesnow cannot parse `ASOF JOIN ... MATCH_CONDITION`. The
  training SQL compiled for Snowflake is taken as text, parsed as Snowflake SQL, and only
  its ASOF joins are rewritten: `MATCH_CONDITION (e.ts >= f.ts) ON keys` (left outer in
  Snowflake) becomes DuckDB's `ASOF LEFT JOIN ... ON keys AND e.ts >= f.ts`, which means
  the same. Everything else (the tie reduction by ROW_NUMBER, the pruning CTEs, the TTL
  CASE) runs as Snowflake would run it, transpiled by sqlglot.
- BigQuery's window plan: no faithful BigQuery engine runs offline (the emulator is
  another reading of BigQuery; both are used). The SQL text is read back by sqlglot as
  BigQuery SQL and written as DuckDB SQL; nothing is rewritten by hand, so what runs is
  BigQuery's text (backticked names, TIMESTAMP casts, `INTERVAL n SECOND`, QUALIFY, the
  implicit null order of its window ORDER BY) as sqlglot understands it.

In both, only queries go through the round trip; view tables are built with DuckDB's SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from fsql.adapters.base import SQL
from fsql.adapters.duckdb import DuckDBAdapter
from fsql.compile.pit import ENTITY_ALIAS, ENTITY_TS
from fsql.dialects.statement import Statement


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


def bigquery_to_duckdb(bigquery_sql: str) -> str:
    """BigQuery SQL text as DuckDB SQL, through sqlglot alone (one statement)."""
    statements = sqlglot.transpile(bigquery_sql, read="bigquery", write="duckdb")
    assert len(statements) == 1, bigquery_sql
    return statements[0]


def _text(sql: SQL) -> str:
    """The warehouse's text: queries that reach these adapters bind no values."""
    if isinstance(sql, Statement):
        assert not sql.parameters, sql.text
        return sql.text
    return sql


class SnowflakeSqlOnDuckDB(DuckDBAdapter):
    """An in-memory DuckDB that answers the Snowflake training query, rewritten."""

    def fetch_arrow(self, sql: SQL, params: Mapping[str, Any] | None = None) -> pa.Table:
        return super().fetch_arrow(asof_to_duckdb(_text(sql)), params)


class BigQuerySqlOnDuckDB(DuckDBAdapter):
    """An in-memory DuckDB that answers BigQuery queries, transpiled by sqlglot."""

    def fetch_arrow(self, sql: SQL, params: Mapping[str, Any] | None = None) -> pa.Table:
        return super().fetch_arrow(bigquery_to_duckdb(_text(sql)), params)
