"""DuckDB adapter: a file or in-memory database, session time zone pinned to UTC.

DuckDB compares TIMESTAMP with TIMESTAMPTZ through the session time zone, so every
connection is set to UTC. File sources are compiled with absolute paths (DuckDB would
look a relative one up in the working directory before its `file_search_path`, and read
another file of the same name there); `file_search_path` is still the project folder, for
paths users write in models themselves.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from fsql.adapters.base import SQL, OfflineAdapter, bind
from fsql.compile.statements import (
    current_setting_sql,
    reset_setting_sql,
    setting_sql,
    table_exists_sql,
)
from fsql.dialects.duckdb import table_checksum
from fsql.errors import ProjectError, RunError

# How long a command waits for a database file another process holds (seconds).
DEFAULT_LOCK_TIMEOUT = 60.0
_HOLDER = re.compile(r"\(PID (\d+)\)")
# Asked before every read of a table's schema: generated once.
_TABLE_EXISTS = table_exists_sql("duckdb")


def connect_waiting(
    database: str, timeout: float, waiting: Callable[[str], None] | None = None
) -> duckdb.DuckDBPyConnection:
    """Open `database`, waiting up to `timeout` seconds while another process holds it.

    DuckDB lets one process at a time open a file for writing: a `push` while a `run`
    builds, or two runs, would otherwise fail at once with the driver's lock message.
    Waiting is announced once through `waiting`; giving up is one line naming the file,
    the holder's pid and the profile key that bounds the wait."""
    deadline = time.monotonic() + timeout
    delay, announced = 0.02, False
    while True:
        try:
            return duckdb.connect(database)
        except duckdb.IOException as err:
            if "lock" not in str(err).lower():
                raise
            holder = _HOLDER.search(str(err))
            pid = f" (pid {holder.group(1)})" if holder else ""
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunError(
                    f"the DuckDB file {database} is in use by another process{pid}; "
                    f"gave up after waiting {timeout:g}s",
                    hint="let that command finish, or raise `lock_timeout` of the offline "
                    "engine in profiles.yml",
                ) from None
            if not announced and waiting is not None:
                waiting(f"waiting for {database}: in use by another process{pid}")
                announced = True
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.5)


class DuckDBAdapter(OfflineAdapter):
    dialect_name = "duckdb"

    def __init__(
        self,
        path: str | Path | None,
        search_path: Path,
        threads: int | None = None,
        memory_limit: str | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        waiting: Callable[[str], None] | None = None,
    ) -> None:
        database = ":memory:" if path in (None, "", ":memory:") else str(path)
        if database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.path = database
        self._con = connect_waiting(database, lock_timeout, waiting)
        self._lock = threading.RLock()
        settings: dict[str, Any] = {
            "TimeZone": "UTC",
            "file_search_path": str(search_path),
            # fsql reports progress itself; DuckDB's bar would interleave with it on stderr.
            "enable_progress_bar": False,
        }
        if database == ":memory:":
            # What does not fit in `memory_limit` spills here (a file database spills
            # beside itself, `<path>.tmp`); DuckDB creates it only when it spills.
            settings["temp_directory"] = str(search_path / "target" / ".duckdb.tmp")
        if threads:
            settings["threads"] = int(threads)
        # The profile's limit, restored exactly after a lower budget (`memory_budget`).
        self._memory_limit = str(memory_limit) if memory_limit else None
        self._budget: int | None = None  # the budget in force (MiB), while one is
        if memory_limit:
            settings["memory_limit"] = str(memory_limit)
        for key, value in settings.items():
            # Setting names are our own constants; values travel as bound parameters.
            self._con.execute(*bind(setting_sql(key, "duckdb"), {"value": value}))

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        project_root: Path,
        source: str | None = None,
        waiting: Callable[[str], None] | None = None,
    ) -> DuckDBAdapter:
        path = config.get("path")
        if path not in (None, "", ":memory:"):
            p = Path(str(path))
            path = p if p.is_absolute() else project_root / p
        timeout = config.get("lock_timeout", DEFAULT_LOCK_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ProjectError(
                f"offline 'lock_timeout' must be a number of seconds, not {timeout!r}",
                file=source,
                hint="e.g. lock_timeout: 60",
            )
        return cls(
            path,
            project_root,
            config.get("threads"),
            config.get("memory_limit"),
            float(timeout),
            waiting,
        )

    @contextmanager
    def memory_budget(self, megabytes: int) -> Iterator[None]:
        """DuckDB's `memory_limit` lowered to `megabytes` (never raised above the
        profile's) for the block, then set back exactly: past it, its buffer pool evicts
        cached table blocks and its aggregates and sorts spill to the database's
        temporary directory (in target/)."""
        limit, outer = self._memory_limit, self._budget
        if outer is not None:
            ceiling: float = outer * 2**20
        else:
            ceiling = _size_bytes(limit) if limit else _size_bytes(self._current_memory_limit())
        if ceiling <= megabytes * 2**20:
            yield
            return
        self._budget = megabytes
        self.execute(setting_sql("memory_limit", "duckdb"), {"value": f"{megabytes}MiB"})
        try:
            yield
        finally:
            self._budget = outer
            if outer is not None:
                self.execute(setting_sql("memory_limit", "duckdb"), {"value": f"{outer}MiB"})
            elif limit:
                self.execute(setting_sql("memory_limit", "duckdb"), {"value": limit})
            else:
                self.execute(reset_setting_sql("memory_limit", "duckdb"))

    def _current_memory_limit(self) -> str:
        return str(self.fetch_arrow(_MEMORY_LIMIT).column(0)[0].as_py())

    def execute(self, sql: SQL, params: Mapping[str, Any] | None = None) -> None:
        text, values = bind(sql, params)
        with self._lock:
            self._con.execute(text, values or None)

    def fetch_arrow(self, sql: SQL, params: Mapping[str, Any] | None = None) -> pa.Table:
        text, values = bind(sql, params)
        with self._lock:
            return self._con.sql(text, params=values or None).to_arrow_table()

    def fetch_batches(
        self, sql: SQL, params: Mapping[str, Any] | None = None, batch_rows: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        text, values = bind(sql, params)
        with self._lock:
            relation = self._con.sql(text, params=values or None)
            yield from relation.to_arrow_reader(batch_rows)

    def register(self, name: str, data: pa.Table) -> exp.Table:
        """The Arrow table itself, queried in place under `name` (no copy)."""
        with self._lock:
            self._con.register(name, data)
        return exp.Table(this=exp.to_identifier(name))

    def unregister(self, name: str) -> None:
        with self._lock:
            self._con.unregister(name)

    def table_schema(self, table: str) -> pa.Schema | None:
        with self._lock:
            text, values = bind(_TABLE_EXISTS, {"name": table})
            found = self._con.execute(text, values).fetchall()
            if not found or not found[0][0]:
                return None
            rel = self._con.table(table)
            return rel.limit(0).to_arrow_table().schema

    def table_fingerprint(self, identifier: str) -> str | None:
        """Row count and the sum of every row's hash: DuckDB keeps no modification time,
        so the contents themselves are summed (one scan; a sum, unlike XOR, also changes
        when a duplicate row is added)."""
        query = table_checksum(identifier).sql(dialect="duckdb")
        with self._lock:
            try:
                rows = self._con.execute(query).fetchall()
            except duckdb.CatalogException:
                return None
        count, total = rows[0]
        return f"rows={count};sum={total or 0}"

    def close(self) -> None:
        with self._lock:
            self._con.close()


_MEMORY_LIMIT = current_setting_sql("memory_limit", "duckdb")
_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS.update({"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40})


def _size_bytes(text: str) -> float:
    """`18.8 GiB`, `700MB`, `1000000 bytes` as bytes (inf when unreadable: no limit known)."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text)
    if found is None or found.group(2).upper() not in _UNITS:
        return float("inf")
    return float(found.group(1)) * _UNITS[found.group(2).upper()]
