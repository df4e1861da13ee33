"""The DuckDB adapter's session: what every compiled query relies on."""

from __future__ import annotations

from pathlib import Path

from fsql.adapters.duckdb import DuckDBAdapter


def _setting(adapter: DuckDBAdapter, name: str) -> object:
    table = adapter.fetch_arrow("SELECT current_setting($name) AS v", {"name": name})
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


