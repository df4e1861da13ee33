"""BigQuery adapter: google-cloud-bigquery jobs in the profile's dataset, Arrow in and out.

Queries. Every statement runs through `Client.query_and_wait` with the profile's dataset as
the job's default dataset (so unqualified table names resolve there), its
`maximum_bytes_billed`, `priority` and `labels`, and a bounded wait: `job_timeout_seconds`
when set (also sent as the job's own server-side timeout, so BigQuery stops an abandoned
job), otherwise six hours, BigQuery's own limit for a query job.

Bounded waits. Every call ends within a time the profile can change (defaults in brackets):
`job_timeout_seconds` [6 h] a job's run, `request_timeout_seconds` [60 s] one HTTP request's
wait for an answer (the client waits at least 120 s for a query's results, whatever it is
given), and `retry_timeout_seconds` [120 s, never above the job timeout] the retries of a
call that keeps failing (HTTP 5xx, rate limits, a dropped connection, no answer). The
client's own defaults are no request timeout at all (a server that accepts and never answers
holds a call forever), ten minutes of retries for each call, and forty minutes of re-running a
query job that failed for a retryable reason, each retry of which starts the call's own ten
minutes over. Here the job retries share the call's budget: a server that keeps failing makes
a statement fail after at most about twice `retry_timeout_seconds` (a last attempt may start
just before the budget ends).

Parameters. Compiled SQL names its parameters with sqlglot placeholders
(`exp.Placeholder(this="end")`), which sqlglot's bigquery dialect prints as `@end`: BigQuery's
own named-parameter form, so the SQL is sent as it is and each `@name` the statement uses is
bound as a typed `ScalarQueryParameter` (datetimes as UTC TIMESTAMPs, naive ones taken as
UTC; int INT64, float FLOAT64, str STRING, bool BOOL, Decimal NUMERIC, date DATE). Values
never pass through SQL text, except with `parameters: inline`, for emulators that refuse
query parameters: then sqlglot writes fsql's own window times as typed literals. The value
conversions live in `bigquery_values.py`.

Uploads. `register(name, data)` loads the Arrow table into a table of its own,
`<dataset>.<name>_<random>`, so concurrent runs sharing a dataset never see each other's
rows, and rewrites references to `name` in later SQL to that table (aliased back to `name`,
so `name.column` still resolves). `upload_format` picks the load job:
- `parquet` (default, for BigQuery): the table is first created with a one-day expiration,
  so a crashed run leaves nothing behind for long, then loaded from one Parquet file, which
  keeps every type exact (timestamps as UTC instants).
- `csv` (for local emulators, such as crucible, which accept only CSV loads with an explicit
  schema and keep no table expiration): the load job creates the table; timestamps are
  written `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, NULL as an empty field. Not for production:
  CSV cannot carry BYTES columns, and the table has no expiration.
Either way `unregister` (and `close`) drop the table. Rows never become SQL literals.

Results. `fetch_arrow` reads `RowIterator.to_arrow()` (REST pages, no Storage API client);
`fetch_batches` streams pages with `to_arrow_iterable()` and re-cuts them to `batch_rows`.
Timestamps come back as timestamp[us, UTC] (DATETIME read as UTC); column names keep the
case BigQuery returns, which is the case the SQL wrote.

Fingerprints. `table_fingerprint` reads the table's metadata (tables.get): `modified`
(lastModifiedTime, moved by DML, load and copy jobs and CREATE OR REPLACE), `num_rows`,
`num_bytes`, and the streaming buffer's estimate when rows were streamed and not yet committed.
A view's `modified` follows its definition, not its rows, and an external table's data lives
outside BigQuery, so those (and any table without a `modified` time: crucible, the local
emulator, reports none) get a content checksum instead: `COUNT(*)` and the NUMERIC sum of
`CAST(CONCAT('0x', SUBSTR(TO_HEX(MD5(TO_JSON_STRING(STRUCT(<columns>)))), 1, 15)) AS INT64)`,
a 60-bit hash of each row, one scan (billed as a query). Not FARM_FINGERPRINT, which crucible
refuses, nor BIGNUMERIC (refused too); a sum, unlike BIT_XOR, also moves when a duplicate row
is added. A missing table or dataset gives None.

Errors. Every verb raises a `RunError` made by `bigquery_error`: one scrubbed line saying
what failed (missing or rejected credentials, permission denied, unknown dataset or table,
bytes-billed limit, quota, timeout, an unreachable or failing endpoint, or BigQuery's first
line), naming the endpoint for network failures and the profile key to raise for timeouts,
with the client's error kept as `__cause__`. `dry_run_bytes` gives the bytes a query would scan.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import sqlglot
from sqlglot import exp

from fsql.adapters.base import OfflineAdapter, upload_table
from fsql.adapters.bigquery_values import (
    csv_bytes,
    field_type,
    inline_parameters,
    normalise_arrow,
    parquet_bytes,
    rebatch,
    scalar_parameter,
    upload_type,
    used_parameters,
)
from fsql.config.profiles import PROFILES_FILE
from fsql.config.secrets import register_secret, scrub
from fsql.errors import FsqlError, ProjectError, RunError, raise_collected

REQUIRED_KEYS = ("project", "dataset")
OPTIONAL_KEYS = (
    "type",
    "location",
    "method",
    "keyfile",
    "keyfile_json",
    "api_endpoint",
    "job_timeout_seconds",
    "request_timeout_seconds",
    "retry_timeout_seconds",
    "maximum_bytes_billed",
    "priority",
    "labels",
    "upload_format",
    "parameters",
    "pit_strategy",  # read by the compiler, not here
)
METHOD_KEYS = {"oauth": None, "service-account": "keyfile", "service-account-json": "keyfile_json"}
METHODS = (*METHOD_KEYS, "anonymous")
SCOPES = ("https://www.googleapis.com/auth/bigquery",)
MAX_WAIT_SECONDS = 6 * 3600  # BigQuery stops any query job after six hours
REQUEST_SECONDS = 60.0  # one HTTP request's wait for an answer (`request_timeout_seconds`)
RETRY_SECONDS = 120.0  # retries of a failing call (`retry_timeout_seconds`)
TIMEOUT_KEYS = ("job_timeout_seconds", "request_timeout_seconds", "retry_timeout_seconds")
SERVER_ERRORS = frozenset({500, 502, 503, 504})
DEFAULT_ENDPOINT = "bigquery.googleapis.com:443"
UPLOAD_EXPIRY = timedelta(days=1)
# tables.get types whose lastModifiedTime moves with their rows; a VIEW's, MATERIALIZED_VIEW's
# or EXTERNAL table's does not, so those are fingerprinted by a checksum of their rows.
MODIFIED_WITH_ROWS = frozenset({"TABLE", "SNAPSHOT"})
HASH_HEX_DIGITS = 15  # 60 bits of the row's MD5: a non-negative INT64 (16 digits may overflow)
# -- errors --------------------------------------------------------------------------------------


def _detail(err: BaseException) -> str:
    """BigQuery's own message in one scrubbed line (not the client's `POST <url>:` prefix)."""
    errors = getattr(err, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    text = str(first.get("message") or getattr(err, "message", None) or err)
    lines = [line.strip() for line in scrub(text).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def bigquery_error(err: BaseException, doing: str, where: str | None = None) -> RunError:
    """One clear RunError for a failure while `doing` (e.g. "building view 'x'"); `where`
    (host:port of the endpoint) is named when the failure is the network's or the server's.

    Accepts the adapter's own RunError too (its client error is the cause), so callers can
    re-word any failure of a verb with their own context.
    """
    if isinstance(err, FsqlError) and err.__cause__ is not None:
        err = err.__cause__
    while type(err).__name__ == "RetryError" and getattr(err, "cause", None) is not None:
        # Retries ran out: what failed is the last attempt (job retries wrap call retries).
        err = err.cause  # type: ignore[attr-defined]
    code = getattr(err, "code", None)
    reasons = {e.get("reason") for e in getattr(err, "errors", None) or [] if isinstance(e, dict)}
    detail = _detail(err)
    kind = type(err).__name__
    at = f" at {where}" if where else ""
    if "bytesBilledLimitExceeded" in reasons or "bytes billed" in detail.lower():
        return RunError(
            f"{doing} failed: bytes-billed limit exceeded ({detail})",
            hint="raise `maximum_bytes_billed` in profiles.yml, or select fewer views or rows",
        )
    if kind == "DefaultCredentialsError":
        return RunError(
            f"{doing} failed: no Google credentials found",
            hint="run `gcloud auth application-default login`, or set `method: service-account` "
            "with `keyfile:` in profiles.yml",
        )
    if kind == "RefreshError" or code == 401:
        return RunError(
            f"{doing} failed: the credentials were rejected ({detail})",
            hint="renew them (`gcloud auth application-default login`) or check the key file",
        )
    if code == 403 and reasons & {"quotaExceeded", "rateLimitExceeded"}:
        return RunError(f"{doing} failed: quota exceeded ({detail})", hint="retry later")
    if code == 403:
        return RunError(
            f"{doing} failed: permission denied ({detail})",
            hint="grant roles/bigquery.jobUser on the project and roles/bigquery.dataEditor "
            "on the dataset",
        )
    if code == 404:
        return RunError(
            f"{doing} failed: unknown dataset or table ({detail})",
            hint="check `project:` and `dataset:` in profiles.yml, and run `fsql run` first",
        )
    if code in SERVER_ERRORS or code == 429:
        return RunError(
            f"{doing} failed: BigQuery{at} kept failing, gave up retrying ({code}: {detail})",
            hint="check BigQuery's status and `api_endpoint`, or raise `retry_timeout_seconds` "
            "in profiles.yml",
        )
    if kind in ("Timeout", "ReadTimeout", "ConnectTimeout"):  # requests: no answer in time
        return RunError(
            f"{doing} failed: no answer from BigQuery{at} in time, gave up retrying ({detail})",
            hint="check `api_endpoint` and the network, or raise `request_timeout_seconds` and "
            "`retry_timeout_seconds` in profiles.yml",
        )
    if isinstance(err, TimeoutError) or "timeout" in kind.lower():
        return RunError(
            f"{doing} failed: timed out waiting for BigQuery{at}",
            hint="raise `job_timeout_seconds` in profiles.yml",
        )
    if isinstance(err, ConnectionError) or kind in ("ConnectionError", "TransportError"):
        return RunError(
            f"{doing} failed: BigQuery is unreachable{at} ({detail})",
            hint="check `api_endpoint` in profiles.yml and the network",
        )
    return RunError(f"{doing} failed: {detail}")


def endpoint(config: Mapping[str, Any]) -> str:
    """host:port of the API the client talks to, for messages (never a credential)."""
    raw = str(config.get("api_endpoint") or "")
    if not raw:
        return DEFAULT_ENDPOINT
    try:
        parts = urlsplit(raw if "//" in raw else f"//{raw}")
        default_port = 80 if parts.scheme == "http" else 443
        return f"{parts.hostname}:{parts.port or default_port}"
    except ValueError:
        return "(invalid api_endpoint)"


# -- profile -------------------------------------------------------------------------------------


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


def _is_number(value: Any, whole: bool) -> bool:
    try:
        number = float(str(value).strip())
    except ValueError:
        return False
    return number > 0 and (not whole or number.is_integer())


def check_profile(config: Mapping[str, Any], source: str) -> None:
    """Every key known, every required key set, one consistent login: or ProjectErrors."""
    known = REQUIRED_KEYS + OPTIONAL_KEYS
    errors = [
        ProjectError(
            f"unknown key '{key}' in the bigquery offline profile",
            file=source,
            hint="known keys: " + ", ".join(sorted(known)),
        )
        for key in config
        if key not in known
    ]
    errors += [
        ProjectError(f"the bigquery offline profile needs '{key}'", file=source)
        for key in REQUIRED_KEYS
        if config.get(key) in (None, "")
    ]
    method = str(config.get("method") or "oauth")
    if method not in METHODS:
        errors.append(ProjectError(f"'method' must be one of {', '.join(METHODS)}", file=source))
    for wanted, key in METHOD_KEYS.items():
        if key and method == wanted and not config.get(key):
            errors.append(ProjectError(f"method '{method}' needs '{key}'", file=source))
        if key and method != wanted and config.get(key):
            errors.append(ProjectError(f"'{key}' needs 'method: {wanted}'", file=source))
    if str(config.get("priority") or "interactive").lower() not in ("interactive", "batch"):
        errors.append(ProjectError("'priority' must be interactive or batch", file=source))
    if str(config.get("upload_format") or "parquet") not in ("parquet", "csv"):
        errors.append(ProjectError("'upload_format' must be parquet or csv", file=source))
    if str(config.get("parameters") or "bound") not in ("bound", "inline"):
        errors.append(ProjectError("'parameters' must be bound or inline", file=source))
    errors += [
        ProjectError(f"'{key}' must be a positive number", file=source)
        for key in TIMEOUT_KEYS
        if config.get(key) is not None and not _is_number(config[key], whole=False)
    ]
    if config.get("maximum_bytes_billed") is not None and not _is_number(
        config["maximum_bytes_billed"], whole=True
    ):
        errors.append(ProjectError("'maximum_bytes_billed' must be a whole number", file=source))
    if config.get("labels") is not None and not isinstance(config["labels"], Mapping):
        errors.append(ProjectError("'labels' must be a mapping of names to values", file=source))
    raise_collected(errors)


def _seconds(config: Mapping[str, Any], key: str, default: float) -> float:
    """A timeout of the profile in seconds (checked by `check_profile`), or its default."""
    value = config.get(key)
    return float(str(value).strip()) if value is not None else default


def credentials(config: Mapping[str, Any], project_root: Path, source: str) -> Any:
    """The google-auth credentials the profile's `method` names (no network call)."""
    method = str(config.get("method") or "oauth")
    if method == "anonymous":
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    if method == "oauth":
        import google.auth

        creds, _ = google.auth.default(scopes=list(SCOPES))  # DefaultCredentialsError: a RunError
        return creds
    from google.oauth2 import service_account

    if method == "service-account":
        path = Path(str(config["keyfile"])).expanduser()
        path = path if path.is_absolute() else project_root / path
        if not path.is_file():
            raise ProjectError(f"keyfile '{path}' is not a file", file=source)
        loader, arg = service_account.Credentials.from_service_account_file, str(path)
    else:
        try:
            arg = json.loads(str(config["keyfile_json"]))
        except ValueError:
            raise ProjectError("'keyfile_json' is not valid JSON", file=source) from None
        if not isinstance(arg, dict):
            raise ProjectError("'keyfile_json' must be a JSON object", file=source)
        for key in ("private_key", "private_key_id"):
            register_secret(str(arg.get(key) or ""))
        loader = service_account.Credentials.from_service_account_info  # type: ignore[assignment]
    try:
        return loader(arg, scopes=list(SCOPES))
    except (ValueError, KeyError) as err:  # malformed key: name the key, never its content
        what = "keyfile" if method == "service-account" else "keyfile_json"
        reason = (scrub(str(err)).strip().splitlines() or ["malformed"])[0]
        raise ProjectError(
            f"the service-account key in '{what}' cannot be read ({reason})", file=source
        ) from None


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


def row_hash_sum(columns: list[str]) -> exp.Expression:
    """SUM over rows of a 60-bit hash of the row's columns, as NUMERIC (exact, no overflow)."""
    row = exp.Struct(expressions=[exp.column(exp.to_identifier(c, quoted=True)) for c in columns])
    text = exp.func("TO_JSON_STRING", row, dialect="bigquery")
    digest = exp.func("TO_HEX", exp.func("MD5", text, dialect="bigquery"), dialect="bigquery")
    prefix = exp.func(
        "SUBSTR",
        digest,
        exp.Literal.number(1),
        exp.Literal.number(HASH_HEX_DIGITS),
        dialect="bigquery",
    )
    number = exp.cast(
        exp.func("CONCAT", exp.Literal.string("0x"), prefix), "INT64", dialect="bigquery"
    )
    return exp.Sum(this=exp.cast(number, "NUMERIC", dialect="bigquery"))


# -- adapter --------------------------------------------------------------------------------------


class BigQueryAdapter(OfflineAdapter):
    """A BigQuery client whose jobs default to the profile's project and dataset."""

    dialect_name = "bigquery"
    transactional_ddl = False  # each statement is a job of its own
    transactions = False  # BEGIN/COMMIT only inside a script or session

    def __init__(self, client: Any, config: Mapping[str, Any]) -> None:
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY

        self._bq = bigquery
        self._client = client
        self.project = str(config["project"])
        self.dataset = str(config["dataset"])
        self._location = config.get("location") or None
        self.where = endpoint(config)
        timeout = config.get("job_timeout_seconds")
        self._timeout = float(timeout) if timeout is not None else None
        self._wait = self._timeout or MAX_WAIT_SECONDS
        self._request = _seconds(config, "request_timeout_seconds", REQUEST_SECONDS)
        # Retries of failing calls, and re-runs of jobs that failed for a retryable reason,
        # share one budget, never longer than the job timeout.
        retry_for = min(_seconds(config, "retry_timeout_seconds", RETRY_SECONDS), self._wait)
        self._retry = bigquery.DEFAULT_RETRY.with_timeout(retry_for)
        self._job_retry = DEFAULT_JOB_RETRY.with_timeout(retry_for)
        self._bytes = config.get("maximum_bytes_billed")
        self._priority = str(config.get("priority") or "interactive").upper()
        self._labels = {str(k): str(v) for k, v in (config.get("labels") or {}).items()}
        self._upload_format = str(config.get("upload_format") or "parquet")
        self._inline = str(config.get("parameters") or "bound") == "inline"
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
        if config.get("keyfile_json"):  # even one written in plain text in profiles.yml
            register_secret(str(config["keyfile_json"]))
        check_profile(config, source)
        bigquery = _client_module()
        from google.api_core.client_options import ClientOptions

        where = f"BigQuery project '{config['project']}'"
        try:
            client = bigquery.Client(
                project=str(config["project"]),
                credentials=credentials(config, project_root, source),
                location=config.get("location") or None,
                client_options=ClientOptions(api_endpoint=str(config["api_endpoint"]))
                if config.get("api_endpoint")
                else None,
            )
        except FsqlError:
            raise
        except Exception as err:
            raise bigquery_error(err, f"connecting to {where}", endpoint(config)) from err
        adapter = cls(client, config)
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

    def job_config(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The QueryJobConfig a statement runs with: dataset, parameters, cost controls."""
        bigquery = self._bq
        config = bigquery.QueryJobConfig(default_dataset=f"{self.project}.{self.dataset}")
        if params:
            config.query_parameters = [
                scalar_parameter(bigquery, name, params[name])
                for name in used_parameters(sql, params)
            ]
        if self._bytes is not None:
            config.maximum_bytes_billed = int(float(str(self._bytes)))
        if self._priority == "BATCH":  # interactive is the default, and keeps jobs.query
            config.priority = bigquery.QueryPriority.BATCH
        if self._labels:
            config.labels = self._labels
        if self._timeout is not None:
            config.job_timeout_ms = int(self._timeout * 1000)
        return config

    def _resolve(self, sql: str) -> str:
        """`sql` with references to registered names pointed at their uploaded tables."""
        if not any(name in sql for name in self._registered):
            return sql
        try:
            trees = sqlglot.parse(sql, read="bigquery")
        except sqlglot.errors.ParseError:
            return sql  # BigQuery will say what is wrong with it
        out = []
        for tree in trees:
            if tree is None:
                continue
            ctes = {cte.alias for cte in tree.find_all(exp.CTE)}

            def swap(node: exp.Expression, ctes: set[str] = ctes) -> exp.Expression:
                if not isinstance(node, exp.Table) or node.name not in self._registered:
                    return node
                if node.name in ctes or node.db not in ("", self.dataset):
                    return node
                if node.catalog not in ("", self.project):
                    return node
                real = exp.table_(
                    self._registered[node.name], self.dataset, self.project, quoted=True
                )
                real.set("alias", node.args.get("alias") or exp.TableAlias(this=node.this.copy()))
                return real

            out.append(tree.transform(swap).sql(dialect="bigquery"))
        return ";\n".join(out)

    def _query(
        self,
        sql: str,
        params: Mapping[str, Any] | None,
        doing: str,
        page_size: int | None = None,
    ) -> Any:
        """The RowIterator of a finished job running `sql`."""
        sql = self._resolve(sql)
        if params and self._inline:
            sql, params = inline_parameters(sql, params), None
        config = self.job_config(sql, params)
        try:
            return self._client.query_and_wait(
                sql,
                job_config=config,
                location=self._location,
                api_timeout=self._request,
                wait_timeout=self._wait,
                retry=self._retry,
                job_retry=self._job_retry,
                page_size=page_size,
            )
        except Exception as err:
            raise self._error(err, doing) from err

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._query(sql, params, "running a statement")

    def fetch_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        rows = self._query(sql, params, "running a query")
        try:
            return normalise_arrow(rows.to_arrow(create_bqstorage_client=False))
        except Exception as err:
            raise self._error(err, "reading a query result") from err

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None = None, batch_rows: int = 100_000
    ) -> Iterator[pa.RecordBatch]:
        rows = self._query(sql, params, "running a query", page_size=batch_rows)
        try:
            # Each page is fetched as the iterator reaches it; at most a page or two in memory.
            yield from rebatch(rows.to_arrow_iterable(), batch_rows)
        except Exception as err:
            raise self._error(err, "reading a query result") from err

    def dry_run_bytes(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """The bytes `sql` would process, from a dry-run job (nothing runs, nothing is billed)."""
        sql = self._resolve(sql)
        config = self.job_config(sql, params)
        config.dry_run = True
        config.use_query_cache = False
        try:
            job = self._client.query(
                sql,
                job_config=config,
                location=self._location,
                retry=self._retry,
                timeout=self._request,
                job_retry=self._job_retry,
            )
        except Exception as err:
            raise self._error(err, "estimating a query's bytes (dry run)") from err
        return int(job.total_bytes_processed or 0)

    # -- uploads ---------------------------------------------------------------------------------

    def register(self, name: str, data: pa.Table) -> None:
        bigquery = self._bq
        doing = f"uploading table '{name}'"
        self.unregister(name)
        data = upload_table(data)
        schema = [
            bigquery.SchemaField(col, upload_type(kind))
            for col, kind in zip(data.column_names, data.schema.types, strict=True)
        ]
        real = f"{name}_{uuid.uuid4().hex[:12]}"
        ref = f"{self.project}.{self.dataset}.{real}"
        if self._upload_format == "csv":
            payload = csv_bytes(data)
            load = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.CSV, schema=schema, skip_leading_rows=1
            )
        else:
            payload = parquet_bytes(data)
            load = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                schema=schema,
                create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            )
            table = bigquery.Table(ref, schema=schema)
            table.expires = datetime.now(UTC) + UPLOAD_EXPIRY
            try:
                self._client.create_table(table, retry=self._retry, timeout=self._request)
            except Exception as err:
                raise self._error(err, doing) from err
        load.write_disposition = bigquery.WriteDisposition.WRITE_TRUNCATE
        self._registered[name] = real  # from here on, unregister drops it
        try:
            job = self._client.load_table_from_file(
                io.BytesIO(payload),
                ref,
                job_config=load,
                location=self._location,
                timeout=self._request,
            )
            job.result(timeout=self._wait, retry=self._retry)
        except Exception as err:
            failure = self._error(err, doing)
            self.unregister(name)
            raise failure from err

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
        try:
            table = exp.to_table(identifier, dialect="bigquery")
        except sqlglot.errors.ParseError as err:
            first = str(err).splitlines()[0]
            raise RunError(f"{doing} failed: not a table name ({first})") from err
        if len(table.parts) > 3 or not all(isinstance(p, exp.Identifier) for p in table.parts):
            raise RunError(f"{doing} failed: not a table name", hint="write dataset.table")
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
        query = exp.select(
            exp.Count(this=exp.Star()), row_hash_sum([f.name for f in found.schema])
        ).from_(exp.table_(name, dataset, project, quoted=True))
        try:
            rows = self._query(query.sql(dialect="bigquery"), None, doing)
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
