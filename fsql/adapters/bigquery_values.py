"""BigQuery values: query parameters, Arrow types both ways, and upload files.

Kept apart from the adapter so the conversions, which are pure functions, can be read
and tested on their own: `@name` parameters bound as typed ScalarQueryParameters (or,
for emulators that refuse parameters, written as typed literals by sqlglot), result
types normalised to fsql's (UTC microseconds, date32), and entity tables written as
the Parquet or CSV a load job reads.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from fsql.adapters.base import UTC_MICROS
from fsql.errors import RunError

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


def used_parameters(sql: str, params: Mapping[str, Any]) -> list[str]:
    """The `@name` parameters the statement uses (all given ones when it does not parse)."""
    try:
        trees = sqlglot.parse(sql, read="bigquery")
    except sqlglot.errors.ParseError:
        return list(params)
    names: list[str] = []
    for tree in trees:
        for node in tree.find_all(exp.Parameter, exp.Placeholder) if tree else ():
            if isinstance(node.this, exp.Parameter) or isinstance(node.parent, exp.Parameter):
                continue  # `@@name`: a system variable, not a parameter
            name = node.this.name if isinstance(node, exp.Parameter) else node.name
            if name and name not in names:
                names.append(name)
    for name in names:
        if name not in params:
            raise RunError(f"SQL parameter '@{name}' has no value", hint="this is a bug in fsql")
    return names


def _literal(value: Any) -> exp.Expression:
    """A parameter value as a typed BigQuery literal, built by sqlglot (never pasted)."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return exp.cast(exp.Literal.string(moment.isoformat()), exp.DataType.build("TIMESTAMPTZ"))
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if value is None:
        return exp.null()
    return exp.Literal.string(str(value))


def inline_parameters(sql: str, params: Mapping[str, Any]) -> str:
    """`sql` with each `@name` replaced by its value as a typed literal.

    Only for `parameters: inline`, meant for local emulators that refuse query
    parameters (crucible-emulator): the values are fsql's own (materialization window
    times), never entity data, and sqlglot writes them as quoted, typed literals."""
    names = set(used_parameters(sql, params))

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter) and node.this.name in names:
            return _literal(params[node.this.name])
        if isinstance(node, exp.Placeholder) and node.name in names:
            return _literal(params[node.name])
        return node

    trees = [t for t in sqlglot.parse(sql, read="bigquery") if t is not None]
    return ";\n".join(t.transform(swap).sql(dialect="bigquery") for t in trees)


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
