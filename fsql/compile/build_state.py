"""The statements on the build-state table (`fsql_build_state`), built as sqlglot trees.

`fsql.execute.build` keeps one row per view in the offline engine recording what the
view's table was last built from; this module owns that table's columns and the
statements that create, drop, read and write it. Trees are returned unrendered: the
caller writes them in the compiled project's dialect.
"""

from __future__ import annotations

from sqlglot import exp

from fsql.compile.statements import drop
from fsql.compile.views import MERGE_SOURCE, MERGE_TARGET, upsert

STATE_TABLE = "fsql_build_state"
# The build state's columns. A state table lacking one (made by an older fsql) is
# dropped and made again: it is a cache of what was built, and losing it only means
# every view is rebuilt once.
STATE_COLUMNS = (
    ("view_name", "VARCHAR"),
    ("content_hash", "VARCHAR"),
    ("built_at", "TIMESTAMPTZ"),
    ("inputs", "VARCHAR"),  # JSON: input -> fingerprint, as read just before the build
    ("data_version", "VARCHAR"),  # fsql.execute.inputs.data_version of that build
    ("base_version", "VARCHAR"),  # data version of the last full build (see BuildRecord)
    ("materialized", "VARCHAR"),  # view, table or incremental: what object it built
)
# Every column but `built_at`, which is written by the engine's clock and never read.
RECORD_COLUMNS = tuple(name for name, _ in STATE_COLUMNS if name != "built_at")


def state_ddl() -> exp.Create:
    """`CREATE TABLE IF NOT EXISTS fsql_build_state (...)`."""
    return exp.Create(
        this=exp.Schema(
            this=exp.to_table(STATE_TABLE),
            expressions=[
                # No PRIMARY KEY: BigQuery accepts one only NOT ENFORCED; a view's row is
                # replaced by one MERGE, so there is one row per view anyway.
                exp.ColumnDef(this=exp.to_identifier(name), kind=exp.DataType.build(kind))
                for name, kind in STATE_COLUMNS
            ],
        ),
        kind="TABLE",
        exists=True,
    )


def state_drop() -> exp.Drop:
    """`DROP TABLE IF EXISTS fsql_build_state` (a table of an older layout)."""
    return drop(exp.to_table(STATE_TABLE))


def state_select() -> exp.Select:
    """Every view's row, the columns of RECORD_COLUMNS."""
    return exp.select(*RECORD_COLUMNS).from_(STATE_TABLE)


def state_upsert(values: dict[str, str]) -> exp.Merge:
    """One statement that records a view's row: `values` of every RECORD_COLUMNS column
    as text, `built_at` the engine's current time.

    A MERGE rather than DELETE + INSERT: atomic on its own on every engine (BigQuery has
    transactions only inside scripts), and the local BigQuery emulator has no DELETE."""
    row_values: dict[str, exp.Expression] = {
        name: exp.CurrentTimestamp() if name == "built_at" else exp.Literal.string(values[name])
        for name, _ in STATE_COLUMNS
    }
    row = exp.select(*[exp.alias_(value, name) for name, value in row_values.items()])
    on = exp.EQ(
        this=exp.column("view_name", MERGE_TARGET), expression=exp.column("view_name", MERGE_SOURCE)
    )
    return upsert(exp.to_table(STATE_TABLE), row, on, list(row_values), {"view_name"})
