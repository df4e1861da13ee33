"""Snowflake values: bound parameters, Arrow types both ways, and table metadata.

Pure functions, kept apart from the adapter so they can be read and tested on their own.

Parameters. Compiled statements arrive numbered (`:1`, `:2`: fsql.dialects.statement) for the
connector's server-side `numeric` paramstyle: values travel as bindings, never as SQL text.
`binding` gives each value as the connector binds it: datetimes as TIMESTAMP_TZ (naive ones
are taken as UTC).

Names and types. Snowflake folds unquoted identifiers to upper case. fsql identifiers are
case-insensitive and projects write them in lower case, so a result column whose name comes
back all upper case is returned lower-cased; a quoted mixed-case name is kept as it is.
Timestamps of every kind (TZ, LTZ, NTZ) come back as timestamp[us, UTC], NTZ read as UTC;
integer NUMBERs as int64 when the values fit; NUMBER(p, s>0) stays decimal128, since only a
column declared NUMBER with a scale has one (FLOAT columns already arrive as float64).
Uploaded columns get explicit Snowflake types (`upload_type`), exact where INFER_SCHEMA guesses.

Fingerprints. `metadata_fingerprint` reads a table's row of INFORMATION_SCHEMA.TABLES:
LAST_ALTERED (moved by every DDL and DML statement, even one that changes no row, and by
background maintenance such as reclustering: at worst a needless rebuild), ROW_COUNT and BYTES.
A view's LAST_ALTERED follows its definition, not its rows, and an external table's its
metadata refreshes, so those (and any engine that keeps no real LAST_ALTERED: fakesnow reports
1970-01-01 for every table, whatever happened to it) give None: the adapter checksums the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from fsql.adapters.base import UTC_MICROS
from fsql.errors import RunError

UPLOAD_TYPES = (
    # Arrays and maps travel as JSON text, parsed by the COPY (fsql.dialects.snowflake).
    (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t), "ARRAY"),
    (pa.types.is_map, "OBJECT"),
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_integer, "NUMBER(38, 0)"),
    (pa.types.is_floating, "FLOAT"),
    (pa.types.is_timestamp, "TIMESTAMP_TZ"),  # uploaded as UTC instants
    (pa.types.is_date, "DATE"),
    (pa.types.is_time, "TIME"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BINARY"),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "VARCHAR"),
    (pa.types.is_null, "VARCHAR"),
)
# INFORMATION_SCHEMA.TABLES types whose LAST_ALTERED moves with their rows (every DDL and DML).
# VIEW, MATERIALIZED VIEW and EXTERNAL TABLE are fingerprinted by a checksum of their rows.
ALTERED_WITH_ROWS = frozenset({"BASE TABLE", "TEMPORARY TABLE", "LOCAL TEMPORARY", "EVENT TABLE"})


# -- parameters ----------------------------------------------------------------------------------


def binding(value: Any) -> Any:
    """A value as the connector binds it: datetimes as TIMESTAMP_TZ instants in UTC."""
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        value = value.to_pydatetime()
    elif hasattr(value, "item") and not isinstance(value, (bytes, str)):  # numpy scalar
        value = value.item()
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return ("TIMESTAMP_TZ", moment)
    return value


# -- results -------------------------------------------------------------------------------------


def _normal_name(name: str) -> str:
    return name.lower() if name.isupper() else name


def normalise_arrow(table: pa.Table) -> pa.Table:
    """Result columns as fsql expects them: lower-case names, UTC micros, int64 integers."""
    fields, columns = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_timestamp(kind):
            column = pc.cast(column, UTC_MICROS, safe=False)  # sub-microsecond digits dropped
        elif pa.types.is_integer(kind) and kind != pa.int64():
            column = pc.cast(column, pa.int64())
        elif pa.types.is_decimal(kind) and kind.scale == 0:
            try:
                column = pc.cast(column, pa.int64())
            except pa.ArrowInvalid:
                pass  # beyond int64: kept exact as a decimal
        elif pa.types.is_date64(kind):
            column = pc.cast(column, pa.date32())
        fields.append(pa.field(_normal_name(field.name), column.type, field.nullable))
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _described_type(type_name: str, scale: int | None, precision: int | None) -> pa.DataType:
    if type_name == "FIXED":
        return pa.decimal128(precision or 38, scale) if scale else pa.int64()
    if type_name.startswith("TIMESTAMP"):
        return UTC_MICROS
    simple = {
        "REAL": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "DATE": pa.date32(),
        "TIME": pa.time64("us"),
        "BINARY": pa.binary(),
    }
    return simple.get(type_name, pa.string())  # text, and semi-structured values as JSON


def described_schema(description: Sequence[Any]) -> pa.Schema:
    """The Arrow schema fsql reads a result as, from the connector's result metadata."""
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    return pa.schema(
        pa.field(
            _normal_name(col.name),
            _described_type(FIELD_ID_TO_NAME[col.type_code], col.scale, col.precision),
        )
        for col in description
    )


# -- uploads and metadata ------------------------------------------------------------------------


def upload_type(kind: pa.DataType) -> exp.DataType:
    """The Snowflake column type an Arrow column is uploaded as."""
    if pa.types.is_decimal(kind):
        name = f"NUMBER({kind.precision}, {kind.scale})"
    else:
        name = next((name for test, name in UPLOAD_TYPES if test(kind)), "")
    if not name:
        raise RunError(f"cannot upload a column of Arrow type {kind} to Snowflake")
    return exp.DataType.build(name, dialect="snowflake")


def metadata_fingerprint(
    kind: str | None, altered: datetime | None, rows: Any, size: Any
) -> str | None:
    """The fingerprint an INFORMATION_SCHEMA.TABLES row gives, or None when the row cannot
    tell whether the contents changed (a view, an external table, no real LAST_ALTERED)."""
    if str(kind or "").upper() not in ALTERED_WITH_ROWS or altered is None:
        return None
    if altered.tzinfo is None:
        altered = altered.replace(tzinfo=UTC)
    if altered.timestamp() <= 0:  # fakesnow's constant 1970-01-01: never a real change time
        return None
    return f"altered={altered.astimezone(UTC).isoformat()};rows={rows};bytes={size}"
