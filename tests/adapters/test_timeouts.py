"""Every warehouse call ends within a bounded, documented time, also when the server fails.

The real snowflake-connector-python and google-cloud-bigquery clients talk to a local HTTP
server (stdlib, in a thread) that answers HTTP 503 to everything, or accepts and never
answers, optionally after a successful login (Snowflake) or dataset lookup (BigQuery). Each
call must fail within about its configured budget, in one line naming host:port, what was
being done and the profile key to raise, never the password. The defaults are checked on
the settings the clients receive, rather than by waiting minutes for them.

Each failing call runs in a thread of its own (`_fails_within`), so that a regression (an
unbounded retry loop) fails the test at its bound instead of hanging the suite.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fsql.errors import ProjectError, RunError
from tests.support.engines import require_module

SENTINEL = "SENTINEL-pa55word-timeouts"
SLACK = 3.0  # seconds: thread start, the connector's own pauses, a slow CI machine

# What a Snowflake login-request answer needs for the connector to go on.
SNOWFLAKE_LOGIN = {
    "data": {
        "token": "session-token",
        "masterToken": "master-token",
        "serverVersion": "9.0.0",
        "parameters": [],
        "sessionInfo": {"databaseName": "D", "schemaName": "S"},
        "sessionId": 1,
    },
    "success": True,
}
BIGQUERY_DATASET = {"datasetReference": {"projectId": "p", "datasetId": "d"}}
BIGQUERY_503 = {
    "error": {
        "code": 503,
        "message": "backend unavailable",
        "errors": [{"reason": "backendError", "message": "backend unavailable"}],
    }
}


class FailingServer:
    """An HTTP server that answers `ok` paths normally and every other request with 503 or,
    with `silent`, never: the handler holds the request until the server is stopped."""

    def __init__(self, silent: bool, ok: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.silent = silent
        self.ok = ok  # path prefix -> (method, JSON body answered with 200)
        self.released = threading.Event()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path = self.path.split("?")[0]
                server.requests.append(f"{self.command} {path}")
                for prefix, (method, body) in server.ok.items():
                    if path.startswith(prefix) and self.command == method:
                        self.reply(200, body)
                        return
                if server.silent:
                    server.released.wait(60)
                    return
                self.reply(503, BIGQUERY_503)

            def reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FailingServer]]:
    """Start FailingServers for a test; every one is stopped afterwards."""
    started: list[FailingServer] = []

    def start(
        silent: bool = False, ok: dict[str, tuple[str, dict[str, Any]]] | None = None
    ) -> FailingServer:
        server = FailingServer(silent, ok or {})
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _fails_within(seconds: float, call: Callable[[], Any]) -> RunError:
    """The RunError `call` raises, which it must raise within `seconds`."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as err:  # handed to the test below
            outcome.append(err)
        else:
            outcome.append(None)

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    elapsed = time.monotonic() - started
    assert outcome, f"still waiting after {elapsed:.1f} s (bound {seconds:g} s)"
    err = outcome[0]
    assert err is not None, "the call succeeded against a failing server"
    if not isinstance(err, RunError):
        raise err
    return err


def _one_line(err: RunError, secret: str = SENTINEL) -> str:
    text = err.render()
    assert err.exit_code == 1
    assert "\n" not in text and secret not in text
    return text


# -- Snowflake -----------------------------------------------------------------------------------


@pytest.fixture
def snowflake(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The adapter module; the connector's cloud platform probes are switched off (they would
    reach for cloud metadata endpoints, which no test may)."""
    require_module("snowflake", "snowflake.connector")
    monkeypatch.setenv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
    from fsql.adapters import snowflake

    return snowflake


def _snowflake_profile(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "snowflake",
        "account": "acct",
        "user": "alice",
        "password": SENTINEL,
        "database": "d",
        "schema": "s",
        "host": "127.0.0.1",
        "port": port,
        "protocol": "http",
        **extra,
    }


SMALL_SNOWFLAKE = {"login_timeout": 2, "network_timeout": 2, "socket_timeout": 1}
LOGIN_OK = {"/session/v1/login-request": ("POST", SNOWFLAKE_LOGIN)}


def test_snowflake_statement_against_5xx_gives_up_within_network_timeout(
    snowflake: Any, serve: Callable[..., FailingServer], tmp_path: Path
) -> None:
    """The probe's case: the login works, then every statement is answered 503. The connector
    alone retries it until the statement's own timeout; fsql stops at `network_timeout`."""
    server = serve(ok=LOGIN_OK)
    profile = _snowflake_profile(server.port, **SMALL_SNOWFLAKE)
    adapter = snowflake.SnowflakeAdapter.from_config(profile, tmp_path)
    started = time.monotonic()
    err = _fails_within(2 * 2 + SLACK, lambda: adapter.fetch_arrow("SELECT 1"))
    assert time.monotonic() - started >= 1.5  # it did retry for (about) its budget
    text = _one_line(err)
    assert err.message.startswith("running a query failed: ")
    assert f"127.0.0.1:{server.port}" in text and "503" in text
    assert "raise `network_timeout`" in (err.hint or "")
    assert isinstance(err.__cause__, snowflake.RetryBudgetSpent)
    assert server.requests.count("POST /queries/v1/query-request") >= 2  # retried, then stopped


def test_snowflake_statement_never_answered_gives_up(
    snowflake: Any, serve: Callable[..., FailingServer], tmp_path: Path
) -> None:
    server = serve(silent=True, ok=LOGIN_OK)
    profile = _snowflake_profile(server.port, **SMALL_SNOWFLAKE)
    adapter = snowflake.SnowflakeAdapter.from_config(profile, tmp_path)
    err = _fails_within(2 + 1 + SLACK, lambda: adapter.execute("CREATE TABLE t (a INT)"))
    text = _one_line(err)
    assert err.message.startswith("running a statement failed: ")
    assert f"127.0.0.1:{server.port}" in text and "timed out" in text
    assert "`socket_timeout` or `network_timeout`" in (err.hint or "")


@pytest.mark.parametrize("silent", [False, True], ids=["5xx", "no-answer"])
def test_snowflake_login_gives_up_within_login_timeout(
    snowflake: Any, serve: Callable[..., FailingServer], tmp_path: Path, silent: bool
) -> None:
    server = serve(silent=silent)
    profile = _snowflake_profile(server.port, **SMALL_SNOWFLAKE)
    err = _fails_within(
        2 + 1 + SLACK, lambda: snowflake.SnowflakeAdapter.from_config(profile, tmp_path)
    )
    text = _one_line(err)
    assert text.startswith(
        f"connecting to Snowflake account 'acct' as user 'alice' at http://127.0.0.1:{server.port}"
    )
    assert "`login_timeout`" in (err.hint or "")


def test_snowflake_defaults_bound_every_wait(
    snowflake: Any, serve: Callable[..., FailingServer], tmp_path: Path
) -> None:
    """No timeout in the profile: the connector still gets a bound for each kind of wait."""
    server = serve(ok=LOGIN_OK)
    adapter = snowflake.SnowflakeAdapter.from_config(_snowflake_profile(server.port), tmp_path)
    connection = adapter._con
    assert connection.login_timeout == 60
    assert connection.socket_timeout == 60
    assert connection.network_timeout == 120
    policy = connection._backoff_policy
    assert isinstance(policy, snowflake.RetryBudget) and policy.seconds == 120
    assert adapter._timeout == 6 * 3600  # cursor.execute(timeout=...): cancelled after it
    assert snowflake.DEFAULT_TIMEOUTS == {
        "login_timeout": 60,
        "socket_timeout": 60,
        "network_timeout": 120,
        "query_timeout": 6 * 3600,
    }
    args = snowflake.connect_args(_snowflake_profile(server.port), tmp_path, "profiles.yml")
    # The account's own statement limit stays unless the profile sets `query_timeout`.
    assert "STATEMENT_TIMEOUT_IN_SECONDS" not in args["session_parameters"]


def test_snowflake_retry_budget_ends_the_pauses(snowflake: Any) -> None:
    pauses = snowflake.RetryBudget(0.2, "http://db.example:443")()
    assert 0 <= next(pauses) <= 1  # never past the budget's end
    time.sleep(0.25)
    with pytest.raises(snowflake.RetryBudgetSpent) as caught:
        next(pauses)
    assert caught.value.seconds == 0.2 and caught.value.where == "http://db.example:443"


@pytest.mark.parametrize("key", ["login_timeout", "network_timeout", "socket_timeout"])
def test_snowflake_timeouts_must_be_positive_whole_seconds(
    snowflake: Any, tmp_path: Path, key: str
) -> None:
    for bad in (0, "soon", -1):
        with pytest.raises(ProjectError, match=f"'{key}' must be a whole number of seconds"):
            snowflake.connect_args(_snowflake_profile(1, **{key: bad}), tmp_path, "p.yml")
    args = snowflake.connect_args(_snowflake_profile(1, **{key: "7"}), tmp_path, "p.yml")
    assert args[key] == 7


# -- BigQuery ------------------------------------------------------------------------------------


@pytest.fixture
def bigquery() -> Any:
    require_module("bigquery", "google.cloud.bigquery")
    from fsql.adapters import bigquery

    return bigquery


def _bigquery_profile(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "bigquery",
        "project": "p",
        "dataset": "d",
        "method": "anonymous",
        "api_endpoint": f"http://127.0.0.1:{port}",
        **extra,
    }


SMALL_BIGQUERY = {"retry_timeout_seconds": 2, "request_timeout_seconds": 1}
DATASET_OK = {"/bigquery/v2/projects/p/datasets/d": ("GET", BIGQUERY_DATASET)}


def test_bigquery_query_against_5xx_gives_up_within_retry_timeout(
    bigquery: Any, serve: Callable[..., FailingServer], tmp_path: Path
) -> None:
    """The client alone retries each call for ten minutes and re-runs the query for forty."""
    server = serve(ok=DATASET_OK)
    profile = _bigquery_profile(server.port, **SMALL_BIGQUERY)
    adapter = bigquery.BigQueryAdapter.from_config(profile, tmp_path)
    # A last attempt may begin just before the budget ends: twice the budget at most.
    err = _fails_within(2 * 2 + SLACK, lambda: adapter.fetch_arrow("SELECT 1"))
    text = _one_line(err)
    assert err.message.startswith("running a query failed: ")
    assert f"127.0.0.1:{server.port}" in text and "503" in text
    assert "raise `retry_timeout_seconds`" in (err.hint or "")
    assert server.requests.count("POST /bigquery/v2/projects/p/queries") >= 2


def test_bigquery_never_answered_gives_up(
    bigquery: Any, serve: Callable[..., FailingServer], tmp_path: Path
) -> None:
    """With no request timeout, the client waits for an answer as long as the socket lives."""
    server = serve(silent=True)
    profile = _bigquery_profile(server.port, **SMALL_BIGQUERY)
    err = _fails_within(
        2 + 1 + SLACK, lambda: bigquery.BigQueryAdapter.from_config(profile, tmp_path)
    )
    text = _one_line(err)
    assert err.message.startswith("opening dataset 'p.d' failed: no answer from BigQuery at ")
    assert f"127.0.0.1:{server.port}" in text
    assert "raise `request_timeout_seconds`" in (err.hint or "")


def test_bigquery_statement_never_answered_gives_up(
    bigquery: Any, serve: Callable[..., FailingServer], tmp_path: Path
) -> None:
    server = serve(silent=True, ok=DATASET_OK)
    profile = _bigquery_profile(server.port, **SMALL_BIGQUERY)
    adapter = bigquery.BigQueryAdapter.from_config(profile, tmp_path)
    err = _fails_within(2 * 2 + 1 + SLACK, lambda: adapter.execute("SELECT 1"))
    assert f"127.0.0.1:{server.port}" in _one_line(err)
    assert err.message.startswith("running a statement failed: no answer from BigQuery")


class _Recorder:
    """A client that records the keyword arguments of the calls the adapter makes."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = kwargs
            return SimpleNamespace(schema=[])  # a table without columns, for tables.get

        return call


def test_bigquery_defaults_bound_every_wait(bigquery: Any) -> None:
    client = _Recorder()
    adapter = bigquery.BigQueryAdapter(client, {"project": "p", "dataset": "d"})
    adapter._check_dataset()
    adapter.execute("SELECT 1")
    adapter.table_schema("t")
    query = client.calls["query_and_wait"]
    assert query["api_timeout"] == 60  # one HTTP request's wait
    assert query["wait_timeout"] == 6 * 3600  # the job's
    assert query["retry"].timeout == 120  # the retries of a failing call
    assert query["job_retry"].timeout == 120  # and the re-runs of a failed job
    for call in ("get_dataset", "get_table"):
        assert client.calls[call]["timeout"] == 60
        assert client.calls[call]["retry"].timeout == 120
    assert adapter.where == "bigquery.googleapis.com:443"
    # Retries never outlast a shorter job timeout.
    short = bigquery.BigQueryAdapter(
        client, {"project": "p", "dataset": "d", "job_timeout_seconds": 30}
    )
    short.execute("SELECT 1")
    assert client.calls["query_and_wait"]["job_retry"].timeout == 30


def test_bigquery_timeouts_must_be_positive(bigquery: Any) -> None:
    for key in ("request_timeout_seconds", "retry_timeout_seconds"):
        for bad in (0, "soon", -5):
            with pytest.raises(ProjectError, match=f"'{key}' must be a positive number"):
                bigquery.check_profile({"project": "p", "dataset": "d", key: bad}, "p.yml")
        bigquery.check_profile({"project": "p", "dataset": "d", key: 2.5}, "p.yml")
