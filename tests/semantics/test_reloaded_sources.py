"""A reloaded source is never read stale: training sets and materialization see the new rows.

fsql fingerprints each view's inputs when it builds it (fsql/execute/inputs.py); every
command that reads a view's table first rebuilds the stale ones, in DAG order, and says
which and why. These tests load a source, read through fsql, RELOAD the source and read
again with no `fsql run` in between: the second answer must be the one over the new rows
(checked against the brute-force oracle and against values written out by hand), and
the rebuild must be announced on the store's `progress` callback.

Each runs on every engine `FeatureStore` runs on, through the `engine` fixture: DuckDB
(the source a parquet file, rewritten), Snowflake (fakesnow serving the real connector)
and BigQuery (crucible-emulator, the real client), where the source is a warehouse table
reloaded by `CREATE OR REPLACE TABLE ... AS SELECT`. The reload corrects a value,
deletes a row and appends one, so the table keeps its row count: a fingerprint that only
counted rows would miss it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fsql import FeatureStore
from tests.support.engine_runners import STORE_ENGINES, StoreEngine
from tests.support.oracle import (
    assert_columns_equal,
    assert_rows_equal,
    online_oracle,
    pit_oracle,
)
from tests.support.pit_cases import T0, USER, H, M, Row, entity_frame, expect, records
from tests.support.project_factory import (
    ViewSpec,
    join_keys_of,
    make_project,
    oracle_view,
    raw_table,
    upload_raw,
    write_raw,
)

FIRST: list[Row] = [
    {"user_id": 1, "event_timestamp": T0 - 3 * H, "x": 10},
    {"user_id": 1, "event_timestamp": T0 - H, "x": 11},
    {"user_id": 2, "event_timestamp": T0 - 2 * H, "x": 20},
    {"user_id": 2, "event_timestamp": T0 - H, "x": 21},
    {"user_id": 3, "event_timestamp": T0 - H, "x": 30},
]
# The reload: user 1's latest value corrected, user 2's latest row deleted (user 2 falls
# back to its older row), user 4 appended. Five rows before and after.
RELOADED: list[Row] = [
    {"user_id": 1, "event_timestamp": T0 - 3 * H, "x": 10},
    {"user_id": 1, "event_timestamp": T0 - H, "x": 111},
    {"user_id": 2, "event_timestamp": T0 - 2 * H, "x": 20},
    {"user_id": 3, "event_timestamp": T0 - H, "x": 30},
    {"user_id": 4, "event_timestamp": T0 - 30 * M, "x": 40},
]
ENTS: list[Row] = [
    {"user_id": 1, "event_timestamp": T0},
    {"user_id": 1, "event_timestamp": T0 - 2 * H},
    {"user_id": 2, "event_timestamp": T0},
    {"user_id": 3, "event_timestamp": T0},
    {"user_id": 4, "event_timestamp": T0},
    {"user_id": 4, "event_timestamp": T0 - H},
]


# --------------------------------------------------------------------------- engines

# The engines FeatureStore runs on: DuckDB (the factory's file database), Snowflake on the
# session's fakesnow server and BigQuery on the session's crucible-emulator, each project
# in a schema or dataset of its own (tests/support/engine_runners.py).
on_store_engines = pytest.mark.parametrize("engine", STORE_ENGINES, indirect=True)


def _builds(lines: list[str]) -> Callable[[str], None]:
    """A progress callback that keeps the build announcements (other progress, such as
    the join's, is not what these tests are about)."""

    def keep(message: str) -> None:
        if "building" in message:
            lines.append(message)

    return keep


def reload(root: Path, offline: dict[str, Any] | None, spec: ViewSpec, rows: list[Row]) -> None:
    """Replace the rows of `spec`'s raw table the way its owner would: rewrite the parquet
    file (DuckDB), or CREATE OR REPLACE the warehouse table (Snowflake, BigQuery)."""
    changed, keys = dataclasses.replace(spec, rows=rows), join_keys_of(spec, USER)
    if offline is None:
        write_raw(root / "data" / f"{spec.name}_raw.parquet", changed, keys)
    else:
        upload_raw(offline, f"{spec.name}_raw", raw_table(changed, keys))


def view_x(rows: list[Row], **kwargs: Any) -> ViewSpec:
    return ViewSpec(
        name="v",
        entities=["user"],
        features=[("x", "int64")],
        rows=rows,
        key_types={"user_id": "int64"},
        **kwargs,
    )


def times_ten(parent: str) -> ViewSpec:
    """A `table` child of `parent`: x10 = x * 10."""
    return ViewSpec(
        name="w",
        entities=["user"],
        features=[("x10", "int64")],
        sql=f"select user_id, event_timestamp, x * 10 as x10 from {{{{ ref('{parent}') }}}}\n",
    )


def x10_rows(rows: list[Row]) -> list[Row]:
    return [
        {"user_id": r["user_id"], "event_timestamp": r["event_timestamp"], "x10": r["x"] * 10}
        for r in rows
    ]


def expected_training(
    parent: ViewSpec, child: ViewSpec, rows: list[Row], values: Sequence[Sequence[Any]]
) -> list[Row]:
    """The hand-written answer over `rows`, checked against the oracle first."""
    views = [oracle_view(parent, USER, rows), oracle_view(child, USER, x10_rows(rows))]
    requested = [(parent.name, "x"), (child.name, "x10")]
    want = expect(ENTS, ["x", "x10"], values)
    assert_rows_equal(pit_oracle(ENTS, views, requested), want)  # the expectation is SPEC §2's
    return want


def training(store: FeatureStore, features: list[str]) -> list[Row]:
    frame = store.get_historical_features(entity_frame(ENTS), features).to_df()
    return records(frame)


# --------------------------------------------------------------------------- training sets


@on_store_engines
def test_a_reloaded_source_gives_the_new_training_set(tmp_path: Path, engine: StoreEngine) -> None:
    """Load, train, reload (corrected, deleted and appended rows), train again with no
    `fsql run`: the second training set is the answer over the reloaded rows, and the
    store says it rebuilt the source's view and, in DAG order, the child that reads it."""
    v, w = view_x(FIRST, ttl="1d"), times_ten("v")
    before = expected_training(
        v, w, FIRST, [[11, 110], [10, 100], [21, 210], [30, 300], [None, None], [None, None]]
    )
    after = expected_training(
        v, w, RELOADED, [[111, 1110], [10, 100], [20, 200], [30, 300], [40, 400], [None, None]]
    )
    offline = engine.offline_block()
    make_project(tmp_path, [v, w], USER, offline=offline)
    lines: list[str] = []
    with FeatureStore(project_dir=tmp_path, progress=_builds(lines)) as store:
        assert_rows_equal(training(store, ["v:x", "w:x10"]), before)
        assert lines == ["[1/2] building v (never built)", "[2/2] building w (never built)"]

        lines.clear()
        reload(tmp_path, offline, v, RELOADED)
        assert_rows_equal(training(store, ["v:x", "w:x10"]), after)
        assert lines == [
            "[1/2] building v (input changed: source raw.v_raw)",
            "[2/2] building w (input changed: view v)",
        ]
    # A new process over the same engine reads the same, and rebuilds nothing.
    lines.clear()
    with FeatureStore(project_dir=tmp_path, progress=_builds(lines)) as store:
        assert_rows_equal(training(store, ["v:x", "w:x10"]), after)
    assert lines == []


@on_store_engines
def test_an_unchanged_source_rebuilds_nothing(tmp_path: Path, engine: StoreEngine) -> None:
    """Two training sets in a row (in one store, then in a new one): the first builds the
    views, the later ones announce nothing and give the same rows; so the fingerprint of
    an untouched source is stable, and the reload test above is not passing by rebuilding
    on every read."""
    v, w = view_x(FIRST, ttl="1d"), times_ten("v")
    want = expected_training(
        v, w, FIRST, [[11, 110], [10, 100], [21, 210], [30, 300], [None, None], [None, None]]
    )
    offline = engine.offline_block()
    make_project(tmp_path, [v, w], USER, offline=offline)
    lines: list[str] = []
    with FeatureStore(project_dir=tmp_path, progress=_builds(lines)) as store:
        assert_rows_equal(training(store, ["v:x", "w:x10"]), want)
        assert len(lines) == 2
        lines.clear()
        assert_rows_equal(training(store, ["v:x", "w:x10"]), want)
        assert lines == []
        assert store.ensure_built(["w"]) == []
    with FeatureStore(project_dir=tmp_path, progress=_builds(lines)) as store:
        assert_rows_equal(training(store, ["v:x", "w:x10"]), want)
    assert lines == []


# --------------------------------------------------------------------------- materialize


APPENDED: list[Row] = [
    {"user_id": 1, "event_timestamp": T0 + H, "x": 12},
    {"user_id": 5, "event_timestamp": T0 + 30 * M, "x": 50},
]
ONLINE_KEYS = [{"user_id": u} for u in (1, 2, 3, 4, 5)]
NEWER = "where event_timestamp > (select max(event_timestamp) from {{ this }})"


@on_store_engines
@pytest.mark.parametrize("materialized", ["table", "incremental"])
def test_rows_appended_to_a_source_reach_the_online_store(
    tmp_path: Path, engine: StoreEngine, materialized: str
) -> None:
    """`materialize_incremental` after rows were appended to the source (no `fsql run`):
    the view is rebuilt (a `table` view) or merged into (an `incremental` one), and the
    appended rows are then served online, as the oracle reads them at END."""
    sql = None
    if materialized == "incremental":
        sql = (
            "select user_id, event_timestamp, x from {{ source('raw', 'v_raw') }}\n"
            f"{{% if is_incremental() %}} {NEWER} {{% endif %}}\n"
        )
    v = view_x(FIRST, online=True, sql=sql, extra_yaml={"materialized": materialized})
    offline = engine.offline_block()
    make_project(tmp_path, [v], USER, offline=offline)

    def served(store: FeatureStore) -> dict[str, list[Any]]:
        return store.get_online_features(["v:x"], ONLINE_KEYS).to_dict()

    def oracle(rows: list[Row], end: datetime) -> dict[str, list[Any]]:
        return online_oracle(ONLINE_KEYS, [oracle_view(v, USER, rows)], [("v", "x")], end)

    lines: list[str] = []
    with FeatureStore(project_dir=tmp_path, progress=_builds(lines)) as store:
        end = T0
        store.materialize_incremental(end)
        first = {"user_id": [1, 2, 3, 4, 5], "x": [11, 21, 30, None, None]}
        assert_columns_equal(oracle(FIRST, end), first)
        assert_columns_equal(served(store), first)

        lines.clear()
        reload(tmp_path, offline, v, [*FIRST, *APPENDED])
        end = T0 + 2 * H
        store.materialize_incremental(end)
        second = {"user_id": [1, 2, 3, 4, 5], "x": [12, 21, 30, None, 50]}
        assert_columns_equal(oracle([*FIRST, *APPENDED], end), second)
        assert_columns_equal(served(store), second)
        built = [line for line in lines if "building" in line]
        assert len(built) == 1, lines
        assert built[0].startswith("[1/1] building v (input changed: source raw.v_raw")
        if materialized == "incremental":
            assert "incremental merge" in built[0]
    # Materialized: a new process serves the same values.
    with FeatureStore(project_dir=tmp_path) as store:
        assert_columns_equal(served(store), second)


# --------------------------------------------------------------------------- materialized: view


def test_a_table_over_a_view_parent_is_rebuilt_when_the_parents_source_changes(
    tmp_path: Path,
) -> None:
    """A `materialized: view` parent is a SQL view in the engine, computed when read, so it
    is never rebuilt for new data; its `table` child is, once the parent's source changes
    (the parent's data version follows its source), and reads the reloaded rows."""
    p, w = view_x(FIRST, ttl="1d", extra_yaml={"materialized": "view"}), times_ten("v")
    before = expected_training(
        p, w, FIRST, [[11, 110], [10, 100], [21, 210], [30, 300], [None, None], [None, None]]
    )
    after = expected_training(
        p, w, RELOADED, [[111, 1110], [10, 100], [20, 200], [30, 300], [40, 400], [None, None]]
    )
    make_project(tmp_path, [p, w], USER)
    lines: list[str] = []
    with FeatureStore(project_dir=tmp_path, progress=_builds(lines)) as store:
        child = records(store.get_historical_features(entity_frame(ENTS), ["w:x10"]).to_df())
        assert_rows_equal(child, [{k: r[k] for k in r if k != "x"} for r in before])
        assert lines == [
            "[1/2] building v (never built; as a view)",
            "[2/2] building w (never built)",
        ]
        kinds = store.offline.fetch_arrow(
            "select table_name, table_type from information_schema.tables "
            "where table_name in ('v', 'w') order by table_name"
        ).to_pylist()
        assert kinds == [
            {"table_name": "v", "table_type": "VIEW"},
            {"table_name": "w", "table_type": "BASE TABLE"},
        ]

        lines.clear()
        reload(tmp_path, None, p, RELOADED)
        assert_rows_equal(training(store, ["v:x", "w:x10"]), after)
        assert lines == ["[1/1] building w (input changed: view v)"]  # the view is not rebuilt


# --------------------------------------------------------------------------- file sources


def test_a_relative_source_path_is_the_projects_file_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fingerprint and the read must name one file: the project's. Run from a folder
    holding a `data/v_raw.parquet` of its own (as the repository root holds the example's
    data/orders.csv), fsql must still read, and track, the project's rows."""
    v = view_x(FIRST)
    root = make_project(tmp_path / "project", [v], USER)
    decoy = tmp_path / "elsewhere"
    write_raw(decoy / "data" / "v_raw.parquet", view_x(RELOADED), ["user_id"])
    monkeypatch.chdir(decoy)
    want = pit_oracle(ENTS, [oracle_view(v, USER)], [("v", "x")])
    with FeatureStore(project_dir=root) as store:
        assert_rows_equal(training(store, ["v:x"]), want)
