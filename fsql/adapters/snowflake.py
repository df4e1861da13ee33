"""Snowflake adapter: snowflake-connector-python, sessions pinned to UTC, Arrow in and out.

The adapter connects as a `SnowflakeConfig` says and sends SQL; the rest lives beside it:

- fsql.adapters.snowflake_config: the profile block, typed, validated once, secrets marked,
  and the connector's arguments it gives;
- fsql.adapters.snowflake_errors: driver errors as one-line RunErrors, the retry budget;
- fsql.adapters.snowflake_values: parameter binding, Arrow types both ways, table metadata;
- fsql.dialects.snowflake: every statement the adapter builds (upload table, stage, PUT,
  COPY, drop, describe, fingerprint queries), as sqlglot trees.

Sessions run with TIMEZONE = 'UTC', the profile's QUERY_TAG and, when the profile sets
`query_timeout`, STATEMENT_TIMEOUT_IN_SECONDS; parameters are bound server-side (`numeric`
paramstyle). Every wait is bounded: `login_timeout`, `socket_timeout`, `network_timeout` (the
connector's backoff policy is a `RetryBudget`) and `query_timeout` (a statement's run time,
after which the connector cancels it); snowflake_config and snowflake_errors say more.

Uploads. `register` creates a session TEMPORARY table typed from the Arrow schema, PUTs the
table as one Parquet file to a temporary stage and COPYs it in with one cast per column
(USE_LOGICAL_TYPE keeps timestamps as instants). That is write_pandas's own route, written
out because write_pandas names the stage as a quoted string in its COPY and infers column
types with INFER_SCHEMA: fakesnow, the local stand-in our tests run on, supports neither,
and explicit types are exact where INFER_SCHEMA guesses.

Fingerprints. `table_fingerprint` reads the table's row of `<db>.INFORMATION_SCHEMA.TABLES`
(fsql.adapters.snowflake_values.metadata_fingerprint says when that row can be trusted);
otherwise a content checksum, `COUNT(*)` and the sum of every row's HASH, in one scan.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from fsql.adapters.base import SQL, OfflineAdapter, bind, upload_table
from fsql.adapters.snowflake_config import DEFAULT_TIMEOUTS, SnowflakeConfig, connect_args
from fsql.adapters.snowflake_errors import (
    NOT_FOUND_ERRNO,
    RetryBudget,
    RetryBudgetSpent,
    snowflake_error,
)
from fsql.adapters.snowflake_values import (
    binding,
    described_schema,
    metadata_fingerprint,
    normalise_arrow,
    upload_type,
)
from fsql.arrow_buffers import nested_as_json
from fsql.config.profiles import PROFILES_FILE
from fsql.dialects.snowflake import (
    SNOWFLAKE,
    checksum_query,
    copy_parquet,
    create_stage,
    create_temporary_table,
    describe_query,
    drop_table,
    parse_table_name,
    put_file,
    stage_location,
    tables_row_query,
)
from fsql.errors import ProjectError, RunError

__all__ = [  # names tests and callers import from here, wherever they are defined
    "DEFAULT_TIMEOUTS",
    "RetryBudget",
    "RetryBudgetSpent",
    "SnowflakeAdapter",
    "SnowflakeConfig",
    "connect_args",
    "metadata_fingerprint",
    "normalise_arrow",
    "snowflake_error",
]

STAGE = "fsql_upload"  # the session's temporary stage for uploads


def _connector() -> Any:
    """The connector module, imported only when a Snowflake target is used."""
    try:
        import snowflake.connector
    except ImportError:
        raise ProjectError(
            "the snowflake offline engine needs snowflake-connector-python",
            hint="pip install 'fsql[snowflake]'",
        ) from None
    return snowflake.connector


class SnowflakeAdapter(OfflineAdapter):
    """One Snowflake session: the profile's database, schema, warehouse and role, in UTC."""

    dialect_name = "snowflake"
    transactional_ddl = False  # Snowflake commits before and after every DDL statement

    def __init__(
        self, connection: Any, query_timeout: int | None = None, where: str | None = None
    ) -> None:
        self._con = connection
        self._timeout = query_timeout
        self.where = where
        self._stage_ready = False
        self._registered: set[str] = set()

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        project_root: Path,
        source: str | None = None,
        waiting: Callable[[str], None] | None = None,
    ) -> SnowflakeAdapter:
        """Connect as a profile says; `source` names the profiles file in errors."""
        settings = SnowflakeConfig.parse(config, source or PROFILES_FILE)
        connector = _connector()
        args = connect_args(settings, project_root, source or PROFILES_FILE)
        doing = f"connecting to Snowflake account '{settings.account}' as user '{settings.user}' "
        try:
            connection = connector.connect(**args)
        except Exception as err:  # the connector raises several families of errors
            raise snowflake_error(err, doing + f"at {settings.where}") from err
        return cls(connection, settings.query_timeout, settings.where)

    def _error(self, err: BaseException, doing: str) -> RunError:
        return snowflake_error(err, doing, self.where)

    def _run(self, statement: SQL | exp.Expr, params: Mapping[str, Any] | None, doing: str) -> Any:
        """A cursor that has run `statement` (compiled, text, or one of the dialect's trees),
        its values bound by number (datetimes as TIMESTAMP_TZ)."""
        if isinstance(statement, exp.Expr):
            statement = SNOWFLAKE.statement(statement)
        text, values = bind(statement, params)
        bound = [binding(value) for value in values] if isinstance(values, list) else []
        cursor = self._con.cursor()
        try:
            cursor.execute(text, bound or None, timeout=self._timeout)
        except Exception as err:
            cursor.close()
            raise self._error(err, doing) from err
        return cursor

    def _describe(self, table: exp.Table) -> list[Any] | None:
        """The result metadata of `SELECT * FROM table`, compiled, not run (no warehouse wakes
        up); None when the table does not exist (or is not visible); errors left to callers."""
        cursor = self._con.cursor()
        try:
            query = describe_query(table).sql(dialect="snowflake")
            return list(cursor.describe(query, timeout=self._timeout) or [])
        except Exception as err:
            if getattr(err, "errno", None) == NOT_FOUND_ERRNO:
                return None
            raise
        finally:
            cursor.close()

    def execute(self, sql: SQL, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, params, "running a statement").close()

    def fetch_arrow(self, sql: SQL, params: Mapping[str, Any] | None = None) -> pa.Table:
        cursor = self._run(sql, params, "running a query")
        try:
            table = cursor.fetch_arrow_all(force_microsecond_precision=True)
            if table is None:  # no rows: the schema comes from the result metadata
                return described_schema(cursor.description).empty_table()
            return normalise_arrow(table)
        except Exception as err:
            raise self._error(err, "reading a query result") from err
        finally:
            cursor.close()

    def fetch_batches(
        self, sql: SQL, params: Mapping[str, Any] | None = None, batch_rows: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        cursor = self._run(sql, params, "running a query")
        try:
            # The connector downloads result chunks one at a time as the iterator advances.
            for chunk in cursor.fetch_arrow_batches(force_microsecond_precision=True):
                yield from normalise_arrow(chunk).to_batches(max_chunksize=batch_rows)
        except Exception as err:
            raise self._error(err, "reading a query result") from err
        finally:
            cursor.close()

    def register(self, name: str, data: pa.Table) -> exp.Table:
        """A temporary table of this session called `name` (no other session sees it)."""
        doing = f"uploading table '{name}'"
        data = upload_table(data)
        table = exp.to_table(name, dialect="snowflake")
        columns = [exp.to_identifier(col) for col in data.column_names]
        types = [upload_type(kind) for kind in data.schema.types]
        data = nested_as_json(data)
        self._run(create_temporary_table(table, columns, types), None, doing).close()
        self._registered.add(name)
        if not data.num_rows:
            return table
        # PUT `data` as Parquet to the session's temporary stage, then COPY it into `table`.
        if not self._stage_ready:
            self._run(create_stage(STAGE), None, doing).close()
            self._stage_ready = True
        folder = stage_location(STAGE, uuid.uuid4().hex)  # COPY skips files loaded before
        with tempfile.TemporaryDirectory(prefix="fsql-") as tmp:
            path = Path(tmp) / "data.parquet"
            pq.write_table(data, path)
            self._run(put_file(path, folder), None, doing).close()
        self._run(copy_parquet(table, columns, types, folder), None, doing).close()
        return table

    def unregister(self, name: str) -> None:
        """Drop a table `register` made; any other name is left alone, as DuckDB's is."""
        if name not in self._registered:
            return
        self._registered.discard(name)
        drop = drop_table(exp.to_table(name, dialect="snowflake"))
        self._run(drop, None, f"dropping table '{name}'").close()

    def table_schema(self, table: str) -> pa.Schema | None:
        try:
            described = self._describe(exp.to_table(table, dialect="snowflake"))
        except Exception as err:
            raise self._error(err, f"reading the schema of '{table}'") from err
        return None if described is None else described_schema(described)

    def _rows(
        self, statement: exp.Expression, params: Mapping[str, Any] | None, doing: str
    ) -> list[tuple[Any, ...]] | None:
        """All rows of a query, or None when it names an object that does not exist."""
        try:
            cursor = self._run(statement, params, doing)
        except RunError as err:
            if getattr(err.__cause__, "errno", None) == NOT_FOUND_ERRNO:
                return None
            raise
        try:
            return list(cursor.fetchall())
        except Exception as err:
            raise self._error(err, doing) from err
        finally:
            cursor.close()

    def table_fingerprint(self, identifier: str) -> str | None:
        """LAST_ALTERED, ROW_COUNT and BYTES of a table; a checksum of a view's rows (or of a
        table's, where the engine keeps no LAST_ALTERED); None when there is no such object."""
        doing = f"fingerprinting table '{identifier}'"
        table = parse_table_name(identifier, doing)
        query, params = tables_row_query(table)
        found = self._rows(query, params, doing)
        if found is None:  # no such database
            return None
        if found:
            fingerprint = metadata_fingerprint(*found[0])
            if fingerprint is not None:
                return fingerprint
        # A view, an external table, or an engine without LAST_ALTERED: checksum the rows.
        # (No row at all: a table the role cannot see in INFORMATION_SCHEMA, or fakesnow's
        # views; if it does not exist either, describing it says so.)
        try:
            described = self._describe(table)
        except Exception as err:
            raise self._error(err, doing) from err
        if described is None:
            return None
        checksum = checksum_query(table, [column.name for column in described])
        rows = self._rows(checksum, None, doing)
        if rows is None:  # dropped since it was described
            return None
        count, total = rows[0]
        return f"rows={count};hash={total or 0}"

    def close(self) -> None:
        self._con.close()
