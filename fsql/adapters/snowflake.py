"""Snowflake adapter: snowflake-connector-python, sessions pinned to UTC, Arrow in and out.

Parameters. Compiled SQL names its parameters with sqlglot placeholders
(`exp.Placeholder(this="end")`), which sqlglot's snowflake dialect prints as `:end`. With
parameters given, the adapter parses the statement with sqlglot, replaces each named
placeholder (`:name`, and `$name` when `name` is one of the parameters, so SQL written
DuckDB-style runs too) by a numbered one, `:1`, `:2`, ... (one number per distinct name),
and runs it with the connector's `numeric` paramstyle: values travel as server-side
bindings, never as SQL text. Numbers rather than `?` because the order sqlglot walks a tree
in need not be the order it prints it in. Datetimes bind as TIMESTAMP_TZ (naive ones are
taken as UTC). A statement run without parameters is sent exactly as given.

Names and types. Snowflake folds unquoted identifiers to upper case. fsql identifiers are
case-insensitive and projects write them in lower case, so a result column whose name comes
back all upper case is returned lower-cased; a quoted mixed-case name is kept as it is.
Timestamps of every kind (TZ, LTZ, NTZ) come back as timestamp[us, UTC], NTZ read as UTC;
integer NUMBERs as int64 when the values fit; NUMBER(p, s>0) stays decimal128, since only a
column declared NUMBER with a scale has one (FLOAT columns already arrive as float64).

Uploads. `register` creates a session TEMPORARY table typed from the Arrow schema, PUTs the
table as one Parquet file to a temporary stage and COPYs it in with one cast per column
(USE_LOGICAL_TYPE keeps timestamps as instants). That is write_pandas's own route, written
out because write_pandas names the stage as a quoted string in its COPY and infers column
types with INFER_SCHEMA: fakesnow, the local stand-in our tests run on, supports neither,
and explicit types are exact where INFER_SCHEMA guesses.

Fingerprints. `table_fingerprint` reads the table's row of `<db>.INFORMATION_SCHEMA.TABLES`:
LAST_ALTERED (moved by every DDL and DML statement, even one that changes no row, and by
background maintenance such as reclustering: at worst a needless rebuild), ROW_COUNT and BYTES.
A view's LAST_ALTERED follows its definition, not its rows, and an external table's its
metadata refreshes, so those (and any engine that keeps no real LAST_ALTERED: fakesnow reports
1970-01-01 for every table, whatever happened to it) get a content checksum instead:
`COUNT(*)` and `SUM(CAST(HASH(<every column>) AS NUMBER(20, 0)))`, one scan. Not HASH_AGG(*),
which fakesnow lacks; the cast lets the sum hold both Snowflake's signed HASH and fakesnow's
unsigned one (DuckDB's UBIGINT), and a sum, unlike XOR, also moves when a duplicate row is added.

Bounded waits. Every call ends within a time the profile can change (defaults in brackets):
`login_timeout` [60 s] bounds connecting, `socket_timeout` [60 s] one HTTP request's wait for
an answer, `network_timeout` [120 s] the retries of one request that keeps failing (HTTP 5xx,
a dropped connection, no answer), and `query_timeout` [6 h] a statement's run time (the
connector then cancels it; set explicitly, it is also the session's
STATEMENT_TIMEOUT_IN_SECONDS, which otherwise stays the account's own). The connector's own
retry budget for a statement is its query timeout, and it retries 5xx answers until then: a
server that kept failing held `build-training-set` for minutes with no output. So its backoff
policy (`RetryBudget`) ends the retries once `network_timeout` has passed, and the statement
fails within about `network_timeout + socket_timeout`. The connector's own default socket
timeout is 60 s, and Snowflake holds a query request up to 45 s before it answers that the
query still runs: a `socket_timeout` below 45 s is for local stand-ins only.

Errors. Every verb raises a `RunError` made by `snowflake_error`: one scrubbed line saying
what failed (authentication, an unreachable host, retries given up, no
warehouse/database/schema, a missing privilege, or the driver's own first line), naming the
host for network failures and the profile key to raise for timeouts, with the driver error
kept as `__cause__`.
"""

from __future__ import annotations

import math
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from fsql.adapters.base import UTC_MICROS, OfflineAdapter, upload_table
from fsql.config.profiles import PROFILES_FILE
from fsql.config.secrets import register_secret, scrub
from fsql.errors import FsqlError, ProjectError, RunError, raise_collected

REQUIRED_KEYS = ("account", "user", "database", "schema")
OPTIONAL_KEYS = (
    "type",
    "password",
    "private_key_path",
    "private_key_passphrase",
    "authenticator",
    "token",
    "role",
    "warehouse",
    "query_tag",
    "host",
    "port",
    "protocol",
    "login_timeout",
    "network_timeout",
    "socket_timeout",
    "query_timeout",
    "pit_strategy",
)
# Seconds; each bounds one kind of wait (module docstring, "Bounded waits").
DEFAULT_TIMEOUTS = {
    "login_timeout": 60,
    "socket_timeout": 60,
    "network_timeout": 120,
    "query_timeout": 6 * 3600,
}
SECRET_KEYS = ("password", "private_key_passphrase", "token")
# Passed to the connector as strings under the same names.
TEXT_KEYS: tuple[str, ...] = ("account", "user", "database", "schema", "role", "warehouse")
TEXT_KEYS += ("host", "protocol", "password", "authenticator", "token")
STAGE = "fsql_upload"
UPLOAD_TYPES = (
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_integer, "NUMBER(38, 0)"),
    (pa.types.is_floating, "FLOAT"),
    (pa.types.is_timestamp, "TIMESTAMP_TZ"),  # uploaded as UTC instants
    (pa.types.is_date, "DATE"),
    (pa.types.is_time, "TIME"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BINARY"),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "VARCHAR"),
    (pa.types.is_null, "VARCHAR"),
)

# INFORMATION_SCHEMA.TABLES types whose LAST_ALTERED moves with their rows (every DDL and DML).
# VIEW, MATERIALIZED VIEW and EXTERNAL TABLE are fingerprinted by a checksum of their rows.
ALTERED_WITH_ROWS = frozenset({"BASE TABLE", "TEMPORARY TABLE", "LOCAL TEMPORARY", "EVENT TABLE"})
HASH_SUM_TYPE = "NUMBER(20, 0)"  # holds any signed or unsigned 64-bit hash; the sum NUMBER(38, 0)
NOT_FOUND_ERRNO = 2003  # the object does not exist, or the role cannot see it

# Connector and server error numbers, grouped by what the user has to fix.
AUTH_ERRNOS = frozenset({390100, 390101, 390102, 390144, 390303, 390318, *range(394300, 394307)})
UNREACHABLE_ERRNOS = frozenset({250001, 250003, 251011, 251012})
MISSING_CONTEXT = {606: "warehouse", 90105: "database", 90106: "schema"}
PERMISSION_ERRNOS = frozenset({3001, 390189})
TIMEOUT_ERRNOS = frozenset({604, 630})


# The connector's errors for an HTTP status it retried until its own time ran out.
HTTP_RETRIED = frozenset(
    {
        "InternalServerError",
        "BadGatewayError",
        "ServiceUnavailableError",
        "GatewayTimeoutError",
        "RequestTimeoutError",
        "TooManyRequests",
        "OtherHTTPRetryableError",
    }
)
LOGIN_GAVE_UP_ERRNOS = frozenset({250001, 251011, 251012})


class RetryBudgetSpent(Exception):
    """A request kept failing for `seconds` (raised by a `RetryBudget`'s pauses)."""

    def __init__(self, seconds: float, where: str) -> None:
        super().__init__(f"gave up after retrying for {seconds:g} s")
        self.seconds = seconds
        self.where = where


class RetryBudget:
    """A connector `backoff_policy`: the connector's own exponential pauses, ending the retries
    of one request `seconds` after it began (`network_timeout`).

    The connector draws a fresh generator of pauses for each request and asks it for the next
    pause after every failed attempt; for a statement it would otherwise retry until the
    statement's own timeout (hours). Raising here is the one way the connector offers to stop
    sooner: the error leaves the connector with the last failure as its `__context__`.
    """

    def __init__(self, seconds: float, where: str) -> None:
        from snowflake.connector.backoff_policies import exponential_backoff

        self.seconds = seconds
        self.where = where
        self._pauses = exponential_backoff()

    def __call__(self) -> Iterator[int]:
        started = time.monotonic()  # at the first draw: when the request's retries are set up
        for pause in self._pauses():
            left = self.seconds - (time.monotonic() - started)
            if left <= 0:
                break
            yield min(pause, math.ceil(left))  # the last pause ends with the budget
        raise RetryBudgetSpent(self.seconds, self.where)


def _first_line(err: BaseException) -> str:
    """The driver's message in one scrubbed line; a bare `...error:` header keeps its detail."""
    lines = [line.strip() for line in scrub(str(err)).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if lines[0].endswith(":") and len(lines) > 1:
        return f"{lines[0]} {lines[1]}"
    return lines[0]


def _last_failure(err: BaseException) -> BaseException | None:
    """The failure a give-up followed: the connector wraps it in a `RetryRequest`."""
    last = err.__context__
    if last is not None and type(last).__name__ == "RetryRequest" and last.args:
        inner = last.args[0]
        return inner if isinstance(inner, BaseException) else last
    return last


def _gave_up(err: RetryBudgetSpent, doing: str, where: str | None) -> RunError:
    last = _last_failure(err)
    detail = f" ({_first_line(last)})" if last is not None else ""
    if getattr(last, "errno", None) in LOGIN_GAVE_UP_ERRNOS:
        keys = "`login_timeout` and `network_timeout`"  # the lower of the two ended the login
    elif last is not None and "timeout" in f"{type(last).__name__} {detail}".lower():
        keys = "`socket_timeout` or `network_timeout`"  # no answer in time, again and again
    else:
        keys = "`network_timeout`"
    return RunError(
        f"{doing} failed: Snowflake at {where or err.where} kept failing, gave up after "
        f"retrying for {err.seconds:g} s{detail}",
        hint=f"check that Snowflake is up and reachable, or raise {keys} in profiles.yml",
    )


def snowflake_error(err: BaseException, doing: str, where: str | None = None) -> RunError:
    """One clear RunError for a failure while `doing` (e.g. "building view 'x'"); `where`
    (protocol://host:port) is named when the failure is the network's or the server's.

    Accepts the adapter's own RunError too (its driver error is the cause), so callers can
    re-word any failure of a verb with their own context.
    """
    if isinstance(err, FsqlError) and err.__cause__ is not None:
        err = err.__cause__
    if isinstance(err, RetryBudgetSpent):
        return _gave_up(err, doing, where)
    errno = getattr(err, "errno", None)
    sqlstate = getattr(err, "sqlstate", None)
    detail = _first_line(err)
    at = f" at {where}" if where else ""
    if errno in AUTH_ERRNOS or sqlstate == "28000" or "incorrect username or" in detail.lower():
        return RunError(
            f"{doing} failed: authentication failed",
            hint="check the password, private key or token set for this user in profiles.yml",
        )
    if errno in UNREACHABLE_ERRNOS:
        hint = "check account, host, port and protocol in profiles.yml and the network"
        if errno in LOGIN_GAVE_UP_ERRNOS:
            hint += ", or raise `login_timeout` there if Snowflake is slow to answer"
        return RunError(f"{doing} failed: Snowflake{at} is unreachable ({detail})", hint=hint)
    if type(err).__name__ in HTTP_RETRIED:
        return RunError(
            f"{doing} failed: Snowflake{at} kept failing until the time ran out ({detail})",
            hint="check that Snowflake is up and reachable, or raise `network_timeout` or "
            "`query_timeout` in profiles.yml",
        )
    if errno in MISSING_CONTEXT:
        what = MISSING_CONTEXT[errno]
        return RunError(
            f"{doing} failed: the session has no {what} ({detail})",
            hint=f"set `{what}:` in profiles.yml to one the role can use",
        )
    if errno in PERMISSION_ERRNOS:
        return RunError(
            f"{doing} failed: permission denied ({detail})",
            hint="grant the privilege to the profile's role, or set `role:` in profiles.yml",
        )
    if errno in TIMEOUT_ERRNOS:
        return RunError(f"{doing} failed: {detail}", hint="raise `query_timeout` in profiles.yml")
    return RunError(f"{doing} failed: {detail}")


# -- profile -------------------------------------------------------------------------------------


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


def _check_profile(config: Mapping[str, Any], source: str) -> None:
    """Every key known, every required key set, one way to authenticate: or ProjectErrors."""
    errors = [
        ProjectError(
            f"unknown key '{key}' in the snowflake offline profile",
            file=source,
            hint="known keys: " + ", ".join(sorted(REQUIRED_KEYS + OPTIONAL_KEYS)),
        )
        for key in config
        if key not in REQUIRED_KEYS + OPTIONAL_KEYS
    ]
    errors += [
        ProjectError(f"the snowflake offline profile needs '{key}'", file=source)
        for key in REQUIRED_KEYS
        if config.get(key) in (None, "")
    ]
    if not any(config.get(k) for k in ("password", "private_key_path", "authenticator")):
        errors.append(
            ProjectError(
                "the snowflake offline profile needs 'password', 'private_key_path' or "
                "'authenticator'",
                file=source,
            )
        )
    if str(config.get("authenticator", "")).lower() == "oauth" and not config.get("token"):
        errors.append(ProjectError("authenticator 'oauth' needs 'token'", file=source))
    if config.get("private_key_passphrase") and not config.get("private_key_path"):
        errors.append(
            ProjectError("'private_key_passphrase' needs 'private_key_path'", file=source)
        )
    if config.get("protocol") not in (None, "http", "https"):
        errors.append(ProjectError("'protocol' must be http or https", file=source))
    if config.get("port") is not None and not str(config["port"]).strip().isdigit():
        errors.append(ProjectError("'port' must be a whole number", file=source))
    for key in DEFAULT_TIMEOUTS:
        text = str(config[key]).strip() if config.get(key) is not None else "1"
        if not text.isdigit() or int(text) == 0:
            errors.append(
                ProjectError(f"'{key}' must be a whole number of seconds above 0", file=source)
            )
    raise_collected(errors)


def timeouts(config: Mapping[str, Any]) -> dict[str, int]:
    """Every timeout of the profile in seconds, the default where it sets none."""
    return {
        key: int(config[key]) if config.get(key) is not None else default
        for key, default in DEFAULT_TIMEOUTS.items()
    }


def endpoint(config: Mapping[str, Any]) -> str:
    """protocol://host:port the connector talks to, for messages (never a credential)."""
    if config.get("host"):
        return f"{config.get('protocol') or 'https'}://{config['host']}:{config.get('port') or 443}"
    return f"https://{config['account']}.snowflakecomputing.com:443"


def connect_args(config: Mapping[str, Any], project_root: Path, source: str) -> dict[str, Any]:
    """Keyword arguments for `snowflake.connector.connect`; secrets are registered for scrubbing."""
    for key in SECRET_KEYS:  # even one written in plain text in profiles.yml
        if config.get(key):
            register_secret(str(config[key]))
    _check_profile(config, source)
    session: dict[str, Any] = {"TIMEZONE": "UTC"}
    if config.get("query_tag"):
        session["QUERY_TAG"] = str(config["query_tag"])
    if config.get("query_timeout") is not None:  # else the account's own limit stays
        session["STATEMENT_TIMEOUT_IN_SECONDS"] = int(config["query_timeout"])
    args: dict[str, Any] = {
        key: str(config[key]) for key in TEXT_KEYS if config.get(key) not in (None, "")
    }
    if config.get("port") is not None:
        args["port"] = int(config["port"])
    limits = timeouts(config)
    for key in ("login_timeout", "network_timeout", "socket_timeout"):
        args[key] = limits[key]
    args["backoff_policy"] = RetryBudget(limits["network_timeout"], endpoint(config))
    if config.get("private_key_path"):
        path = Path(str(config["private_key_path"])).expanduser()
        path = path if path.is_absolute() else project_root / path
        if not path.is_file():
            raise ProjectError(f"private_key_path '{path}' is not a file", file=source)
        args["private_key_file"] = str(path)
        if config.get("private_key_passphrase"):
            args["private_key_file_pwd"] = str(config["private_key_passphrase"])
    # Server-side binding of `:1`-style numbers: values never pass through SQL text.
    args["paramstyle"] = "numeric"
    args["session_parameters"] = session
    return args


# -- parameters and types -------------------------------------------------------------------------


def _binding(value: Any) -> Any:
    """A value as the connector binds it: datetimes as TIMESTAMP_TZ instants in UTC."""
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        value = value.to_pydatetime()
    elif hasattr(value, "item") and not isinstance(value, (bytes, str)):  # numpy scalar
        value = value.item()
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return ("TIMESTAMP_TZ", moment)
    return value


def bind_named(sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Rewrite `:name` (and `$name` for known names) as `:1`, `:2`; return SQL and values."""
    try:
        tree = sqlglot.parse_one(sql, read="snowflake")
    except sqlglot.errors.ParseError as err:
        first = str(err).splitlines()[0]
        raise RunError(f"cannot bind parameters: the SQL does not parse ({first})") from err
    numbers: dict[str, int] = {}

    def number(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name:
            name = node.name
        elif isinstance(node, exp.Parameter) and isinstance(node.this, exp.Var):
            name = node.this.name
            if name not in params:
                return node  # a Snowflake session variable, not ours
        else:
            return node
        if name not in params:
            raise RunError(f"SQL parameter ':{name}' has no value", hint="this is a bug in fsql")
        numbers.setdefault(name, len(numbers) + 1)
        return exp.Placeholder(this=str(numbers[name]))

    tree = tree.transform(number)
    if not numbers:
        return sql, []
    return tree.sql(dialect="snowflake"), [_binding(params[name]) for name in numbers]


def _normal_name(name: str) -> str:
    return name.lower() if name.isupper() else name


def normalise_arrow(table: pa.Table) -> pa.Table:
    """Result columns as fsql expects them: lower-case names, UTC micros, int64 integers."""
    fields, columns = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_timestamp(kind):
            column = pc.cast(column, UTC_MICROS, safe=False)  # sub-microsecond digits dropped
        elif pa.types.is_integer(kind) and kind != pa.int64():
            column = pc.cast(column, pa.int64())
        elif pa.types.is_decimal(kind) and kind.scale == 0:
            try:
                column = pc.cast(column, pa.int64())
            except pa.ArrowInvalid:
                pass  # beyond int64: kept exact as a decimal
        elif pa.types.is_date64(kind):
            column = pc.cast(column, pa.date32())
        fields.append(pa.field(_normal_name(field.name), column.type, field.nullable))
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _described_type(type_name: str, scale: int | None, precision: int | None) -> pa.DataType:
    if type_name == "FIXED":
        return pa.decimal128(precision or 38, scale) if scale else pa.int64()
    if type_name.startswith("TIMESTAMP"):
        return UTC_MICROS
    simple = {
        "REAL": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "DATE": pa.date32(),
        "TIME": pa.time64("us"),
        "BINARY": pa.binary(),
    }
    return simple.get(type_name, pa.string())  # text, and semi-structured values as JSON


def described_schema(description: Sequence[Any]) -> pa.Schema:
    """The Arrow schema fsql reads a result as, from the connector's result metadata."""
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    return pa.schema(
        pa.field(
            _normal_name(col.name),
            _described_type(FIELD_ID_TO_NAME[col.type_code], col.scale, col.precision),
        )
        for col in description
    )


def _upload_type(kind: pa.DataType) -> str:
    """The Snowflake column type an Arrow column is uploaded as."""
    if pa.types.is_decimal(kind):
        return f"NUMBER({kind.precision}, {kind.scale})"
    for test, name in UPLOAD_TYPES:
        if test(kind):
            return name
    raise RunError(f"cannot upload a column of Arrow type {kind} to Snowflake")


def _folded(name: exp.Identifier) -> str:
    """A name as Snowflake stores it: unquoted names fold to upper case, quoted ones do not."""
    return name.name if name.quoted else name.name.upper()


def parse_table_name(identifier: str, doing: str) -> exp.Table:
    """`identifier` (`TABLE`, `SCHEMA.TABLE` or `DB.SCHEMA.TABLE`) as a sqlglot table."""
    hint = "write TABLE, SCHEMA.TABLE or DATABASE.SCHEMA.TABLE"
    try:
        table = exp.to_table(identifier, dialect="snowflake")
    except sqlglot.errors.ParseError as err:
        first = str(err).splitlines()[0]
        raise RunError(f"{doing} failed: not a table name ({first})", hint=hint) from err
    if len(table.parts) > 3 or not all(isinstance(p, exp.Identifier) for p in table.parts):
        raise RunError(f"{doing} failed: not a table name", hint=hint)
    return table


def metadata_fingerprint(
    kind: str | None, altered: datetime | None, rows: Any, size: Any
) -> str | None:
    """The fingerprint an INFORMATION_SCHEMA.TABLES row gives, or None when the row cannot
    tell whether the contents changed (a view, an external table, no real LAST_ALTERED)."""
    if str(kind or "").upper() not in ALTERED_WITH_ROWS or altered is None:
        return None
    if altered.tzinfo is None:
        altered = altered.replace(tzinfo=UTC)
    if altered.timestamp() <= 0:  # fakesnow's constant 1970-01-01: never a real change time
        return None
    return f"altered={altered.astimezone(UTC).isoformat()};rows={rows};bytes={size}"


# -- adapter --------------------------------------------------------------------------------------


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
        args = connect_args(config, project_root, source or PROFILES_FILE)
        connector = _connector()
        where = endpoint(config)
        doing = f"connecting to Snowflake account '{args['account']}' as user '{args['user']}' "
        try:
            connection = connector.connect(**args)
        except Exception as err:  # the connector raises several families of errors
            raise snowflake_error(err, doing + f"at {where}") from err
        return cls(connection, timeouts(config)["query_timeout"], where)

    def _error(self, err: BaseException, doing: str) -> RunError:
        return snowflake_error(err, doing, self.where)

    def _run(self, sql: str, params: Mapping[str, Any] | None, doing: str) -> Any:
        """A cursor that has run `sql`, parameters bound by number."""
        values: list[Any] = []
        if params:
            sql, values = bind_named(sql, params)
        cursor = self._con.cursor()
        try:
            cursor.execute(sql, values or None, timeout=self._timeout)
        except Exception as err:
            cursor.close()
            raise self._error(err, doing) from err
        return cursor

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, params, "running a statement").close()

    def fetch_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
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
        self, sql: str, params: Mapping[str, Any] | None = None, batch_rows: int = 100_000
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

    def register(self, name: str, data: pa.Table) -> None:
        doing = f"uploading table '{name}'"
        data = upload_table(data)
        table = exp.to_table(name, dialect="snowflake")
        columns = [exp.to_identifier(col) for col in data.column_names]
        types = [
            exp.DataType.build(_upload_type(t), dialect="snowflake") for t in data.schema.types
        ]
        create = exp.Create(
            this=exp.Schema(
                this=table,
                expressions=[
                    exp.ColumnDef(this=col, kind=kind)
                    for col, kind in zip(columns, types, strict=True)
                ],
            ),
            kind="TABLE",
            replace=True,
            properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
        )
        self._run(create.sql(dialect="snowflake"), None, doing).close()
        self._registered.add(name)
        if data.num_rows:
            self._copy_in(table, columns, types, data, doing)

    def _copy_in(
        self,
        table: exp.Table,
        columns: list[exp.Identifier],
        types: list[exp.DataType],
        data: pa.Table,
        doing: str,
    ) -> None:
        """PUT `data` as Parquet to the session's temporary stage, then COPY it into `table`."""
        if not self._stage_ready:
            self._run(f"CREATE TEMPORARY STAGE IF NOT EXISTS {STAGE}", None, doing).close()
            self._stage_ready = True
        folder = f"@{STAGE}/{uuid.uuid4().hex}"  # unique: COPY skips files it loaded before
        with tempfile.TemporaryDirectory(prefix="fsql-") as tmp:
            path = Path(tmp) / "data.parquet"
            pq.write_table(data, path)
            source = exp.Literal.string(f"file://{path.as_posix()}").sql(dialect="snowflake")
            put = f"PUT {source} {folder} AUTO_COMPRESS = FALSE OVERWRITE = TRUE"
            self._run(put, None, doing).close()
        # `$1:"name"` reads a Parquet field by its exact (quoted) name, as write_pandas does.
        reads = [
            f"$1:{exp.to_identifier(col.name, quoted=True).sql(dialect='snowflake')}"
            f"::{kind.sql(dialect='snowflake')}"
            for col, kind in zip(columns, types, strict=True)
        ]
        target = ", ".join(col.sql(dialect="snowflake") for col in columns)
        copy = (
            f"COPY INTO {table.sql(dialect='snowflake')} ({target}) "
            f"FROM (SELECT {', '.join(reads)} FROM {folder}) "
            "FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE BINARY_AS_TEXT = FALSE) "
            "PURGE = TRUE"
        )
        self._run(copy, None, doing).close()

    def unregister(self, name: str) -> None:
        """Drop a table `register` made; any other name is left alone, as DuckDB's is."""
        if name not in self._registered:
            return
        self._registered.discard(name)
        drop = exp.Drop(tables=[exp.to_table(name, dialect="snowflake")], kind="TABLE", exists=True)
        self._run(drop.sql(dialect="snowflake"), None, f"dropping table '{name}'").close()

    def table_schema(self, table: str) -> pa.Schema | None:
        query = exp.select("*").from_(exp.to_table(table, dialect="snowflake")).limit(0)
        cursor = self._con.cursor()
        try:
            # Describe-only: the statement is compiled, not run, so no warehouse wakes up.
            described = cursor.describe(query.sql(dialect="snowflake"), timeout=self._timeout)
        except Exception as err:
            if getattr(err, "errno", None) == 2003:  # does not exist (or is not visible)
                return None
            raise self._error(err, f"reading the schema of '{table}'") from err
        finally:
            cursor.close()
        return described_schema(described or [])

    def _rows(
        self, sql: str, params: Mapping[str, Any] | None, doing: str
    ) -> list[tuple[Any, ...]] | None:
        """All rows of a query, or None when it names an object that does not exist."""
        try:
            cursor = self._run(sql, params, doing)
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
        catalog = table.args.get("catalog")  # else the session's database
        info = exp.table_("TABLES", "INFORMATION_SCHEMA", catalog.copy() if catalog else None)
        params = {"name": _folded(table.this)}
        schema: exp.Expression = exp.CurrentSchema()
        if table.args.get("db"):
            params["schema"] = _folded(table.args["db"])
            schema = exp.Placeholder(this="schema")
        query = (
            exp.select("TABLE_TYPE", "LAST_ALTERED", "ROW_COUNT", "BYTES")
            .from_(info)
            .where(
                exp.and_(
                    exp.column("TABLE_SCHEMA").eq(schema),
                    exp.column("TABLE_NAME").eq(exp.Placeholder(this="name")),
                )
            )
        )
        found = self._rows(query.sql(dialect="snowflake"), params, doing)
        if found is None:  # no such database
            return None
        if found:
            fingerprint = metadata_fingerprint(*found[0])
            if fingerprint is not None:
                return fingerprint
        # A view, an external table, or an engine without LAST_ALTERED: checksum the rows.
        # (No row at all: a table the role cannot see in INFORMATION_SCHEMA, or fakesnow's
        # views; if it does not exist either, describing it says so.)
        return self._checksum(table, doing)

    def _checksum(self, table: exp.Table, doing: str) -> str | None:
        """`rows=<COUNT(*)>;hash=<sum of every row's HASH>`, or None when `table` is missing."""
        cursor = self._con.cursor()
        try:
            described = cursor.describe(
                exp.select("*").from_(table.copy()).limit(0).sql(dialect="snowflake"),
                timeout=self._timeout,
            )
        except Exception as err:
            if getattr(err, "errno", None) == NOT_FOUND_ERRNO:
                return None
            raise self._error(err, doing) from err
        finally:
            cursor.close()
        columns = [exp.column(exp.to_identifier(c.name, quoted=True)) for c in described or []]
        row_hash = exp.Anonymous(this="HASH", expressions=columns)
        query = exp.select(
            exp.Count(this=exp.Star()),
            exp.Sum(this=exp.cast(row_hash, HASH_SUM_TYPE, dialect="snowflake")),
        ).from_(table.copy())
        found = self._rows(query.sql(dialect="snowflake"), None, doing)
        if found is None:  # dropped since it was described
            return None
        count, total = found[0]
        return f"rows={count};hash={total or 0}"

    def close(self) -> None:
        self._con.close()
