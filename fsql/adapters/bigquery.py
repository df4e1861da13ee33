"""BigQuery adapter: google-cloud-bigquery jobs in the profile's dataset, Arrow in and out.

The adapter opens a client as a `BigQueryConfig` says and runs jobs; the rest lives beside it:

- fsql.adapters.bigquery_config: the profile block, typed, validated once, secrets marked, and
  the credentials its `method` names;
- fsql.adapters.bigquery_errors: client errors as one-line RunErrors;
- fsql.adapters.bigquery_jobs: what each query job and upload load job is sent with;
- fsql.adapters.bigquery_values: parameter values, Arrow types both ways, upload files, table
  metadata;
- fsql.dialects.bigquery: the BigQuery SQL the adapter reads and writes (parameters used or
  inlined, references to uploads, the checksum query), as sqlglot trees.

Queries run through `Client.query_and_wait` (one `jobs.query` call for interactive jobs);
results come back through `RowIterator.to_arrow()` (REST pages, no Storage API client), or
page by page with `to_arrow_iterable()`, re-cut to `batch_rows`. Column names keep the case
BigQuery returns, which is the case the SQL wrote.

Bounded waits. Every call is given `request_timeout_seconds` as its request timeout and a
retry budget of `retry_timeout_seconds`, which the re-runs of a failed query job share, and
the client waits `job_timeout_seconds` for a job (fsql.adapters.bigquery_config says why).

Uploads. `register(name, data)` loads the Arrow table into a table of its own,
`<dataset>.<name>_<random>` (so concurrent runs sharing a dataset never see each other's
rows), by a load job, never as SQL literals, and returns that table: compiled SQL is
pointed at it before it is written (fsql.dialects.statement's `read_upload`). `unregister`
(and `close`) drop it.

Fingerprints. `table_fingerprint` reads the table's metadata (tables.get); where that cannot
tell, a content checksum: `COUNT(*)` and the NUMERIC sum of a 60-bit hash of each row, one
scan (billed as a query). A missing table or dataset gives None. `dry_run_bytes` gives the
bytes a query would scan.

Size: past 300 lines because each of the adapter's thirteen methods holds its client call,
its bounded waits and its error mapping; everything else is in the modules listed above.

Size: thirteen adapter methods, each with its client call, waits and error mapping;
configuration, errors, job settings and values are in their own modules.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from fsql.adapters.base import SQL, OfflineAdapter, bind, upload_table
from fsql.adapters.bigquery_config import BigQueryConfig, check_profile, credentials
from fsql.adapters.bigquery_errors import bigquery_error
from fsql.adapters.bigquery_jobs import load_job, query_job
from fsql.adapters.bigquery_values import (
    field_type,
    metadata_fingerprint,
    normalise_arrow,
    rebatch,
)
from fsql.config.profiles import PROFILES_FILE
from fsql.dialects.bigquery import BIGQUERY, checksum_query, inline_values, parse_table_name
from fsql.dialects.statement import Statement
from fsql.errors import FsqlError, ProjectError, RunError

__all__ = [  # names tests and callers import from here, wherever they are defined
    "BigQueryAdapter",
    "BigQueryConfig",
    "bigquery_error",
    "check_profile",
    "metadata_fingerprint",
]

UPLOAD_EXPIRY = timedelta(days=1)


def _client_module() -> Any:
    """google.cloud.bigquery, imported only when a BigQuery target is used."""
    try:
        from google.cloud import bigquery
    except ImportError:
        raise ProjectError(
            "the bigquery offline engine needs google-cloud-bigquery",
            hint="pip install 'fsql[bigquery]'",
        ) from None
    return bigquery


class BigQueryAdapter(OfflineAdapter):
    """A BigQuery client whose jobs default to the profile's project and dataset."""

    dialect_name = "bigquery"
    transactional_ddl = False  # each statement is a job of its own
    transactions = False  # BEGIN/COMMIT only inside a script or session

    def __init__(self, client: Any, config: BigQueryConfig | Mapping[str, Any]) -> None:
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY

        if not isinstance(config, BigQueryConfig):
            config = BigQueryConfig.parse(config, PROFILES_FILE)
        self._bq = bigquery
        self._client = client
        self.config = config
        self.project = config.project
        self.dataset = config.dataset
        self.where = config.where
        self._wait = config.wait_seconds
        self._request = config.request_timeout_seconds
        # Retries of failing calls, and re-runs of jobs that failed for a retryable reason,
        # share one budget, never longer than the job timeout.
        self._retry = bigquery.DEFAULT_RETRY.with_timeout(config.retry_seconds)
        self._job_retry = DEFAULT_JOB_RETRY.with_timeout(config.retry_seconds)
        self._registered: dict[str, str] = {}

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        project_root: Path,
        source: str | None = None,
        waiting: Callable[[str], None] | None = None,
    ) -> BigQueryAdapter:
        """Open a client as a profile says and check its dataset; `source` names the file."""
        source = source or PROFILES_FILE
        settings = BigQueryConfig.parse(config, source)
        bigquery = _client_module()
        from google.api_core.client_options import ClientOptions

        endpoint = settings.api_endpoint
        try:
            client = bigquery.Client(
                project=settings.project,
                credentials=credentials(settings, project_root, source),
                location=settings.location,
                client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None,
            )
        except FsqlError:
            raise
        except Exception as err:
            doing = f"connecting to BigQuery project '{settings.project}'"
            raise bigquery_error(err, doing, settings.where) from err
        adapter = cls(client, settings)
        adapter._check_dataset()
        return adapter

    def _check_dataset(self) -> None:
        """Fail now, and clearly, when the dataset fsql builds in does not exist."""
        from google.api_core.exceptions import NotFound

        name = f"{self.project}.{self.dataset}"
        try:
            self._client.get_dataset(name, retry=self._retry, timeout=self._request)
        except NotFound as err:
            raise RunError(
                f"dataset '{name}' does not exist",
                hint=f"create it (`bq mk --dataset {self.project}:{self.dataset}`) or set "
                "`dataset:` in profiles.yml",
            ) from err
        except Exception as err:
            raise self._error(err, f"opening dataset '{name}'") from err

    def _error(self, err: BaseException, doing: str) -> RunError:
        return bigquery_error(err, doing, self.where)

    # -- statements ------------------------------------------------------------------------------

    def job_config(self, sql: SQL, params: Mapping[str, Any] | None = None) -> Any:
        """The QueryJobConfig a statement runs with: dataset, parameters, cost controls."""
        _, values = bind(sql, params)
        assert isinstance(values, dict)  # BigQuery binds by name
        return query_job(self._bq, self.config, values)

    def _text(self, sql: SQL | exp.Expr, params: Mapping[str, Any] | None) -> tuple[str, Any]:
        """The text a job runs and its QueryJobConfig; with `parameters: inline`, the
        values are written into the text as typed literals instead."""
        statement = BIGQUERY.statement(sql) if isinstance(sql, exp.Expr) else sql
        if params and self.config.parameters == "inline" and isinstance(statement, Statement):
            return inline_values(statement, params), self.job_config(statement.text)
        text, _ = bind(statement, params)
        return text, self.job_config(statement, params)

    def _query(
        self,
        sql: SQL | exp.Expr,
        params: Mapping[str, Any] | None,
        doing: str,
        page_size: int | None = None,
    ) -> Any:
        """The RowIterator of a finished job running `sql`."""
        text, config = self._text(sql, params)
        try:
            return self._client.query_and_wait(
                text,
                job_config=config,
                location=self.config.location,
                api_timeout=self._request,
                wait_timeout=self._wait,
                retry=self._retry,
                job_retry=self._job_retry,
                page_size=page_size,
            )
        except Exception as err:
            raise self._error(err, doing) from err

    def execute(self, sql: SQL, params: Mapping[str, Any] | None = None) -> None:
        self._query(sql, params, "running a statement")

    def fetch_arrow(self, sql: SQL, params: Mapping[str, Any] | None = None) -> pa.Table:
        rows = self._query(sql, params, "running a query")
        try:
            return normalise_arrow(rows.to_arrow(create_bqstorage_client=False))
        except Exception as err:
            raise self._error(err, "reading a query result") from err

    def fetch_batches(
        self, sql: SQL, params: Mapping[str, Any] | None = None, batch_rows: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        rows = self._query(sql, params, "running a query", page_size=batch_rows)
        try:
            # Each page is fetched as the iterator reaches it; at most a page or two in memory.
            yield from rebatch(rows.to_arrow_iterable(), batch_rows)
        except Exception as err:
            raise self._error(err, "reading a query result") from err

    def dry_run_bytes(self, sql: SQL, params: Mapping[str, Any] | None = None) -> int:
        """The bytes `sql` would process, from a dry-run job (nothing runs, nothing is billed)."""
        sql, config = self._text(sql, params)
        config.dry_run = True
        config.use_query_cache = False
        try:
            job = self._client.query(
                sql,
                job_config=config,
                location=self.config.location,
                retry=self._retry,
                timeout=self._request,
                job_retry=self._job_retry,
            )
        except Exception as err:
            raise self._error(err, "estimating a query's bytes (dry run)") from err
        return int(job.total_bytes_processed or 0)

    # -- uploads ---------------------------------------------------------------------------------

    def register(self, name: str, data: pa.Table) -> exp.Table:
        """A table of its own in the dataset, `<name>_<random>`, loaded by a load job."""
        bigquery = self._bq
        doing = f"uploading table '{name}'"
        self.unregister(name)
        data = upload_table(data)
        payload, load = load_job(bigquery, self.config, data)
        real = f"{name}_{uuid.uuid4().hex[:12]}"
        ref = f"{self.project}.{self.dataset}.{real}"
        if self.config.upload_format == "parquet":  # a table that expires, then loaded
            table = bigquery.Table(ref, schema=load.schema)
            table.expires = datetime.now(UTC) + UPLOAD_EXPIRY
            try:
                self._client.create_table(table, retry=self._retry, timeout=self._request)
            except Exception as err:
                raise self._error(err, doing) from err
        self._registered[name] = real  # from here on, unregister drops it
        try:
            job = self._client.load_table_from_file(
                io.BytesIO(payload),
                ref,
                job_config=load,
                location=self.config.location,
                timeout=self._request,
            )
            job.result(timeout=self._wait, retry=self._retry)
        except Exception as err:
            failure = self._error(err, doing)
            self.unregister(name)
            raise failure from err
        return exp.table_(real, self.dataset, self.project, quoted=True)

    def unregister(self, name: str) -> None:
        """Drop a table `register` made; any other name is left alone, as DuckDB's is."""
        real = self._registered.pop(name, None)
        if real is None:
            return
        try:
            self._client.delete_table(
                f"{self.project}.{self.dataset}.{real}",
                not_found_ok=True,
                retry=self._retry,
                timeout=self._request,
            )
        except Exception as err:
            raise self._error(err, f"dropping table '{name}'") from err

    def table_schema(self, table: str) -> pa.Schema | None:
        from google.api_core.exceptions import NotFound

        parts = table.replace("`", "").split(".")
        if len(parts) == 1 and parts[0] in self._registered:
            parts = [self._registered[parts[0]]]
        parts = [self.project, self.dataset][: 3 - len(parts)] + parts
        try:
            found = self._client.get_table(
                ".".join(parts), retry=self._retry, timeout=self._request
            )
        except NotFound:
            return None
        except Exception as err:
            raise self._error(err, f"reading the schema of '{table}'") from err
        return pa.schema(pa.field(f.name, field_type(f)) for f in found.schema)

    def table_fingerprint(self, identifier: str) -> str | None:
        """`modified`, `num_rows` and `num_bytes` of a table; a checksum of a view's rows (or
        of a table's, where the engine keeps no modified time); None when there is none."""
        from google.api_core.exceptions import NotFound

        doing = f"fingerprinting table '{identifier}'"
        table = parse_table_name(identifier, doing)
        name = table.name
        if not table.db and name in self._registered:
            name = self._registered[name]
        project, dataset = table.catalog or self.project, table.db or self.dataset
        try:
            found = self._client.get_table(
                f"{project}.{dataset}.{name}", retry=self._retry, timeout=self._request
            )
        except NotFound:
            return None
        except Exception as err:
            raise self._error(err, doing) from err
        fingerprint = metadata_fingerprint(found)
        if fingerprint is not None:
            return fingerprint
        real = exp.table_(name, dataset, project, quoted=True)
        try:
            rows = self._query(checksum_query(real, [f.name for f in found.schema]), None, doing)
        except RunError as err:
            if isinstance(err.__cause__, NotFound):  # dropped since tables.get
                return None
            raise
        try:
            count, total = next(iter(rows))
        except Exception as err:
            raise self._error(err, doing) from err
        return f"rows={count};hash={total or 0}"

    def close(self) -> None:
        try:
            for name in list(self._registered):
                self.unregister(name)
        finally:
            self._client.close()
