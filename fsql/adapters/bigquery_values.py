"""BigQuery values: query parameters, Arrow types both ways, upload files, table metadata.

Kept apart from the adapter so the conversions, which are pure functions, can be read
and tested on their own: `@name` parameters bound as typed ScalarQueryParameters (which
parameters a statement uses, or their values as typed literals for emulators that refuse
parameters, is BigQuery syntax: fsql.dialects.bigquery), result types normalised to fsql's
(UTC microseconds, date32), entity tables written as the Parquet or CSV a load job reads,
and the fingerprint a table's metadata gives.

Fingerprints. `metadata_fingerprint` reads a table's metadata (tables.get): `modified`
(lastModifiedTime, moved by DML, load and copy jobs and CREATE OR REPLACE), `num_rows`,
`num_bytes`, and the streaming buffer's estimate when rows were streamed and not yet
committed. A view's `modified` follows its definition, not its rows, and an external table's
data lives outside BigQuery, so those (and any table without a `modified` time: crucible, the
local emulator, reports none) give None: the adapter checksums the rows.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fsql.adapters.base import UTC_MICROS
from fsql.errors import RunError

__all__ = [
    "csv_bytes",
    "field_type",
    "metadata_fingerprint",
    "normalise_arrow",
    "parquet_bytes",
    "rebatch",
    "scalar_parameter",
    "upload_type",
]

UPLOAD_TYPES = (
    (pa.types.is_boolean, "BOOL"),
    (pa.types.is_integer, "INT64"),
    (pa.types.is_floating, "FLOAT64"),
    (pa.types.is_timestamp, "TIMESTAMP"),
    (pa.types.is_date, "DATE"),
    (pa.types.is_time, "TIME"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BYTES"),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "STRING"),
    (pa.types.is_null, "STRING"),
)
# tables.get types whose lastModifiedTime moves with their rows; a VIEW's, MATERIALIZED_VIEW's
# or EXTERNAL table's does not, so those are fingerprinted by a checksum of their rows.
MODIFIED_WITH_ROWS = frozenset({"TABLE", "SNAPSHOT"})
FIELD_TYPES = {
    "INTEGER": pa.int64(),
    "INT64": pa.int64(),
    "FLOAT": pa.float64(),
    "FLOAT64": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "BOOL": pa.bool_(),
    "BYTES": pa.binary(),
    "DATE": pa.date32(),
    "TIME": pa.time64("us"),
    "TIMESTAMP": UTC_MICROS,
    "DATETIME": UTC_MICROS,  # read as UTC, as results are
    "NUMERIC": pa.decimal128(38, 9),
    "BIGNUMERIC": pa.decimal256(76, 38),
}


def scalar_parameter(bigquery: Any, name: str, value: Any) -> Any:
    """A typed named parameter; datetimes as TIMESTAMP instants in UTC."""
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        value = value.to_pydatetime()
    elif hasattr(value, "item") and not isinstance(value, (bytes, str)):  # numpy scalar
        value = value.item()
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return bigquery.ScalarQueryParameter(name, "TIMESTAMP", moment)
    kinds = (
        (bool, "BOOL"),
        (int, "INT64"),
        (float, "FLOAT64"),
        (Decimal, "NUMERIC"),
        (str, "STRING"),
        (bytes, "BYTES"),
        (date, "DATE"),
        (time, "TIME"),
    )
    for kind, type_name in kinds:
        if isinstance(value, kind):
            return bigquery.ScalarQueryParameter(name, type_name, value)
    raise RunError(f"SQL parameter '@{name}' has a value BigQuery cannot bind: {type(value)}")


def normalise_arrow(table: pa.Table) -> pa.Table:
    """Result columns as fsql expects them: UTC micros, date32, no extension metadata."""
    fields, columns = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = pc.cast(column, UTC_MICROS, safe=False)  # DATETIME (naive) read as UTC
        elif pa.types.is_date64(field.type):
            column = pc.cast(column, pa.date32())
        fields.append(pa.field(field.name, column.type, field.nullable))
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def field_type(field: Any) -> pa.DataType:
    """The Arrow type fsql reads a BigQuery column as (JSON and GEOGRAPHY as text)."""
    kind = str(field.field_type).upper()
    if kind in ("RECORD", "STRUCT"):
        arrow: pa.DataType = pa.struct(
            [pa.field(sub.name, field_type(sub)) for sub in field.fields]
        )
    else:
        arrow = FIELD_TYPES.get(kind, pa.string())
    return pa.list_(arrow) if field.mode == "REPEATED" else arrow


def upload_type(kind: pa.DataType) -> str:
    """The BigQuery column type an Arrow column is uploaded as."""
    if pa.types.is_decimal(kind):
        return "NUMERIC" if kind.scale <= 9 and kind.precision - kind.scale <= 29 else "BIGNUMERIC"
    for test, name in UPLOAD_TYPES:
        if test(kind):
            return name
    raise RunError(f"cannot upload a column of Arrow type {kind} to BigQuery")


def csv_bytes(data: pa.Table) -> bytes:
    """`data` (from `upload_table`) as CSV with a header: UTC timestamps without an offset."""
    import pyarrow.csv as pcsv

    columns = []
    for column in data.columns:
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            raise RunError(
                "cannot upload a BYTES column as CSV", hint="use `upload_format: parquet`"
            )
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.timestamp("us"))  # UTC wall time: `... HH:MM:SS.ffffff`
        columns.append(column)
    out = io.BytesIO()
    pcsv.write_csv(pa.Table.from_arrays(columns, names=data.column_names), out)
    return out.getvalue()


def parquet_bytes(data: pa.Table) -> bytes:
    """`data` (from `upload_table`) as one Parquet file: timestamps as UTC instants."""
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(data, out)
    return out.getvalue()


def rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly `rows` rows (the last may be shorter), normalised."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = normalise_arrow(pa.Table.from_batches(pending))
            yield from table.slice(0, rows).combine_chunks().to_batches()
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield from normalise_arrow(pa.Table.from_batches(pending)).combine_chunks().to_batches()


def metadata_fingerprint(table: Any) -> str | None:
    """The fingerprint a `bigquery.Table` from tables.get gives, or None when its metadata
    cannot tell whether the rows changed (a view, an external table, no modified time)."""
    if table.table_type not in MODIFIED_WITH_ROWS or table.modified is None:
        return None
    parts = [
        f"modified={table.modified.astimezone(UTC).isoformat()}",
        f"rows={table.num_rows}",
        f"bytes={table.num_bytes}",
    ]
    buffer = table.streaming_buffer  # streamed rows not yet in `modified` and `num_rows`
    if buffer is not None:
        oldest = buffer.oldest_entry_time
        since = oldest.astimezone(UTC).isoformat() if oldest is not None else None
        parts.append(f"streaming={buffer.estimated_rows}@{since}")
    return ";".join(parts)
