"""DuckDB adapter: a file or in-memory database, session time zone pinned to UTC.

DuckDB compares TIMESTAMP with TIMESTAMPTZ through the session time zone, so every
connection is set to UTC. File sources are compiled with absolute paths (DuckDB would
look a relative one up in the working directory before its `file_search_path`, and read
another file of the same name there); `file_search_path` is still the project folder, for
paths users write in models themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from fsql.adapters.base import OfflineAdapter


class DuckDBAdapter(OfflineAdapter):
    dialect_name = "duckdb"

    def __init__(
        self,
        path: str | Path | None,
        search_path: Path,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        database = ":memory:" if path in (None, "", ":memory:") else str(path)
        if database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.path = database
        self._con = duckdb.connect(database)
        self._lock = threading.RLock()
        settings: dict[str, Any] = {
            "TimeZone": "UTC",
            "file_search_path": str(search_path),
            # fsql reports progress itself; DuckDB's bar would interleave with it on stderr.
            "enable_progress_bar": False,
        }
        if threads:
            settings["threads"] = int(threads)
        if memory_limit:
            settings["memory_limit"] = str(memory_limit)
        for key, value in settings.items():
            # Setting names are our own constants; values travel as bound parameters.
            self._con.execute(f"SET {key} = $value", {"value": value})

    @classmethod
    def from_config(cls, config: Mapping[str, Any], project_root: Path) -> DuckDBAdapter:
        path = config.get("path")
        if path not in (None, "", ":memory:"):
            p = Path(str(path))
            path = p if p.is_absolute() else project_root / p
        return cls(path, project_root, config.get("threads"), config.get("memory_limit"))

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._con.execute(sql, dict(params) if params else None)

    def fetch_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        with self._lock:
            return self._con.sql(sql, params=dict(params) if params else None).to_arrow_table()

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None = None, batch_rows: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        with self._lock:
            relation = self._con.sql(sql, params=dict(params) if params else None)
            yield from relation.to_arrow_reader(batch_rows)

    def register(self, name: str, data: pa.Table) -> None:
        with self._lock:
            self._con.register(name, data)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._con.unregister(name)

    def table_schema(self, table: str) -> pa.Schema | None:
        with self._lock:
            found = self._con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = $name",
                {"name": table},
            ).fetchall()
            if not found or not found[0][0]:
                return None
            rel = self._con.table(table)
            return rel.limit(0).to_arrow_table().schema

    def table_fingerprint(self, identifier: str) -> str | None:
        """Row count and the sum of every row's hash: DuckDB keeps no modification time,
        so the contents themselves are summed (one scan; a sum, unlike XOR, also changes
        when a duplicate row is added)."""
        table = exp.to_table(identifier, dialect="duckdb")
        query = exp.select(
            exp.Count(this=exp.Star()),
            exp.Sum(this=exp.Anonymous(this="hash", expressions=[exp.column("__fsql_t")])),
        ).from_(table.as_("__fsql_t"))
        with self._lock:
            try:
                rows = self._con.execute(query.sql(dialect="duckdb")).fetchall()
            except duckdb.CatalogException:
                return None
        count, total = rows[0]
        return f"rows={count};sum={total or 0}"

    def close(self) -> None:
        with self._lock:
            self._con.close()
