"""The five verbs every offline engine adapter offers, and how one is opened.

Adapters execute SQL text and move Arrow; the text comes from `fsql.compile` (sqlglot
trees), including the transaction control `transaction()` runs. A statement with
run-time values arrives as a `Statement` (fsql.dialects.statement), written for the
engine at compile time together with the names of the values it binds, so an adapter
never reads SQL back; plain text runs as it is and binds nothing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from fsql import plugins
from fsql.compile.statements import transaction_sql
from fsql.dialects.statement import Statement
from fsql.errors import RunError

SQL = str | Statement


class OfflineAdapter(ABC):
    """Executes SQL text and exchanges Arrow data with one engine connection."""

    # The sqlglot dialect of the engine's SQL (statements the adapter renders itself).
    dialect_name: str = ""
    # DDL joins the surrounding transaction (DuckDB). Where DDL commits on its own
    # (Snowflake), a view's CREATE OR REPLACE is atomic by itself and only the build
    # state that follows it is written in a transaction.
    transactional_ddl: bool = True
    # BEGIN/COMMIT as statements of their own (BigQuery has them only inside scripts:
    # there each statement stands alone, and a view's state row follows its table).
    transactions: bool = True

    @abstractmethod
    def execute(self, sql: SQL, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement (DDL/DML); raise the driver's error untouched."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements executed inside run as one transaction: BEGIN on entry, COMMIT on
        leaving, ROLLBACK when the block (or the COMMIT) raises, and the error goes on.

        Where the engine has no standalone transactions (`transactions = False`,
        BigQuery) the block runs as it is, each statement committing on its own: callers
        order their statements so that a failure part-way is harmless."""
        if not self.transactions:
            yield
            return
        sql = transaction_sql(self.dialect_name)
        self.execute(sql.begin)
        try:
            yield
            self.execute(sql.commit)
        except BaseException:
            # The block's error is the one to report; a failed ROLLBACK (the engine
            # already aborted the transaction, or the connection is gone) adds nothing.
            with suppress(Exception):
                self.execute(sql.rollback)
            raise

    @contextmanager
    def memory_budget(self, megabytes: int) -> Iterator[None]:
        """Run the enclosed reads within about `megabytes` of engine memory, spilling to
        disk beyond it, where the engine runs in this process (DuckDB). A warehouse's
        memory is its own: there the block runs as it is."""
        yield

    @abstractmethod
    def fetch_arrow(self, sql: SQL, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a query and return the whole result as an Arrow table."""

    @abstractmethod
    def fetch_batches(
        self, sql: SQL, params: Mapping[str, Any] | None = None, batch_rows: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        """Run a query and stream its result, so large results never sit in memory."""

    @abstractmethod
    def register(self, name: str, data: pa.Table) -> exp.Table:
        """Make an Arrow table queryable for this connection; returns the table that holds
        it, for `read_upload` to point compiled SQL naming `name` at. Registering a name
        again replaces its rows."""

    @abstractmethod
    def unregister(self, name: str) -> None:
        """Forget a registered table."""

    @abstractmethod
    def table_schema(self, table: str) -> pa.Schema | None:
        """The Arrow schema of a table, or None when it does not exist."""

    @abstractmethod
    def table_fingerprint(self, identifier: str) -> str | None:
        """A short text that changes whenever the contents of the warehouse table (or view)
        `identifier` (as written in a source's `identifier:`) change; None when there is no
        such table. Build state compares it to decide whether views reading the table are
        stale: the engine's last-modified time where it keeps one, else a content checksum.
        """

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @classmethod
    @abstractmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        project_root: Path,
        source: str | None = None,
        waiting: Callable[[str], None] | None = None,
    ) -> OfflineAdapter:
        """Open the engine a profile's `offline:` block describes. `source` names the
        profiles file in errors; `waiting` hears when the engine waits for another
        process (engines without such waits ignore it)."""


def bind(sql: SQL, params: Mapping[str, Any] | None) -> tuple[str, list[Any] | dict[str, Any]]:
    """The text to send and the values it binds (empty when it binds none)."""
    if isinstance(sql, Statement):
        return sql.text, sql.values(params)
    if params:
        raise RunError(
            "SQL with parameters must come compiled, as a Statement",
            hint="this is a bug in fsql",
        )
    return sql, {}


def open_offline(
    config: Mapping[str, Any],
    project_root: Path,
    source: str | None = None,
    waiting: Callable[[str], None] | None = None,
) -> OfflineAdapter:
    """Open the adapter a profile's `offline:` block names (fsql.plugins, group
    `fsql.adapters`; drivers are imported only for the engine asked for).

    `source` is the profiles file the block came from, named in configuration errors;
    `waiting` hears once when the engine waits for another process (a DuckDB file lock).
    """
    kind = str(config.get("type", "duckdb"))
    adapter = plugins.load_named(plugins.ADAPTERS, kind, "offline engine", source)
    opened: OfflineAdapter = adapter.from_config(config, project_root, source, waiting)
    return opened


def conform_names(
    data: pa.Table | pa.RecordBatch, wanted: Sequence[str]
) -> pa.Table | pa.RecordBatch:
    """Result columns renamed to the project's spelling, matched without regard to case.

    Warehouses fold unquoted names (Snowflake to upper case), so a feature declared as
    `userScore` comes back as `USERSCORE`; fsql identifiers are case-insensitive, and
    every consumer looks columns up by the declared name."""
    by_fold = {name.casefold(): name for name in wanted}
    names = [by_fold.get(name.casefold(), name) for name in data.schema.names]
    if names == data.schema.names:
        return data
    return data.rename_columns(names)


UTC_MICROS = pa.timestamp("us", tz="UTC")


def upload_table(data: pa.Table) -> pa.Table:
    """`data` as warehouses load it: dictionaries decoded, timestamps as UTC micros
    (naive ones taken as UTC, as everywhere in fsql)."""
    columns = []
    for column in data.columns:
        if pa.types.is_dictionary(column.type):
            column = pc.cast(column, column.type.value_type)
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, UTC_MICROS, safe=False)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=data.column_names)
