"""The DuckDB adapter's session: what every compiled query relies on."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from fsql.adapters.duckdb import DuckDBAdapter
from fsql.compile.statements import transaction_sql
from fsql.dialects.duckdb import DUCKDB


def _setting(adapter: DuckDBAdapter, name: str) -> object:
    setting = exp.Anonymous(this="current_setting", expressions=[exp.Placeholder(this="name")])
    statement = DUCKDB.statement(exp.select(setting.as_("v")))
    table = adapter.fetch_arrow(statement, {"name": name})
    return table.column("v")[0].as_py()


def test_session_is_utc_quiet_and_bounded(tmp_path: Path) -> None:
    adapter = DuckDBAdapter.from_config(
        {"path": "target/x.duckdb", "threads": 1, "memory_limit": "256MB"}, tmp_path
    )
    assert (tmp_path / "target" / "x.duckdb").is_file()  # relative to the project
    assert _setting(adapter, "TimeZone") == "UTC"
    # fsql prints its own progress; DuckDB's bar would interleave with it on stderr
    assert _setting(adapter, "enable_progress_bar") is False
    assert _setting(adapter, "threads") == 1
    assert _setting(adapter, "memory_limit").replace(" ", "") in {"244.1MiB", "256.0MB"}


def test_relative_file_paths_resolve_against_the_project(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a\n1\n2\n")
    adapter = DuckDBAdapter.from_config({}, tmp_path)
    table = adapter.fetch_arrow("SELECT sum(a) AS s FROM read_csv('data/x.csv')")
    assert table.column("s")[0].as_py() == 3


class _Recording(DuckDBAdapter):
    """The DuckDB adapter, noting every statement `execute` runs before running it."""

    def __init__(self, root: Path) -> None:
        self.ran: list[str] = []
        super().__init__(None, root)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.ran.append(sql)
        super().execute(sql, params)


def _count(adapter: DuckDBAdapter, table: str) -> int:
    return int(adapter.fetch_arrow(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py())


def test_a_transaction_commits_its_statements(tmp_path: Path) -> None:
    adapter = _Recording(tmp_path)
    with adapter.transaction():
        adapter.execute("CREATE TABLE t AS SELECT 1 AS a")
        adapter.execute("INSERT INTO t VALUES (2)")
    assert _count(adapter, "t") == 2
    # transaction control is sqlglot's DuckDB spelling, built once in fsql.compile
    assert adapter.ran[0] == transaction_sql("duckdb").begin == "BEGIN"
    assert adapter.ran[-1] == transaction_sql("duckdb").commit == "COMMIT"
    assert len(adapter.ran) == 4


@pytest.mark.parametrize("failure", ["sql", "python"])
def test_a_failed_transaction_rolls_back_and_raises(tmp_path: Path, failure: str) -> None:
    adapter = _Recording(tmp_path)
    adapter.execute("CREATE TABLE t (a INTEGER)")
    error = duckdb.CatalogException if failure == "sql" else ValueError
    with pytest.raises(error):
        with adapter.transaction():
            adapter.execute("INSERT INTO t VALUES (1)")
            adapter.execute("CREATE TABLE u AS SELECT 1 AS a")
            if failure == "sql":
                adapter.execute("INSERT INTO missing VALUES (1)")
            raise ValueError("the block failed")
    assert adapter.ran[-1] == "ROLLBACK"
    assert _count(adapter, "t") == 0
    assert adapter.table_schema("u") is None
    with adapter.transaction():  # nothing left open: a new transaction begins
        adapter.execute("INSERT INTO t VALUES (3)")
    assert _count(adapter, "t") == 1


def test_without_transactions_the_block_runs_as_it_is(tmp_path: Path) -> None:
    class Autocommit(_Recording):
        transactions = False  # as BigQuery: each statement commits on its own

    adapter = Autocommit(tmp_path)
    with pytest.raises(ValueError):
        with adapter.transaction():
            adapter.execute("CREATE TABLE t AS SELECT 1 AS a")
            raise ValueError("the block failed")
    assert adapter.ran == ["CREATE TABLE t AS SELECT 1 AS a"]
    assert _count(adapter, "t") == 1


def test_table_schema_is_none_for_a_missing_table(tmp_path: Path) -> None:
    adapter = DuckDBAdapter(None, tmp_path)
    assert adapter.table_schema("t") is None
    adapter.execute("CREATE TABLE t (a INTEGER, b VARCHAR)")
    schema = adapter.table_schema("t")
    assert schema is not None and schema.names == ["a", "b"]


def test_a_memory_budget_lowers_the_limit_for_its_block_only(tmp_path: Path) -> None:
    adapter = DuckDBAdapter.from_config({"path": "x.duckdb", "memory_limit": "2GB"}, tmp_path)
    with adapter.memory_budget(300):
        assert _setting(adapter, "memory_limit") == "300.0 MiB"
    profile = _setting(adapter, "memory_limit")
    with pytest.raises(RuntimeError), adapter.memory_budget(300):
        raise RuntimeError("a failed read")
    with adapter.memory_budget(300), adapter.memory_budget(400):
        assert _setting(adapter, "memory_limit") == "300.0 MiB"
    assert _setting(adapter, "memory_limit") == profile
    tight = DuckDBAdapter.from_config({"path": "y.duckdb", "memory_limit": "100MB"}, tmp_path)
    with tight.memory_budget(300):  # never raised above the profile's own limit
        assert _setting(tight, "memory_limit").replace(" ", "") in {"95.3MiB", "100.0MB"}
