"""BigQuery job settings: what each query job and each upload's load job is sent with.

Queries. A statement's `QueryJobConfig` has the profile's dataset as its default dataset (so
unqualified table names resolve there), its `maximum_bytes_billed`, `priority` and `labels`,
`job_timeout_seconds` when set (BigQuery then stops an abandoned job itself), and each `@name`
parameter the statement uses, bound as a typed ScalarQueryParameter (fsql.adapters.
bigquery_values): values never pass through SQL text, except with `parameters: inline`, where
fsql.dialects.bigquery writes fsql's own window times as typed literals for emulators.

Uploads. `upload_format` picks the load job of an entity table:
- `parquet` (default, for BigQuery): the adapter first creates the table with a one-day
  expiration, so a crashed run leaves nothing behind for long, then the job loads one Parquet
  file into it, which keeps every type exact (timestamps as UTC instants).
- `csv` (for local emulators, such as crucible, which accept only CSV loads with an explicit
  schema and keep no table expiration): the load job creates the table; timestamps are
  written `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, NULL as an empty field. Not for production:
  CSV cannot carry BYTES columns, and the table has no expiration.
`bigquery` is the google.cloud.bigquery module, which the adapter imports lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from fsql.adapters.bigquery_config import BigQueryConfig
from fsql.adapters.bigquery_values import csv_bytes, parquet_bytes, scalar_parameter, upload_type
from fsql.errors import RunError


def query_job(bigquery: Any, config: BigQueryConfig, values: Mapping[str, Any]) -> Any:
    """The QueryJobConfig a statement runs with: dataset, the `values` it binds (exactly
    the names it uses: BigQuery refuses others), cost controls."""
    job = bigquery.QueryJobConfig(default_dataset=f"{config.project}.{config.dataset}")
    if values:
        job.query_parameters = [
            scalar_parameter(bigquery, name, value) for name, value in values.items()
        ]
    if config.maximum_bytes_billed is not None:
        job.maximum_bytes_billed = config.maximum_bytes_billed
    if config.priority == "BATCH":  # interactive is the default, and keeps jobs.query
        job.priority = bigquery.QueryPriority.BATCH
    if config.labels:
        job.labels = dict(config.labels)
    if config.job_timeout_seconds is not None:
        job.job_timeout_ms = int(config.job_timeout_seconds * 1000)
    return job


def load_job(bigquery: Any, config: BigQueryConfig, data: pa.Table) -> tuple[bytes, Any]:
    """The file an upload sends and the LoadJobConfig that loads it, replacing any rows;
    `data` comes from `upload_table`, and the job's `schema` is the table's."""
    schema = [
        _schema_field(bigquery, column, kind)
        for column, kind in zip(data.column_names, data.schema.types, strict=True)
    ]
    if config.upload_format == "csv":
        payload = csv_bytes(data)
        load = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.CSV, schema=schema, skip_leading_rows=1
        )
    else:  # into the table the adapter created with an expiration
        payload = parquet_bytes(data)
        load = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            schema=schema,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        )
    load.write_disposition = bigquery.WriteDisposition.WRITE_TRUNCATE
    if any(field.mode == "REPEATED" for field in schema):
        if config.upload_format == "csv":
            raise RunError(
                "cannot upload an array column as CSV", hint="use `upload_format: parquet`"
            )
        options = bigquery.ParquetOptions()
        options.enable_list_inference = True  # a Parquet LIST is the array, not a record
        load.parquet_options = options
    return payload, load


def _schema_field(bigquery: Any, column: str, kind: pa.DataType) -> Any:
    """A load job's field: an Arrow list is a REPEATED field of its element's type."""
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return bigquery.SchemaField(column, upload_type(kind.value_type), mode="REPEATED")
    return bigquery.SchemaField(column, upload_type(kind))
