"""Incremental builds: MERGE into a current table, a full rebuild whenever it is not.

Each test runs on DuckDB, on Snowflake (fakesnow serving the real connector) and on
BigQuery (crucible-emulator, the real client): the raw table is a parquet file for DuckDB
and a warehouse table, re-uploaded to append rows, for the warehouses. A row that
changed in the raw data but is not re-read by the incremental filter keeps its old value
in the table: that is how these tests tell a merge from a rebuild.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fsql import FeatureStore
from fsql.errors import RunError
from tests.support.project_factory import (
    ViewSpec,
    join_keys_of,
    make_project,
    raw_table,
    upload_raw,
    write_raw,
)

ENTITIES = {"user": ["user_id"]}
NEWER = "where event_timestamp > (select max(event_timestamp) from {{ this }})"
AT_LEAST = "where event_timestamp >= (select max(event_timestamp) from {{ this }})"


def model(filter_sql: str, extra: str = "") -> str:
    return (
        f"select user_id, event_timestamp, created_ts, spend{extra}\n"
        "from {{ source('raw', 'spend_raw') }}\n"
        f"{{% if is_incremental() %}} {filter_sql} {{% endif %}}\n"
    )


def at(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def row(user: int, day: int, spend: Any, created: int | None = None) -> dict[str, Any]:
    return {
        "user_id": user,
        "event_timestamp": at(day),
        "created_ts": None if created is None else at(created),
        "spend": spend,
    }


FIRST = [row(1, 1, 10.0), row(2, 1, 20.0, created=2), row(1, 2, 11.0)]


class Project:
    """One `incremental` view `spend` over a raw table the test rewrites between builds."""

    def __init__(self, root: Path, offline: dict[str, Any] | None, sql: str) -> None:
        self.root = root
        self.offline = offline
        self.spec = ViewSpec(
            name="spend",
            entities=["user"],
            features=[("spend", "float64")],
            rows=list(FIRST),
            created_col="created_ts",
            sql=sql,
            extra_yaml={"materialized": "incremental"},
        )
        make_project(root, [self.spec], ENTITIES, offline=offline)
        self.lines: list[str] = []

    def set_rows(
        self, rows: list[dict[str, Any]], columns: list[tuple[str, str]] | None = None
    ) -> None:
        """Replace the raw rows; `columns` are the raw columns after the timestamps."""
        spec = dataclasses.replace(self.spec, rows=rows, features=columns or self.spec.features)
        keys = join_keys_of(spec, ENTITIES)
        if self.offline:
            upload_raw(self.offline, "spend_raw", raw_table(spec, keys))
        else:
            write_raw(self.root / "data" / "spend_raw.parquet", spec, keys)

    def set_sql(self, sql: str) -> None:
        (self.root / "models" / "spend.sql").write_text(sql)

    def build(self, full_refresh: bool = False) -> str:
        """Build with a fresh store (a new process would); return the view's progress line."""
        self.lines = []
        with FeatureStore(project_dir=self.root) as store:
            store.build(["spend"], self.lines.append, full_refresh=full_refresh)
        return self.lines[-1]

    def table(self) -> list[tuple[Any, ...]]:
        with FeatureStore(project_dir=self.root) as store:
            data = store.offline.fetch_arrow(
                "select user_id, event_timestamp, created_ts, spend from spend"
            )
        return sorted(
            (r["user_id"], r["event_timestamp"], r["created_ts"], r["spend"])
            for r in data.to_pylist()
        )

    def state(self) -> tuple[str, datetime]:
        with FeatureStore(project_dir=self.root) as store:
            data = store.offline.fetch_arrow(
                "select content_hash, built_at from fsql_build_state where view_name = 'spend'"
            )
        (only,) = data.to_pylist()
        return only["content_hash"], only["built_at"]


def expected(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["user_id"], r["event_timestamp"], r["created_ts"], r["spend"]) for r in rows)


@pytest.fixture(params=["duckdb", "snowflake", "bigquery"])
def offline(request: pytest.FixtureRequest) -> Iterator[dict[str, Any] | None]:
    """None for DuckDB (the factory's default), a Snowflake block on fakesnow, or a
    BigQuery block on crucible-emulator (with a dataset of its own)."""
    if request.param == "duckdb":
        yield None
    elif request.param == "snowflake":
        from tests.support.fakesnow_server import profile_block

        yield profile_block(request.getfixturevalue("fakesnow_server"))
    else:
        from tests.support import bigquery_emulator

        server = request.getfixturevalue("bigquery_emulator")
        block = bigquery_emulator.profile_block(server, parameters="inline")
        client = bigquery_emulator.client(server)
        client.create_dataset(block["dataset"])
        yield block
        client.delete_dataset(block["dataset"], delete_contents=True, not_found_ok=True)
        client.close()


def test_new_rows_are_merged_and_old_rows_left_alone(
    tmp_path: Path, offline: dict[str, Any] | None
) -> None:
    project = Project(tmp_path, offline, model(NEWER))
    assert project.build() == "[1/1] building spend (full: never built)"
    assert project.table() == expected(FIRST)

    # user 1's first row changes in the raw data, but the filter only reads newer rows
    newer = [row(1, 3, 12.0), row(3, 3, 30.0, created=3)]
    project.set_rows([row(1, 1, 99.0), *FIRST[1:], *newer])
    assert project.build() == "[1/1] building spend (incremental merge)"
    assert project.table() == expected([*FIRST, *newer])

    with FeatureStore(project_dir=tmp_path) as store:
        assert store.ensure_built(["spend"]) == []  # current: a training set rebuilds nothing


def test_a_restated_row_version_is_updated_not_duplicated(
    tmp_path: Path, offline: dict[str, Any] | None
) -> None:
    project = Project(tmp_path, offline, model(AT_LEAST))
    project.build()
    # the latest version (user 1, day 2, no created time) re-stated with a new value,
    # twice over: one source row per version goes into the MERGE
    late = [row(1, 2, 15.0), row(1, 2, 15.0), row(4, 2, 40.0)]
    project.set_rows([*FIRST[:2], *late])
    assert project.build() == "[1/1] building spend (incremental merge)"
    assert project.table() == expected([*FIRST[:2], row(1, 2, 15.0), row(4, 2, 40.0)])


def test_a_changed_definition_rebuilds_in_full(
    tmp_path: Path, offline: dict[str, Any] | None
) -> None:
    project = Project(tmp_path, offline, model(NEWER))
    project.build()
    changed = [row(1, 1, 99.0), *FIRST[1:]]
    project.set_rows(changed)
    project.set_sql(model(NEWER, extra=", 1 as version"))
    assert project.build() == "[1/1] building spend (full: definition changed)"
    assert project.table() == expected(changed)
    assert project.build() == "[1/1] building spend (incremental merge)"


def test_full_refresh_rebuilds_in_full(tmp_path: Path, offline: dict[str, Any] | None) -> None:
    project = Project(tmp_path, offline, model(NEWER))
    project.build()
    changed = [row(1, 1, 99.0), *FIRST[1:], row(1, 5, 1.0)]
    project.set_rows(changed)
    assert project.build(full_refresh=True) == "[1/1] building spend (full: --full-refresh)"
    assert project.table() == expected(changed)


def test_a_failed_merge_leaves_table_and_state_as_they_were(
    tmp_path: Path, offline: dict[str, Any] | None
) -> None:
    project = Project(tmp_path, offline, model(NEWER))
    project.build()
    before_table, before_state = project.table(), project.state()
    # spend arrives as text, and a newer row's cannot be cast to the declared float64
    as_text = [{**r, "spend": str(r["spend"])} for r in FIRST]
    project.set_rows([*as_text, row(1, 9, "not a number")], [("spend", "string")])
    with pytest.raises(RunError) as failed:
        project.build()
    assert project.lines == ["[1/1] building spend (incremental merge)"]
    assert "view 'spend' failed to build" in failed.value.message
    assert "table_incremental.sql" in (failed.value.hint or "")
    assert project.table() == before_table
    assert project.state() == before_state


def test_a_failed_build_leaves_no_transaction_open(
    tmp_path: Path, offline: dict[str, Any] | None
) -> None:
    """The failed merge is rolled back on the store's own connection, which goes on
    working: the next build in the same store merges as if nothing had happened."""
    project = Project(tmp_path, offline, model(NEWER))
    project.build()
    as_text = [{**r, "spend": str(r["spend"])} for r in FIRST]
    project.set_rows([*as_text, row(1, 9, "not a number")], [("spend", "string")])
    lines: list[str] = []
    with FeatureStore(project_dir=tmp_path) as store:
        with pytest.raises(RunError):
            store.build(["spend"], lines.append)
        newer = [row(1, 3, 12.0)]
        project.set_rows([*FIRST, *newer])
        store.build(["spend"], lines.append)
    assert lines[-1] == "[1/1] building spend (incremental merge)"
    assert project.table() == expected([*FIRST, *newer])


def test_a_parent_rebuilt_for_a_new_definition_rebuilds_its_children(
    tmp_path: Path, offline: dict[str, Any] | None
) -> None:
    base = ViewSpec(
        name="base",
        entities=["user"],
        features=[("spend", "float64")],
        rows=list(FIRST),
        created_col="created_ts",
    )
    child = ViewSpec(
        name="child",
        entities=["user"],
        features=[("spend", "float64")],
        created_col="created_ts",
        sql=(
            "select user_id, event_timestamp, created_ts, spend from {{ ref('base') }}\n"
            f"{{% if is_incremental() %}} {NEWER} {{% endif %}}\n"
        ),
        extra_yaml={"materialized": "incremental"},
    )
    make_project(tmp_path, [base, child], ENTITIES, offline=offline)

    def build() -> list[str]:
        lines: list[str] = []
        with FeatureStore(project_dir=tmp_path) as store:
            store.run(progress=lines.append)
        return [line for line in lines if "building" in line]

    assert build() == ["[1/2] building base", "[2/2] building child (full: never built)"]
    # `base` is a table view: rebuilt on every run, but from the same definition
    assert build() == ["[1/2] building base", "[2/2] building child (incremental merge)"]
    (tmp_path / "models" / "base.sql").write_text(
        "select user_id, event_timestamp, created_ts, spend * 2 as spend\n"
        "from {{ source('raw', 'base_raw') }}\n"
    )
    assert build() == ["[1/2] building base", "[2/2] building child (full: parent rebuilt)"]


def test_a_model_selecting_star_merges_over_its_tables_columns(
    tmp_path: Path, offline: dict[str, Any] | None
) -> None:
    """Only the table knows a `select *` model's columns (here an undeclared `note`)."""
    star = "select * from {{ source('raw', 'spend_raw') }}\n{% if is_incremental() %} "
    project = Project(tmp_path, offline, star + NEWER + " {% endif %}\n")
    columns = [("spend", "float64"), ("note", "string")]
    project.set_rows([{**r, "note": "first"} for r in FIRST], columns)
    project.build()
    newer = [{**row(5, 4, 50.0), "note": "newer"}]
    project.set_rows([*({**r, "note": "changed"} for r in FIRST), *newer], columns)
    assert project.build() == "[1/1] building spend (incremental merge)"
    assert project.table() == expected([*FIRST, *newer])
    with FeatureStore(project_dir=tmp_path) as store:
        notes = store.offline.fetch_arrow("select note from spend").column(0).to_pylist()
    assert sorted(notes) == ["first"] * len(FIRST) + ["newer"]
