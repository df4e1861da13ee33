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


CHANGES = {
    "insert": "INSERT INTO raw.events VALUES (3, 'c')",
    "update in place": "UPDATE raw.events SET name = 'B' WHERE id = 2",
    "delete": "DELETE FROM raw.events WHERE id = 1",
    "replace, same row count": "CREATE OR REPLACE TABLE raw.events AS "
    "SELECT * FROM (VALUES (7, 'x'), (8, 'y')) AS v(id, name)",
    "duplicate row": "INSERT INTO raw.events VALUES (8, 'y')",
}


def test_table_fingerprint_follows_every_change(tmp_path: Path) -> None:
    adapter = DuckDBAdapter.from_config({}, tmp_path)
    adapter.execute("CREATE SCHEMA raw")
    adapter.execute(
        "CREATE TABLE raw.events AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name)"
    )
    first = adapter.table_fingerprint("raw.events")
    assert first is not None
    assert adapter.table_fingerprint("raw.events") == first  # nothing happened
    seen = [first]
    for what, statement in CHANGES.items():
        adapter.execute(statement)
        now = adapter.table_fingerprint("raw.events")
        assert now is not None and now not in seen, what
        seen.append(now)
    adapter.execute("CREATE TABLE plain AS SELECT 1 AS id")
    adapter.execute("CREATE VIEW recent AS SELECT id FROM raw.events")
    view = adapter.table_fingerprint("recent")
    assert adapter.table_fingerprint("plain") is not None  # unqualified: the main schema
    adapter.execute("INSERT INTO raw.events VALUES (9, 'z')")
    assert adapter.table_fingerprint("recent") not in (None, view)  # a view follows its rows
    assert adapter.table_fingerprint("missing") is None
    assert adapter.table_fingerprint("raw.missing") is None
    assert adapter.table_fingerprint("nowhere.events") is None
    adapter.close()
