"""fakesnow served over HTTP to the real snowflake-connector-python, for the tests.

One server per test session (it keeps one in-memory DuckDB for every connection), each
test in a schema of its own. `serve` mends two bugs of fakesnow 0.12.1 in fakesnow's own
code (the emulator's, never fsql's), so the rules they hide can be tested at all:

- it drops the null mask of timestamp columns when it encodes results for the
  connector, so a NULL timestamp arrives as 1970-01-01: the mask is put back;
- it emulates MERGE with a `CREATE TEMPORARY TABLE` whose (absent) comment it records
  in a catalog database of its own, which DuckDB refuses inside a transaction that
  already wrote the user's database, so `BEGIN; MERGE ...; COMMIT` fails there and
  nowhere else (the connector then retries for a minute): an absent comment is simply
  not recorded.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

DATABASE = "fsql_db"


def _keep_nulls(encode: Callable[[Any], pa.Array]) -> Callable[[Any], pa.Array]:
    def encode_with_nulls(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        out = encode(ts)
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        if not ts.null_count:
            return out
        children = [pc.fill_null(out.field(i), 0) for i in range(out.type.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(out.type), mask=pc.is_null(ts))

    return encode_with_nulls


def _skip_absent_comments(record: Callable[..., str]) -> Callable[..., str]:
    def record_present(catalog: str, schema: str, table: str, comment: str | None) -> str:
        if comment is None:
            return "SELECT 1 WHERE FALSE"
        return record(catalog, schema, table, comment)

    return record_present


@contextlib.contextmanager
def serve() -> Iterator[dict[str, Any]]:
    """Start fakesnow (with both fixes) and yield its host and port."""
    import fakesnow
    import fakesnow.arrow
    import fakesnow.info_schema

    encode = fakesnow.arrow.timestamp_to_sf_struct
    record = fakesnow.info_schema.insert_table_comment_sql
    fakesnow.arrow.timestamp_to_sf_struct = _keep_nulls(encode)
    fakesnow.info_schema.insert_table_comment_sql = _skip_absent_comments(record)
    try:
        with fakesnow.server() as kwargs:
            yield {"host": kwargs["host"], "port": kwargs["port"]}
    finally:
        fakesnow.arrow.timestamp_to_sf_struct = encode
        fakesnow.info_schema.insert_table_comment_sql = record


def profile_block(server: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An `offline:` profile block for the server, in a schema of its own."""
    return {
        "type": "snowflake",
        "account": "fsql_test",
        "user": "fsql",
        "password": "fakesnow-ignores-it",
        "database": DATABASE,
        "schema": f"s_{uuid.uuid4().hex[:12]}",
        "warehouse": "fsql_wh",
        "role": "fsql_role",
        "host": server["host"],
        "port": server["port"],
        "protocol": "http",
        "login_timeout": 5,
        "query_timeout": 60,
        **extra,
    }
