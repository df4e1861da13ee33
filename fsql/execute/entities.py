"""Entity tables: reading them, checking them, and preparing them for the join.

The entity table never enters SQL as text: it is registered with the engine as
Arrow, slimmed to the join keys plus a row id and a UTC event time, so the join
does not drag label columns through the engine and rows come back in order.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from fsql.arrow_buffers import int64_array
from fsql.compile.on_demand import request_column
from fsql.compile.pit import ENTITY_TS, ROW_ID, PitItem
from fsql.defaults import EVENT_TIMESTAMP
from fsql.definitions.keys import check_column
from fsql.definitions.models import GLOBAL_KEY
from fsql.definitions.types import type_family
from fsql.errors import ProjectError

UTC_US = pa.timestamp("us", tz="UTC")


def read_table_file(path: str | Path, what: str = "entity file") -> pa.Table:
    """Read a parquet or csv file into Arrow; a missing or unreadable file is exit 2."""
    # Imported here: a process that only reads online values needs neither reader.
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise ProjectError(f"{what} not found", file=str(path), hint="check the path")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            # ParquetFile avoids importing pyarrow.dataset (about 1 s of a CLI run).
            return pq.ParquetFile(p).read()
        if suffix in (".csv", ".tsv"):
            options = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            return pacsv.read_csv(p, parse_options=options)
    except (pa.ArrowInvalid, OSError) as err:
        raise ProjectError(f"cannot read {what}: {err}", file=str(path)) from None
    raise ProjectError(
        f"unsupported {what} format '{suffix}'", file=str(path), hint="use .parquet or .csv"
    )


def to_arrow(data: Any) -> pa.Table:
    """Accept a pandas DataFrame, an Arrow table or record batch."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    pandas = sys.modules.get("pandas")  # a DataFrame means pandas is already imported
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return _from_pandas(data)
    raise ProjectError(
        f"entity data must be a pandas DataFrame or an Arrow table, not {type(data).__name__}"
    )


def _from_pandas(frame: Any) -> pa.Table:
    """A DataFrame as Arrow; a column Arrow cannot type (mixed values, integers beyond 64
    bits) is named rather than reported as a converter's internal error."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as err:
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            if isinstance(err, OverflowError):
                detail = "an integer is outside the 64-bit range"
            raise ProjectError(
                f"DataFrame column '{name}' cannot be read as one type: {detail}",
                hint="give the column one type: integers within 64 bits, or all strings",
            ) from None
    raise ProjectError("the DataFrame cannot be converted to Arrow", hint="check its columns")


_TIME_WORDS = ("time", "ts", "date", "at")


def time_columns(entities: pa.Table) -> list[str]:
    """Columns that look like the entity table's time: typed as times or dates, or text
    named like one (`e_ts`, `request_time`, `created_at`, `day_date`)."""
    found = []
    for field in entities.schema:
        words = field.name.lower().replace("-", "_").split("_")
        typed = pa.types.is_timestamp(field.type) or pa.types.is_date(field.type)
        named = pa.types.is_string(field.type) and any(w in _TIME_WORDS for w in words)
        if typed or named:
            found.append(field.name)
    return found


def utc_timestamps(column: pa.ChunkedArray, name: str, where: str) -> pa.ChunkedArray:
    """Normalise a time column to UTC microseconds; naive values are read as UTC."""
    dtype = column.type
    if pa.types.is_timestamp(dtype):
        # Arrow stores instants as UTC: naive values become UTC as they are, aware ones
        # keep their instant. Nanoseconds are truncated to the engines' microseconds.
        return pc.cast(column, UTC_US, safe=False)
    if pa.types.is_date(dtype):
        return pc.cast(pc.cast(column, pa.timestamp("us")), UTC_US)
    if pa.types.is_null(dtype):  # a header-only csv: no times, no rows to join
        return pc.cast(column, UTC_US)
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return _parse_times(column, name, where)
    raise ProjectError(
        f"column '{name}' must be a timestamp, not {type_family(dtype)}",
        file=where,
        hint="store event times as timestamps or ISO-8601 strings",
    )


def _parse_times(column: pa.ChunkedArray, name: str, where: str) -> pa.ChunkedArray:
    """Text times parsed as ISO-8601 (offsets allowed, mixed precision); the first value
    that is not one is named, with its row, rather than pandas' advice on formats."""
    import pandas as pd  # only for text timestamps: ISO-8601 with offsets, mixed forms

    text = column.to_pandas()
    try:
        series = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        series = pd.Series([pd.NaT] * len(text))
    unparsed = series.isna() & text.notna()
    bad = unparsed & (text.str.strip() != "") if unparsed.any() else unparsed
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        value = str(text.iloc[row])
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise ProjectError(
            f"column '{name}' row {row + 1}: {shown!r} is not an ISO-8601 time",
            file=where,
            hint="write times as YYYY-MM-DD HH:MM:SS, optionally with an offset such as +02:00",
        )
    return pa.chunked_array([pa.Array.from_pandas(series).cast(UTC_US, safe=False)])


def prepare_entities(
    entities: pa.Table,
    items: Sequence[PitItem],
    view_schemas: Mapping[str, pa.Schema],
    where: str = "entity table",
    request_columns: Mapping[str, str] | None = None,
    outputs: Sequence[str] = (),
    timestamp_column: str = EVENT_TIMESTAMP,
    is_empty: Callable[[str], bool] | None = None,
) -> pa.Table:
    """The slim table registered for the join: keys, `__fsql_row`, `__fsql_ts`, and the
    request columns of on-demand features (`__fsql_req__<name>`).

    Checks that the time column (`timestamp_column`, default `event_timestamp`) and
    every join key exist and that each key's type can be compared with the view's key
    column: a mismatch is an error naming the column, never a silently empty join (and,
    when `is_empty` says the view has no rows, saying that an empty source gave the key
    its type). `request_columns` maps each request column to an on-demand feature that
    needs it (named when the column is missing); `outputs` are further result columns
    (on-demand features) that must not overwrite entity columns.
    """
    names = entities.column_names
    if timestamp_column not in names:
        listed = ", ".join(names) or "none"
        candidates = time_columns(entities)
        hint = (
            f"is it {' or '.join(candidates)}? name it with --timestamp-column "
            f"{candidates[0]} (API: timestamp_column=)"
            if candidates
            else "add the time each row is observed at, or name the time column with "
            "--timestamp-column (API: timestamp_column=)"
        )
        raise ProjectError(
            f"the entity table has no '{timestamp_column}' column (columns: {listed})",
            file=where,
            hint=hint,
        )
    keys: list[str] = []
    for item in items:
        for key, stored in item.key_pairs:
            if key == GLOBAL_KEY:  # a global view: every entity row, by time alone
                if key not in keys:
                    keys.append(key)
                continue
            if key not in names:
                raise ProjectError(
                    f"the entity table has no join key column '{key}' needed by view "
                    f"'{item.view.name}'",
                    file=where,
                    hint="add the column or drop the view's features",
                )
            schema = view_schemas.get(item.view.name)
            if schema is not None and stored in schema.names:
                have = entities.schema.field(key).type
                try:
                    check_column(have, schema.field(stored).type, key, item.view.name, where)
                except ProjectError as err:
                    if is_empty is None or not is_empty(item.view.name):
                        raise
                    raise ProjectError(
                        f"{err.message}: view '{item.view.name}' has no rows, so its key "
                        f"column took its type from an empty source",
                        file=where,
                        hint=f"cast '{key}' in the view's model (e.g. CAST({key} AS BIGINT)) "
                        "or load rows into its source",
                    ) from None
            if key not in keys:
                keys.append(key)
    requests = dict(request_columns or {})
    for column, feature in requests.items():
        if column not in names:
            raise ProjectError(
                f"the entity table has no request column '{column}' needed by on-demand "
                f"feature '{feature}'",
                file=where,
                hint="add the column to the entity table or drop the on-demand feature",
            )
    clash = set(outputs) & set(names)
    if clash:
        raise ProjectError(
            f"on-demand feature(s) {', '.join(sorted(clash))} would overwrite entity columns",
            file=where,
            hint="rename the entity column",
        )
    for item in items:
        clash = set(item.output_names) & set(names)
        if clash:
            raise ProjectError(
                f"feature column(s) {', '.join(sorted(clash))} would overwrite entity columns",
                file=where,
                hint="rename the entity column or use --full-feature-names",
            )
    columns = [
        pa.chunked_array([int64_array(np.zeros(entities.num_rows, dtype=np.int64))])
        if k == GLOBAL_KEY
        else entities.column(k)
        for k in keys
    ]
    columns.append(pa.chunked_array([int64_array(np.arange(entities.num_rows))]))
    columns.append(utc_timestamps(entities.column(timestamp_column), timestamp_column, where))
    columns.extend(entities.column(c) for c in requests)
    slim_names = [*keys, ROW_ID, ENTITY_TS, *(request_column(c) for c in requests)]
    return pa.Table.from_arrays(columns, names=slim_names)


# Nodes that change something: never part of an entity query, wherever they sit.
_WRITES = (
    exp.DDL,
    exp.DML,
    exp.Command,
    exp.Copy,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
)


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to an opaque command; the refusal below
    is the one line the user gets."""
    log = logging.getLogger("sqlglot")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def entity_query(query: str, read: str, write: str) -> str:
    """`--entities-sql` checked and transpiled: exactly one SELECT (or WITH ... SELECT, or
    a set operation of SELECTs) that writes nothing. Anything else (COPY, ATTACH, INSTALL,
    DDL, DML, PRAGMA, SET, several statements) is refused before it reaches the engine:
    an entity query reads, it never changes a database or a file."""
    try:
        with _quiet_sqlglot():
            statements = [s for s in sqlglot.parse(query, read=read) if s is not None]
    except sqlglot.errors.SqlglotError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ProjectError(f"--entities-sql is not valid SQL: {first}") from None
    if len(statements) != 1:
        raise ProjectError(
            f"--entities-sql must be one query; got {len(statements)} statements",
            hint="pass a single SELECT (or WITH ... SELECT)",
        )
    (statement,) = statements
    writes = [node for node in statement.walk() if isinstance(node, _WRITES)]
    if not isinstance(statement, exp.Query) or writes:
        kind = type(writes[0] if writes else statement).__name__.upper()
        raise ProjectError(
            f"--entities-sql must be a SELECT query that reads; {kind} is refused",
            hint="pass a single SELECT (or WITH ... SELECT); load data with your own tools",
        )
    return statement.sql(dialect=write)
