"""Table fingerprints follow every change of a table's rows, on every engine.

Build state compares a warehouse source's fingerprint (`OfflineAdapter.table_fingerprint`)
with the one recorded when views were built: a change it misses is a training set read
from a stale table. One suite, run on DuckDB, Snowflake (fakesnow) and BigQuery
(crucible) through fixtures; each engine gives only its own SQL for the changes (the
BigQuery emulator has no UPDATE or DELETE: MERGE does both, as BigQuery's own would).
On the stand-ins the adapters fall back to their content checksums (neither keeps a
modification time); the metadata paths of the real warehouses are unit-tested in each
adapter's module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fsql.adapters.base import OfflineAdapter

STANDARD = {
    "insert": "INSERT INTO {t} (id, name) VALUES (3, 'c')",
    "update in place": "UPDATE {t} SET name = 'B' WHERE id = 2",
    "delete": "DELETE FROM {t} WHERE id = 1",
    "replace, same row count": "CREATE OR REPLACE TABLE {t} AS "
    "SELECT 7 AS id, 'x' AS name UNION ALL SELECT 8, 'y'",
    "duplicate row": "INSERT INTO {t} (id, name) VALUES (8, 'y')",
}
BIGQUERY = {
    **STANDARD,
    "update in place": "MERGE INTO {t} AS t USING (SELECT 2 AS id) AS s ON t.id = s.id "
    "WHEN MATCHED THEN UPDATE SET name = 'B'",
    "delete": "MERGE INTO {t} AS t USING (SELECT 1 AS id) AS s ON t.id = s.id "
    "WHEN MATCHED THEN DELETE",
}


@dataclass
class Engine:
    adapter: OfflineAdapter
    table: str  # the table's name as a source's identifier: would write it
    same_table: list[str]  # other spellings of the same table
    missing: list[str]  # names of tables that do not exist
    changes: dict[str, str]


def _duckdb(tmp_path: Path) -> Engine:
    from fsql.adapters.duckdb import DuckDBAdapter

    adapter = DuckDBAdapter.from_config({}, tmp_path)
    adapter.execute("CREATE SCHEMA raw")
    return Engine(
        adapter, "raw.events", ['"raw"."events"'], ["raw.missing", "nowhere.events"], STANDARD
    )


def _snowflake(request: pytest.FixtureRequest) -> Engine:
    adapter = request.getfixturevalue("snowflake_adapter")
    profile = request.getfixturevalue("snowflake_profile")
    database, schema = profile["database"], profile["schema"]
    return Engine(
        adapter,
        "events",
        [f"{schema}.events", f"{database}.{schema}.EVENTS", f'"{schema.upper()}"."EVENTS"'],
        [f"{schema}.missing", "no_such_schema.events", "no_such_db.no_such_schema.events"],
        STANDARD,
    )


def _bigquery(request: pytest.FixtureRequest) -> Engine:
    adapter = request.getfixturevalue("bigquery_adapter")
    profile = request.getfixturevalue("bigquery_profile")
    project, dataset = profile["project"], profile["dataset"]
    return Engine(
        adapter,
        "events",
        [f"{dataset}.events", f"{project}.{dataset}.events", f"`{project}.{dataset}.events`"],
        [f"{dataset}.missing", "no_such_dataset.events"],
        BIGQUERY,
    )


ENGINES: dict[str, Callable[[pytest.FixtureRequest, Path], Engine]] = {
    "duckdb": lambda request, tmp_path: _duckdb(tmp_path),
    "snowflake": lambda request, tmp_path: _snowflake(request),
    "bigquery": lambda request, tmp_path: _bigquery(request),
}


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    made = ENGINES[request.param](request, tmp_path)
    yield made
    if request.param == "duckdb":
        made.adapter.close()


def test_a_fingerprint_follows_every_change_of_the_rows(engine: Engine) -> None:
    adapter, t = engine.adapter, engine.table
    adapter.execute(
        f"CREATE OR REPLACE TABLE {t} AS SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b'"
    )
    first = adapter.table_fingerprint(t)
    assert first is not None
    assert adapter.table_fingerprint(t) == first  # nothing happened: nothing changes
    seen = [first]
    for what, statement in engine.changes.items():
        adapter.execute(statement.format(t=t))
        now = adapter.table_fingerprint(t)
        assert now is not None and now not in seen, what
        seen.append(now)
    for name in engine.same_table:
        assert adapter.table_fingerprint(name) == seen[-1], name


def test_a_view_follows_its_rows_and_missing_tables_have_none(engine: Engine) -> None:
    adapter, t = engine.adapter, engine.table
    adapter.execute(f"CREATE OR REPLACE TABLE {t} AS SELECT 1 AS id, 'a' AS name")
    adapter.execute(f"CREATE OR REPLACE VIEW recent AS SELECT id FROM {t}")
    before = adapter.table_fingerprint("recent")
    adapter.execute(f"INSERT INTO {t} (id, name) VALUES (9, 'z')")
    assert adapter.table_fingerprint("recent") not in (None, before)
    assert adapter.table_fingerprint("missing") is None
    for name in engine.missing:
        assert adapter.table_fingerprint(name) is None, name
