"""The BigQuery adapter through the real google-cloud-bigquery client, against crucible.

crucible-emulator (tests/conftest.py starts one per session from .venvs/crucible) serves the
BigQuery REST API over DuckDB; the client, its requests, load jobs and error responses are
the real ones. Each test works in a dataset of its own. What crucible 0.1.0a2 cannot show,
and how it is covered instead:
- query parameters: it refuses `queryParameters`, so binding is checked on the request the
  client would send (`QueryJobConfig.to_api_repr()`), and the live run is a strict xfail;
- Parquet load jobs and table expirations (the production upload path): refused, so the
  Parquet file is checked on its own and the live path only for a clear error;
- dry-run jobs: refused, so `dry_run_bytes` is checked for its error path only;
- credentials: it takes anonymous ones, so authentication failures are checked on the error
  mapping with google-auth's own error classes.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

pytest.importorskip("google.cloud.bigquery")

from google.api_core import exceptions as api
from google.auth import exceptions as auth

from fsql.adapters.base import upload_table
from fsql.adapters.bigquery import (
    BigQueryAdapter,
    bigquery_error,
    check_profile,
    metadata_fingerprint,
)
from fsql.adapters.bigquery_values import csv_bytes, normalise_arrow, parquet_bytes
from fsql.config.secrets import register_secret
from fsql.dialects.bigquery import BIGQUERY
from fsql.dialects.statement import Statement, read_upload
from fsql.errors import ProjectError, RunError
from tests.support.bigquery_emulator import client, profile_block

UTC_US = pa.timestamp("us", tz="UTC")
SENTINEL = "SENTINEL-k3yf1le-9c2e"


@pytest.fixture
def adapter(bigquery_adapter: BigQueryAdapter) -> BigQueryAdapter:
    return bigquery_adapter


def _events(adapter: BigQueryAdapter) -> None:
    adapter.execute(
        "CREATE OR REPLACE TABLE events AS "
        "SELECT 1 AS user_id, 'a' AS name, 1.5 AS amount, TIMESTAMP '2024-01-01 00:00:00+00' AS ts "
        "UNION ALL SELECT 2, 'b\\'c', NULL, TIMESTAMP '2024-01-02 10:00:00+02' "
        "UNION ALL SELECT 3, 'x\\' OR 1=1 --', 3.0, TIMESTAMP '2024-01-03 00:00:00.123456+00'"
    )


def test_execute_and_fetch_arrow(adapter: BigQueryAdapter) -> None:
    _events(adapter)
    table = adapter.fetch_arrow("SELECT user_id, name, amount, ts FROM events ORDER BY user_id")
    assert table.schema == pa.schema(
        [("user_id", pa.int64()), ("name", pa.string()), ("amount", pa.float64()), ("ts", UTC_US)]
    )
    assert table.column("name").to_pylist() == ["a", "b'c", "x' OR 1=1 --"]
    assert table.column("ts").to_pylist() == [
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 2, 8, tzinfo=UTC),  # +02:00 read back as the same instant in UTC
        datetime(2024, 1, 3, 0, 0, 0, 123456, tzinfo=UTC),
    ]
    empty = adapter.fetch_arrow("SELECT user_id, ts FROM events WHERE user_id > 100")
    assert empty.num_rows == 0
    assert empty.schema == pa.schema([("user_id", pa.int64()), ("ts", UTC_US)])
    # BigQuery keeps the case the SQL wrote; DATETIME is read as UTC.
    row = adapter.fetch_arrow("SELECT 1 AS userScore, DATETIME '2024-01-01 05:00:00' AS local")
    assert row.schema == pa.schema([("userScore", pa.int64()), ("local", UTC_US)])
    assert row.column("local").to_pylist() == [datetime(2024, 1, 1, 5, tzinfo=UTC)]


def test_unqualified_names_resolve_to_the_profile_dataset(
    adapter: BigQueryAdapter, bigquery_profile: dict[str, Any]
) -> None:
    adapter.execute("CREATE OR REPLACE TABLE here AS SELECT 1 AS a")
    project, dataset = bigquery_profile["project"], bigquery_profile["dataset"]
    for name in ("here", f"{dataset}.here", f"{project}.{dataset}.here", f"`{dataset}`.here"):
        assert adapter.table_schema(name) == pa.schema([("a", pa.int64())]), name
    qualified = f"SELECT a FROM `{project}.{dataset}.here`"
    assert adapter.fetch_arrow(qualified).to_pylist() == [{"a": 1}]


def _reading(sql: str, name: str, table: exp.Table) -> Statement:
    """`sql` (BigQuery) pointed at the table an upload registered as `name` went into."""
    return BIGQUERY.statement(read_upload(sqlglot.parse_one(sql, read="bigquery"), name, table))


def _window_query() -> Statement:
    """The form the compiler emits: sqlglot Placeholder nodes, printed by the bigquery dialect."""
    ts = exp.column("ts")
    query = (
        exp.select("user_id")
        .from_("events")
        .where(
            exp.and_(
                exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="start")),
                exp.LTE(this=ts.copy(), expression=exp.Placeholder(this="end")),
                exp.NEQ(this=exp.column("name"), expression=exp.Placeholder(this="name")),
            )
        )
        .order_by("user_id")
    )
    return BIGQUERY.statement(query)


WINDOW_PARAMS = {
    # 10:00 +02:00 is 08:00 UTC: an instant compared as an instant, whatever its zone.
    "start": datetime(2024, 1, 2, 9, 0, tzinfo=timezone(timedelta(hours=1))),
    "end": datetime(2024, 1, 2, 8),  # naive: taken as UTC
    "name": "x' OR 1=1 --",
    "unused": 7,
}


def test_compiled_placeholders_are_bound_as_typed_parameters(adapter: BigQueryAdapter) -> None:
    sql = _window_query()
    assert sql.text == (
        "SELECT user_id FROM events WHERE ts >= @start AND ts <= @end AND name <> @name "
        "ORDER BY user_id"
    )
    assert sql.parameters == ("start", "end", "name")
    request = adapter.job_config(sql, WINDOW_PARAMS).to_api_repr()["query"]
    assert request["defaultDataset"] == {"projectId": adapter.project, "datasetId": adapter.dataset}
    assert request["parameterMode"] == "NAMED"
    bound = {
        p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"])
        for p in request["queryParameters"]
    }
    assert bound == {
        "start": ("TIMESTAMP", "2024-01-02 08:00:00+00:00"),
        "end": ("TIMESTAMP", "2024-01-02 08:00:00+00:00"),
        "name": ("STRING", "x' OR 1=1 --"),  # a value, not SQL text
    }
    typed = adapter.job_config(
        BIGQUERY.statement(exp.select(*[exp.Placeholder(this=name) for name in "ifbd"])),
        {"i": 1, "f": 0.5, "b": True, "d": Decimal(2)},
    )
    kinds = [p["parameterType"]["type"] for p in typed.to_api_repr()["query"]["queryParameters"]]
    assert kinds == ["INT64", "FLOAT64", "BOOL", "NUMERIC"]


def test_text_with_parameters_is_refused(adapter: BigQueryAdapter) -> None:
    with pytest.raises(RunError, match="must come compiled"):
        adapter.job_config("SELECT @a", {"a": 1})


@pytest.mark.xfail(strict=True, raises=RunError, reason="crucible 0.1.0a2 refuses queryParameters")
def test_bound_parameters_on_the_emulator(adapter: BigQueryAdapter) -> None:
    _events(adapter)
    table = adapter.fetch_arrow(_window_query(), WINDOW_PARAMS)
    assert table.column("user_id").to_pylist() == [2]


def test_fetch_batches_streams_in_several_batches(adapter: BigQueryAdapter) -> None:
    sql = "SELECT n FROM UNNEST(GENERATE_ARRAY(0, 9)) AS n ORDER BY n"
    batches = list(adapter.fetch_batches(sql, batch_rows=3))
    assert [b.num_rows for b in batches] == [3, 3, 3, 1]
    assert all(b.schema == pa.schema([("n", pa.int64())]) for b in batches)
    assert pa.Table.from_batches(batches).column("n").to_pylist() == list(range(10))
    # Pages that do not line up with batch_rows are re-cut.
    assert [b.num_rows for b in adapter.fetch_batches(sql, batch_rows=4)] == [4, 4, 2]


def test_register_uploads_a_table_of_its_own(
    adapter: BigQueryAdapter, bigquery_profile: dict[str, Any], bigquery_emulator: dict[str, Any]
) -> None:
    _events(adapter)
    kolkata = timezone(timedelta(hours=5, minutes=30))
    entities = pa.table(
        {
            "user_id": pa.array([1, 2, None, 4], pa.int64()),
            "ts": pa.array(
                [
                    datetime(2024, 1, 5, 5, 30, tzinfo=kolkata),  # 00:00 UTC
                    datetime(2024, 1, 2, 8, 0, 0, 123456, tzinfo=UTC),
                    None,
                    datetime(2024, 1, 1, tzinfo=UTC),
                ],
                pa.timestamp("ns", tz="Asia/Kolkata"),
            ),
            "label": pa.array(["p", None, 'it\'s, "q"', "q"]).dictionary_encode(),
            "__fsql_row": pa.array([0, 1, 2, 3], pa.int32()),
        }
    )
    uploaded = adapter.register("__fsql_entities", entities)
    assert uploaded.db == adapter.dataset and uploaded.catalog == adapter.project
    assert adapter.table_schema("__fsql_entities") == pa.schema(
        [
            ("user_id", pa.int64()),
            ("ts", UTC_US),
            ("label", pa.string()),
            ("__fsql_row", pa.int64()),
        ]
    )
    # The uploaded table has a name of its own; SQL naming it as registered is pointed there.
    bq = client(bigquery_emulator)
    tables = sorted(t.table_id for t in bq.list_tables(bigquery_profile["dataset"]))
    assert tables[0] == uploaded.name and tables[0].startswith("__fsql_entities_")
    assert tables[1:] == ["events"]
    sql = (
        "SELECT __fsql_entities.__fsql_row, e.user_id, e.ts, e.label, v.name "
        "FROM __fsql_entities LEFT JOIN events AS v ON v.user_id = __fsql_entities.user_id "
        "JOIN __fsql_entities AS e ON e.__fsql_row = __fsql_entities.__fsql_row "
        "ORDER BY __fsql_row"
    )
    joined = adapter.fetch_arrow(_reading(sql, "__fsql_entities", uploaded))
    assert joined.column("user_id").to_pylist() == [1, 2, None, 4]
    assert joined.column("name").to_pylist() == ["a", "b'c", None, None]
    assert joined.column("label").to_pylist() == ["p", None, 'it\'s, "q"', "q"]
    assert joined.schema.field("ts").type == UTC_US
    assert joined.column("ts").to_pylist() == [
        datetime(2024, 1, 5, tzinfo=UTC),
        datetime(2024, 1, 2, 8, 0, 0, 123456, tzinfo=UTC),
        None,
        datetime(2024, 1, 1, tzinfo=UTC),
    ]
    # A CTE of the same name is the query's own, not the upload.
    cte = adapter.fetch_arrow(
        _reading(
            "WITH __fsql_entities AS (SELECT 9 AS k) SELECT k FROM __fsql_entities",
            "__fsql_entities",
            uploaded,
        )
    )
    assert cte.to_pylist() == [{"k": 9}]
    adapter.unregister("__fsql_entities")
    assert adapter.table_schema("__fsql_entities") is None
    assert [t.table_id for t in bq.list_tables(bigquery_profile["dataset"])] == ["events"]
    adapter.unregister("events")  # not registered: a real table is never dropped
    assert adapter.table_schema("events") is not None
    bq.close()


def test_register_an_empty_table_keeps_its_columns(adapter: BigQueryAdapter) -> None:
    empty = pa.table({"k": pa.array([], pa.int32()), "ts": pa.array([], UTC_US)})
    uploaded = adapter.register("nothing", empty)
    assert adapter.fetch_arrow(_reading("SELECT * FROM nothing", "nothing", uploaded)).schema == (
        pa.schema([("k", pa.int64()), ("ts", UTC_US)])
    )
    again = adapter.register("nothing", pa.table({"k": [5]}))  # registering again replaces it
    assert adapter.table_schema(uploaded.name) is None
    rows = adapter.fetch_arrow(_reading("SELECT * FROM nothing", "nothing", again))
    assert rows.to_pylist() == [{"k": 5}]
    adapter.close()  # drops what is still registered
    assert adapter.table_schema("nothing") is None


def test_table_schema_of_existing_and_missing_tables(adapter: BigQueryAdapter) -> None:
    adapter.execute(
        "CREATE OR REPLACE TABLE typed AS SELECT 1 AS i, 1.5 AS f, NUMERIC '1.25' AS num, "
        "TRUE AS b, 'x' AS s, b'ab' AS raw, DATE '2024-01-01' AS d, "
        "TIMESTAMP '2024-01-01 00:00:00+00' AS ts, DATETIME '2024-01-01 00:00:00' AS dt, "
        "[1, 2] AS arr, STRUCT(1 AS x) AS st"
    )
    schema = adapter.table_schema("typed")
    assert schema == pa.schema(
        [
            ("i", pa.int64()),
            ("f", pa.float64()),
            ("num", pa.decimal128(38, 9)),
            ("b", pa.bool_()),
            ("s", pa.string()),
            ("raw", pa.binary()),
            ("d", pa.date32()),
            ("ts", UTC_US),
            ("dt", UTC_US),
            ("arr", pa.list_(pa.int64())),
            ("st", pa.struct([("x", pa.int64())])),
        ]
    )
    # The schema fsql reads a table as is the one its rows come back in.
    assert adapter.fetch_arrow("SELECT * FROM typed").schema.types == schema.types
    assert adapter.table_schema("no_such_table") is None
    assert adapter.table_schema("no_such_dataset.t") is None


def test_create_table_as_and_merge(adapter: BigQueryAdapter) -> None:
    _events(adapter)
    adapter.execute(
        "CREATE OR REPLACE TABLE latest AS SELECT user_id, name FROM events WHERE user_id <= 2"
    )
    updates = pa.table({"user_id": [2, 9], "name": ["changed", "new"]})
    uploaded = adapter.register("updates", updates)
    merge = (
        "MERGE INTO latest AS t USING updates AS s ON t.user_id = s.user_id "
        "WHEN MATCHED THEN UPDATE SET name = s.name "
        "WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.user_id, s.name)"
    )
    adapter.execute(_reading(merge, "updates", uploaded))
    rows = adapter.fetch_arrow("SELECT * FROM latest ORDER BY user_id").to_pylist()
    assert rows == [
        {"user_id": 1, "name": "a"},
        {"user_id": 2, "name": "changed"},
        {"user_id": 9, "name": "new"},
    ]
    adapter.execute("CREATE OR REPLACE TABLE latest AS SELECT 1 AS only_column")
    assert adapter.table_schema("latest") == pa.schema([("only_column", pa.int64())])


class _TablesOnly:
    """A client that answers tables.get only: any query would be a failure of the test."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def get_table(self, ref: str, **kwargs: Any) -> Any:
        self.asked.append(ref)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def query_and_wait(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a table with a modified time needs no query")


def test_a_table_fingerprint_is_its_metadata_on_bigquery() -> None:
    """Real BigQuery's tables.get answer (crucible cannot show it): no query is run."""
    from google.cloud import bigquery

    def table(kind: str, modified: str | None, **extra: Any) -> Any:
        resource = {
            "tableReference": {"projectId": "p", "datasetId": "raw", "tableId": "events"},
            "type": kind,
            "numRows": "10",
            "numBytes": "2048",
            **extra,
        }
        if modified is not None:
            resource["lastModifiedTime"] = modified
        return bigquery.Table.from_api_repr(resource)

    client = _TablesOnly(table("TABLE", "1714564800123"))
    adapter = BigQueryAdapter(client, {"project": "p", "dataset": "d"})
    assert adapter.table_fingerprint("raw.events") == (
        "modified=2024-05-01T12:00:00.123000+00:00;rows=10;bytes=2048"
    )
    assert client.asked == ["p.raw.events"]
    assert adapter.table_fingerprint("events") is not None
    assert client.asked[-1] == "p.d.events"  # the profile's dataset
    streamed = table(
        "TABLE",
        "1714564800123",
        streamingBuffer={"estimatedRows": "3", "oldestEntryTime": "1714564900000"},
    )
    assert metadata_fingerprint(streamed) == (
        "modified=2024-05-01T12:00:00.123000+00:00;rows=10;bytes=2048;"
        "streaming=3@2024-05-01T12:01:40+00:00"
    )
    # A view's modified time follows its definition, not its rows: checksum instead.
    assert metadata_fingerprint(table("VIEW", "1714564800123")) is None
    assert metadata_fingerprint(table("MATERIALIZED_VIEW", "1714564800123")) is None
    assert metadata_fingerprint(table("EXTERNAL", "1714564800123")) is None
    assert metadata_fingerprint(table("TABLE", None)) is None  # crucible: no modified time


def test_a_failed_fingerprint_is_one_scrubbed_run_error() -> None:
    register_secret("SENTINEL-fp-t0ken")
    denied = api.Forbidden(
        "x", errors=[{"reason": "accessDenied", "message": "Access Denied: SENTINEL-fp-t0ken\nx"}]
    )
    adapter = BigQueryAdapter(_TablesOnly(denied), {"project": "p", "dataset": "d"})
    with pytest.raises(RunError) as caught:
        adapter.table_fingerprint("raw.events")
    text = caught.value.render()
    assert caught.value.message.startswith(
        "fingerprinting table 'raw.events' failed: permission denied (Access Denied: "
    )
    assert "\n" not in text and "SENTINEL-fp-t0ken" not in text
    with pytest.raises(RunError, match="not a table name"):
        adapter.table_fingerprint("a.b.c.d")


def test_cost_controls_go_with_every_job(bigquery_profile: dict[str, Any], tmp_path: Path) -> None:
    profile = {
        **bigquery_profile,
        "priority": "batch",  # a jobs.insert job, polled, rather than jobs.query
        "job_timeout_seconds": 30,
        "maximum_bytes_billed": 10**9,
        "labels": {"team": "ml", "run": 7},
    }
    adapter = BigQueryAdapter.from_config(profile, tmp_path)
    request = adapter.job_config("SELECT 1").to_api_repr()
    assert request["jobTimeoutMs"] == "30000"
    assert request["labels"] == {"team": "ml", "run": "7"}
    assert request["query"]["priority"] == "BATCH"
    assert request["query"]["maximumBytesBilled"] == "1000000000"
    assert adapter.fetch_arrow("SELECT 2 AS two").to_pylist() == [{"two": 2}]
    adapter.close()


def test_query_errors_are_one_clear_run_error(adapter: BigQueryAdapter) -> None:
    with pytest.raises(RunError) as caught:
        adapter.fetch_arrow("SELECT * FROM missing_table")
    err = caught.value
    assert err.exit_code == 1 and "\n" not in err.render()
    assert err.message.startswith("running a query failed: unknown dataset or table")
    assert "missing_table" in err.message
    assert isinstance(err.__cause__, api.NotFound)
    with pytest.raises(RunError) as caught:
        adapter.execute("SELECT nonsense(")
    assert caught.value.message.startswith("running a statement failed: Syntax error")
    assert "http" not in caught.value.message  # BigQuery's words, not the client's URL
    # Callers re-word the adapter's error with their own context.
    again = bigquery_error(err, "building view 'orders'")
    assert again.message.startswith("building view 'orders' failed: unknown dataset or table")


def test_dry_run_is_refused_by_the_emulator(adapter: BigQueryAdapter) -> None:
    """crucible has no dry-run jobs: only the error path can be shown here."""
    with pytest.raises(RunError, match=r"estimating a query's bytes \(dry run\) failed: .*dry-run"):
        adapter.dry_run_bytes("SELECT 1")


def test_parquet_upload_is_refused_by_the_emulator(
    bigquery_profile: dict[str, Any], tmp_path: Path
) -> None:
    """The production path (a table with an expiration, then a Parquet load): crucible keeps
    no expirations and loads CSV only, so here it must fail clearly and leave nothing."""
    adapter = BigQueryAdapter.from_config(
        {**bigquery_profile, "upload_format": "parquet"}, tmp_path
    )
    with pytest.raises(RunError, match=r"uploading table 'up' failed: .*expirationTime"):
        adapter.register("up", pa.table({"k": [1]}))
    assert adapter.table_schema("up") is None
    adapter.close()


def test_upload_files_keep_instants_in_utc() -> None:
    data = upload_table(
        pa.table(
            {
                "ts": pa.array(
                    [datetime(2024, 1, 1, 12, 0, 0, 5), None], pa.timestamp("ns")
                ),  # naive: taken as UTC
                "s": ["a,b", None],
            }
        )
    )
    assert data.schema.field("ts").type == UTC_US
    text = csv_bytes(data).decode()
    assert text.splitlines() == ['"ts","s"', '2024-01-01 12:00:00.000005,"a,b"', ","]
    back = pq.read_table(io.BytesIO(parquet_bytes(data)))
    assert back.schema.field("ts").type == UTC_US
    assert back.column("ts").to_pylist() == [datetime(2024, 1, 1, 12, 0, 0, 5, tzinfo=UTC), None]
    with pytest.raises(RunError, match="upload_format: parquet"):
        csv_bytes(pa.table({"raw": pa.array([b"x"])}))


def test_a_missing_dataset_is_a_clear_error(
    bigquery_emulator: dict[str, Any], tmp_path: Path
) -> None:
    profile = profile_block(bigquery_emulator)  # its dataset was never made
    with pytest.raises(RunError) as caught:
        BigQueryAdapter.from_config(profile, tmp_path)
    text = caught.value.render()
    assert f"dataset 'fsql-test.{profile['dataset']}' does not exist" in text
    assert "bq mk --dataset" in text


def test_an_unreachable_endpoint_fails_within_the_job_timeout(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    profile = {
        "type": "bigquery",
        "project": "p",
        "dataset": "d",
        "method": "anonymous",
        "api_endpoint": f"http://127.0.0.1:{port}",
        "job_timeout_seconds": 2,
    }
    started = time.monotonic()
    with pytest.raises(RunError, match="BigQuery is unreachable"):
        BigQueryAdapter.from_config(profile, tmp_path)
    assert time.monotonic() - started < 20


def test_error_mapping_names_the_cause() -> None:
    def mapped(err: Exception) -> RunError:
        return bigquery_error(err, "doing it")

    billed = api.BadRequest(
        "Query exceeded limit for bytes billed: 1000. 20971520 or higher required.",
        errors=[{"reason": "bytesBilledLimitExceeded", "message": "Query exceeded limit"}],
    )
    assert "bytes-billed limit exceeded" in mapped(billed).message
    assert "maximum_bytes_billed" in (mapped(billed).hint or "")
    denied = mapped(
        api.Forbidden(
            "x", errors=[{"reason": "accessDenied", "message": "Access Denied: Table p:d.t"}]
        )
    )
    assert denied.message == "doing it failed: permission denied (Access Denied: Table p:d.t)"
    quota = api.Forbidden(
        "x", errors=[{"reason": "rateLimitExceeded", "message": "Exceeded rate limits"}]
    )
    assert "quota exceeded" in mapped(quota).message
    assert "unknown dataset or table" in mapped(api.NotFound("Not found: Dataset p:d")).message
    bad = api.BadRequest(
        "x", errors=[{"reason": "invalidQuery", "message": "Unrecognized name: y\nmore"}]
    )
    assert mapped(bad).message == "doing it failed: Unrecognized name: y"
    missing = mapped(auth.DefaultCredentialsError("Could not automatically determine credentials"))
    assert "no Google credentials" in missing.message
    assert "gcloud auth application-default login" in (missing.hint or "")
    assert "method: service-account" in (missing.hint or "")
    assert "credentials were rejected" in mapped(auth.RefreshError("invalid_grant")).message
    assert "credentials were rejected" in mapped(api.Unauthorized("bad token")).message
    assert "timed out" in mapped(TimeoutError()).message
    assert "job_timeout_seconds" in (mapped(TimeoutError()).hint or "")
    retried = api.RetryError("Timeout of 2.0s exceeded", cause=api.NotFound("Not found: x"))
    assert "unknown dataset or table" in mapped(retried).message


def test_missing_credentials_say_how_to_log_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An explicit, missing key file: google-auth fails at once, before any metadata lookup.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    with pytest.raises(RunError) as caught:
        BigQueryAdapter.from_config({"project": "p", "dataset": "d"}, tmp_path)
    assert "no Google credentials found" in caught.value.message
    assert "gcloud auth application-default login" in caught.value.render()


def test_profile_keys_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as caught:
        BigQueryAdapter.from_config(
            {"type": "bigquery", "project": "p"}, tmp_path, "conf/profiles.yml"
        )
    text = caught.value.render()
    assert caught.value.exit_code == 2
    assert "needs 'dataset'" in text and "conf/profiles.yml" in text
    base = {"project": "p", "dataset": "d"}
    with pytest.raises(ProjectError, match=r"p\.yml: unknown key 'datset'"):
        check_profile({**base, "datset": "x"}, "p.yml")
    cases = {
        "method 'service-account' needs 'keyfile'": {"method": "service-account"},
        "'keyfile_json' needs 'method: service-account-json'": {"keyfile_json": "{}"},
        "'method' must be one of": {"method": "password"},
        "'priority' must be interactive or batch": {"priority": "urgent"},
        "'upload_format' must be parquet or csv": {"upload_format": "json"},
        "'job_timeout_seconds' must be a positive number": {"job_timeout_seconds": "soon"},
        "'maximum_bytes_billed' must be a whole number": {"maximum_bytes_billed": 1.5},
        "'labels' must be a mapping": {"labels": ["a"]},
    }
    for message, extra in cases.items():
        with pytest.raises(ProjectError, match=message):
            check_profile({**base, **extra}, "p.yml")
    check_profile({**base, "pit_strategy": "window", "location": "EU", "priority": "BATCH"}, "p")
    with pytest.raises(ProjectError, match=r"keyfile '.*missing\.json' is not a file"):
        BigQueryAdapter.from_config(
            {**base, "method": "service-account", "keyfile": "missing.json"}, tmp_path
        )


def test_keyfile_json_never_shows(tmp_path: Path) -> None:
    base = {"project": "p", "dataset": "d", "method": "service-account-json"}
    not_json = f'{{"private_key": "{SENTINEL}"'  # cut short
    with pytest.raises(ProjectError) as caught:
        BigQueryAdapter.from_config({**base, "keyfile_json": not_json}, tmp_path)
    assert "'keyfile_json' is not valid JSON" in caught.value.render()
    assert SENTINEL not in caught.value.render()
    key = {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "abc123",
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{SENTINEL}\n-----END PRIVATE KEY-----\n",
        "client_email": "fsql@p.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    with pytest.raises(ProjectError) as caught:
        BigQueryAdapter.from_config({**base, "keyfile_json": json.dumps(key)}, tmp_path)
    assert "cannot be read" in caught.value.render()
    assert SENTINEL not in caught.value.render()
    # A client message that did carry the key is scrubbed too.
    leaked = api.BadRequest("x", errors=[{"message": f"bad key {key['private_key']}"}])
    assert SENTINEL not in bigquery_error(leaked, "connecting").render()


def test_a_missing_client_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.cloud

    monkeypatch.setitem(sys.modules, "google.cloud.bigquery", None)
    monkeypatch.delattr(google.cloud, "bigquery", raising=False)
    with pytest.raises(ProjectError, match=r"pip install 'fsql\[bigquery\]'"):
        BigQueryAdapter.from_config(
            {"project": "p", "dataset": "d", "method": "anonymous"}, tmp_path
        )


def test_normalise_arrow_gives_fsql_types() -> None:
    raw = pa.table(
        {
            "TZ": pa.array([0, None], pa.timestamp("ns", tz="Etc/UTC")),
            "naive": pa.array([datetime(2024, 1, 1, 5), None], pa.timestamp("us")),
            "day": pa.array([0, None], pa.date64()),
            "Mixed": pa.array(["x", None]),
        }
    )
    out = normalise_arrow(raw)
    assert out.schema == pa.schema(
        [("TZ", UTC_US), ("naive", UTC_US), ("day", pa.date32()), ("Mixed", pa.string())]
    )
    assert out.column("naive").to_pylist() == [datetime(2024, 1, 1, 5, tzinfo=UTC), None]
