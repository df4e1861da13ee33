"""Arrow batches as the SQLite online store writes them: SQLite-ready Python columns,
sorted by key, with times as microseconds (fsql.online.sqlite_values says how each value
is stored). Imported by the store's writes only, so that a read imports no Arrow."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fsql.arrow_buffers import int64_scalar
from fsql.definitions.keys import key_families
from fsql.errors import ProjectError, RunError
from fsql.online.base import CREATED_TS, EVENT_TS, VERSION, OnlineTable
from fsql.online.sqlite_values import NAN_TEXT, NULL_CREATED_TS
from fsql.online.times import plain, to_micros


def batch_families(table: OnlineTable, batch: pa.RecordBatch | pa.Table) -> str:
    """The type families of the batch's key columns (recorded, and checked by reads)."""
    return key_families(as_table(batch).schema, table.join_keys)


def store_columns(
    table: OnlineTable, batch: pa.RecordBatch | pa.Table
) -> tuple[list[list[Any]] | None, int]:
    """The batch as SQLite columns sorted by key (None when nothing is left to
    write; `zip(*columns)` gives the rows), and the number of rows offered."""
    data = as_table(batch)
    offered = data.num_rows
    if offered == 0:
        return None, 0
    keys = table.join_keys
    if not keys:
        raise ProjectError(f"online view {table.view!r} has no join keys")
    names = set(data.column_names)
    missing = [c for c in (*keys, EVENT_TS, *table.feature_names) if c not in names]
    if missing:
        raise RunError(f"rows for online view {table.view!r} lack columns {', '.join(missing)}")
    # A row with a null key can never be read (reads of null keys return None)
    # and cannot be stored in a primary key: drop it.
    for k in keys:
        if data.column(k).null_count:
            data = data.filter(pc.is_valid(data.column(k)))
    if data.num_rows == 0:
        return None, offered
    event = to_micros(data.column(EVENT_TS))
    if event.null_count:
        raise RunError(f"rows for online view {table.view!r} have a null {EVENT_TS}")
    if data.num_rows > 1 and not _sorted(data, keys):
        order = pc.sort_indices(data, sort_keys=[(k, "ascending") for k in keys])
        data = data.take(order)
        event = event.take(order)
    n = data.num_rows
    if CREATED_TS in names:
        created = pc.fill_null(
            to_micros(data.column(CREATED_TS)), int64_scalar(NULL_CREATED_TS)
        ).to_pylist()
    else:
        created = [NULL_CREATED_TS] * n
    if VERSION in names:
        version = pc.fill_null(data.column(VERSION).cast(pa.int64()), int64_scalar(0)).to_pylist()
    else:
        version = [0] * n
    columns: list[list[Any]] = [key_column(data.column(k)).to_pylist() for k in keys]
    columns.append(event.to_pylist())
    columns.append(created)
    columns.append(version)
    columns.extend(feature_values(data.column(f)) for f in table.feature_names)
    return columns, offered


def _sorted(data: pa.Table, keys: Sequence[str]) -> bool:
    """Whether rows with one join key are already in key order (materialization queries
    sort by key), so the sort can be skipped; composite keys are always sorted."""
    first = data.column(keys[0])
    if len(keys) > 1 or not (pa.types.is_integer(first.type) or pa.types.is_string(first.type)):
        return False
    column = first.combine_chunks()
    if len(column) < 2:
        return True
    ahead, behind = column.slice(1), column.slice(0, len(column) - 1)
    return bool(pc.all(pc.greater_equal(ahead, behind)).as_py())


def feature_values(col: pa.ChunkedArray) -> list[Any]:
    """One feature column as SQLite-ready Python values (timestamps as micros, dates as days)."""
    col = plain(col)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        return [None if v is None else json.dumps(v) for v in col.to_pylist()]
    if pa.types.is_map(col.type):
        return [None if v is None else json.dumps(dict(v)) for v in col.to_pylist()]
    if pa.types.is_timestamp(col.type):
        return to_micros(col).to_pylist()
    if pa.types.is_date(col.type):
        return col.cast(pa.date32()).cast(pa.int32()).to_pylist()
    values = col.to_pylist()
    if pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py():
        values = [NAN_TEXT if v is not None and v != v else v for v in values]
    # bools bind as 0/1: Python's bool is an int to sqlite3.
    return values


def as_table(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    return batch


def key_column(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A join-key column as stored: timestamps as UTC instants (naive ones are UTC, as
    everywhere in fsql), so a key written naive and read aware (or the reverse) is one
    key; dictionaries decoded."""
    col = plain(col)
    if pa.types.is_timestamp(col.type) and col.type.tz != "UTC":
        return pc.cast(col, pa.timestamp(col.type.unit, tz="UTC"))
    return col
