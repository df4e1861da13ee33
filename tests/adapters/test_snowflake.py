"""The Snowflake adapter through the real snowflake-connector-python, against fakesnow.

fakesnow (DuckDB underneath) stands in for Snowflake; the connector, its wire protocol,
server-side bindings, PUT and COPY are the real ones. Two things it cannot show:
- it ignores credentials, so authentication failures are checked on the error mapping
  alone (with the connector's own error class), not on a live login;
- in server mode it returns a NULL timestamp as 1970-01-01 (its Arrow timestamp struct has
  no validity mask; real Snowflake's has), so NULL timestamps are checked in SQL
  (`ts IS NULL`) rather than in the fetched values.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlglot import exp

pytest.importorskip("fakesnow")
pytest.importorskip("snowflake.connector")

from snowflake.connector.errors import DatabaseError, ProgrammingError

from fsql.adapters.base import open_offline
from fsql.adapters.snowflake import (
    SnowflakeAdapter,
    connect_args,
    metadata_fingerprint,
    normalise_arrow,
    snowflake_error,
)
from fsql.config.secrets import register_secret
from fsql.dialects.snowflake import SNOWFLAKE
from fsql.errors import ProjectError, RunError

# duckdb inside fakesnow warns about its own Arrow copies; nothing to do with fsql.
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")

UTC_US = pa.timestamp("us", tz="UTC")


def _events(adapter: SnowflakeAdapter) -> None:
    adapter.execute(
        "CREATE OR REPLACE TABLE events (user_id NUMBER(38, 0), name VARCHAR, "
        "amount FLOAT, price NUMBER(10, 2), ts TIMESTAMP_TZ)"
    )
    adapter.execute(
        "INSERT INTO events VALUES "
        "(1, 'a', 1.5, 2.25, '2024-01-01 00:00:00+00:00'), "
        "(2, 'b''c', NULL, NULL, '2024-01-02 10:00:00+02:00'), "
        "(3, 'x'' OR 1=1 --', 3.0, 1.00, '2024-01-03 00:00:00+00:00')"
    )


def test_execute_and_fetch_arrow(snowflake_adapter: SnowflakeAdapter) -> None:
    _events(snowflake_adapter)
    table = snowflake_adapter.fetch_arrow("SELECT * FROM events ORDER BY user_id")
    assert table.schema == pa.schema(
        [
            ("user_id", pa.int64()),
            ("name", pa.string()),
            ("amount", pa.float64()),
            ("price", pa.decimal128(10, 2)),  # NUMBER with a scale stays exact
            ("ts", UTC_US),
        ]
    )
    assert table.column("name").to_pylist() == ["a", "b'c", "x' OR 1=1 --"]
    assert table.column("price").to_pylist() == [Decimal("2.25"), None, Decimal("1.00")]
    empty = snowflake_adapter.fetch_arrow("SELECT * FROM events WHERE user_id > 100")
    assert empty.num_rows == 0
    assert empty.schema == table.schema  # typed from the result metadata, not guessed


def test_unqualified_names_resolve_to_the_profile_schema(
    snowflake_adapter: SnowflakeAdapter, snowflake_profile: dict[str, Any]
) -> None:
    snowflake_adapter.execute("CREATE OR REPLACE TABLE here (a INT)")
    row = snowflake_adapter.fetch_arrow("SELECT CURRENT_DATABASE() AS d, CURRENT_SCHEMA() AS s")
    assert row.to_pylist() == [
        {"d": snowflake_profile["database"].upper(), "s": snowflake_profile["schema"].upper()}
    ]
    qualified = f"{snowflake_profile['database']}.{snowflake_profile['schema']}.here"
    assert snowflake_adapter.table_schema(qualified) == pa.schema([("a", pa.int64())])


def test_compiled_placeholders_are_bound_not_pasted(snowflake_adapter: SnowflakeAdapter) -> None:
    """The form the compiler emits: sqlglot Placeholder nodes, printed as `:start`/`:end`."""
    _events(snowflake_adapter)
    ts = exp.column("ts")
    query = (
        exp.select("user_id")
        .from_("events")
        .where(
            exp.and_(
                exp.GTE(this=ts.copy(), expression=exp.Placeholder(this="start")),
                exp.LTE(this=ts.copy(), expression=exp.Placeholder(this="end")),
            )
        )
        .order_by("user_id")
    )
    statement = SNOWFLAKE.statement(query)
    assert ":1" in statement.text and ":2" in statement.text
    assert statement.parameters == ("start", "end")
    # 10:00 +02:00 is 08:00 UTC: an instant compared as an instant, whatever its zone.
    berlin = timezone(timedelta(hours=1))
    params = {"start": datetime(2024, 1, 2, 9, 0, tzinfo=berlin), "end": datetime(2024, 1, 2, 8)}
    table = snowflake_adapter.fetch_arrow(statement, {**params, "unused": 1})
    assert table.column("user_id").to_pylist() == [2]
    with pytest.raises(RunError, match="must come compiled"):
        snowflake_adapter.fetch_arrow(query.sql(dialect="snowflake"), params)


def test_strings_with_quotes_bind_as_values(snowflake_adapter: SnowflakeAdapter) -> None:
    _events(snowflake_adapter)
    sneaky = "x' OR 1=1 --"
    name = exp.Placeholder(this="name")
    query = exp.select("user_id").from_("events").where(exp.column("name").eq(name))
    found = snowflake_adapter.fetch_arrow(SNOWFLAKE.statement(query), {"name": sneaky})
    assert found.column("user_id").to_pylist() == [3]
    # One number per name, however often the statement uses it.
    echoed = SNOWFLAKE.statement(exp.select(name.as_("v"), name.copy().as_("w")))
    assert echoed.text == "SELECT :1 AS v, :1 AS w"
    assert snowflake_adapter.fetch_arrow(echoed, {"name": "it's"}).to_pylist() == [
        {"v": "it's", "w": "it's"}
    ]


def test_fetch_batches_streams_in_several_batches(snowflake_adapter: SnowflakeAdapter) -> None:
    snowflake_adapter.execute(
        "CREATE OR REPLACE TABLE numbers AS "
        "SELECT SEQ4() AS n FROM TABLE(GENERATOR(ROWCOUNT => 10))"
    )
    low = exp.column("n") >= exp.Placeholder(this="low")
    query = SNOWFLAKE.statement(exp.select("n").from_("numbers").where(low).order_by("n"))
    batches = list(snowflake_adapter.fetch_batches(query, {"low": 0}, batch_rows=3))
    assert [b.num_rows for b in batches] == [3, 3, 3, 1]
    assert all(b.schema == pa.schema([("n", pa.int64())]) for b in batches)
    assert pa.Table.from_batches(batches).column("n").to_pylist() == list(range(10))


def test_register_uploads_a_temporary_table(snowflake_adapter: SnowflakeAdapter) -> None:
    _events(snowflake_adapter)
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
            "label": ["p", None, "it's", "q"],
            "__fsql_row": pa.array([0, 1, 2, 3], pa.int64()),
        }
    )
    snowflake_adapter.register("__fsql_entities", entities)
    schema = snowflake_adapter.table_schema("__fsql_entities")
    assert schema == pa.schema(
        [
            ("user_id", pa.int64()),
            ("ts", UTC_US),
            ("label", pa.string()),
            ("__fsql_row", pa.int64()),
        ]
    )
    joined = snowflake_adapter.fetch_arrow(
        "SELECT e.__fsql_row, e.user_id, e.ts, e.ts IS NULL AS no_ts, e.label, v.name "
        "FROM __fsql_entities AS e LEFT JOIN events AS v ON v.user_id = e.user_id "
        "ORDER BY e.__fsql_row"
    )
    assert joined.column("user_id").to_pylist() == [1, 2, None, 4]
    assert joined.column("name").to_pylist() == ["a", "b'c", None, None]
    assert joined.column("label").to_pylist() == ["p", None, "it's", "q"]
    assert joined.column("no_ts").to_pylist() == [False, False, True, False]
    assert joined.schema.field("ts").type == UTC_US
    times = joined.column("ts").to_pylist()
    assert [times[0], times[1], times[3]] == [
        datetime(2024, 1, 5, tzinfo=UTC),
        datetime(2024, 1, 2, 8, 0, 0, 123456, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC),
    ]
    snowflake_adapter.unregister("__fsql_entities")
    assert snowflake_adapter.table_schema("__fsql_entities") is None
    snowflake_adapter.unregister("events")  # not registered: a real table is never dropped
    assert snowflake_adapter.table_schema("events") is not None


def test_register_an_empty_table_keeps_its_columns(snowflake_adapter: SnowflakeAdapter) -> None:
    empty = pa.table({"k": pa.array([], pa.int32()), "ts": pa.array([], UTC_US)})
    snowflake_adapter.register("nothing", empty)
    assert snowflake_adapter.fetch_arrow("SELECT * FROM nothing").schema == pa.schema(
        [("k", pa.int64()), ("ts", UTC_US)]
    )
    snowflake_adapter.unregister("nothing")


def test_table_schema_of_existing_and_missing_tables(snowflake_adapter: SnowflakeAdapter) -> None:
    _events(snowflake_adapter)
    schema = snowflake_adapter.table_schema("events")
    assert schema is not None
    assert schema.names == ["user_id", "name", "amount", "price", "ts"]
    assert schema.field("ts").type == UTC_US
    assert snowflake_adapter.table_schema("no_such_table") is None


def test_a_name_of_more_than_three_parts_is_an_error(snowflake_adapter: SnowflakeAdapter) -> None:
    adapter = snowflake_adapter
    with pytest.raises(RunError, match=r"fingerprinting table 'a\.b\.c\.d' failed: not a table"):
        adapter.table_fingerprint("a.b.c.d")


def test_metadata_fingerprint_trusts_only_a_real_last_altered() -> None:
    """What real Snowflake's INFORMATION_SCHEMA.TABLES row gives (fakesnow cannot show it)."""
    altered = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert metadata_fingerprint("BASE TABLE", altered, 10, 2048) == (
        "altered=2024-05-01T10:00:00.123456+00:00;rows=10;bytes=2048"
    )
    later = metadata_fingerprint("BASE TABLE", altered + timedelta(microseconds=1), 10, 2048)
    assert later != metadata_fingerprint("BASE TABLE", altered, 10, 2048)
    assert metadata_fingerprint("TEMPORARY TABLE", altered, 0, 0) is not None
    # A view's LAST_ALTERED follows its definition, not its rows: checksum instead.
    assert metadata_fingerprint("VIEW", altered, None, None) is None
    assert metadata_fingerprint("MATERIALIZED VIEW", altered, 3, 10) is None
    assert metadata_fingerprint("EXTERNAL TABLE", altered, None, None) is None
    # No real change time (fakesnow's constant epoch, or none at all): checksum instead.
    assert metadata_fingerprint("BASE TABLE", datetime(1970, 1, 1, tzinfo=UTC), 2, 0) is None
    assert metadata_fingerprint("BASE TABLE", None, 2, 0) is None


class _RefusingConnection:
    """A connection whose every statement is refused as a real role without grants is."""

    def __init__(self, message: str) -> None:
        self.message = message

    def cursor(self) -> _RefusingConnection:
        return self

    def execute(self, *args: Any, **kwargs: Any) -> None:
        raise ProgrammingError(msg=self.message, errno=3001)

    describe = execute

    def close(self) -> None:
        pass


def test_a_failed_fingerprint_is_one_scrubbed_run_error() -> None:
    register_secret("SENTINEL-fp-s3cret")
    refused = "SQL access control error:\nInsufficient privileges (token SENTINEL-fp-s3cret)"
    adapter = SnowflakeAdapter(_RefusingConnection(refused))
    with pytest.raises(RunError) as caught:
        adapter.table_fingerprint("raw.events")
    text = caught.value.render()
    assert caught.value.message.startswith(
        "fingerprinting table 'raw.events' failed: permission denied ("
    )
    assert "Insufficient privileges" in caught.value.message  # the detail after the header
    assert "\n" not in text and "SENTINEL-fp-s3cret" not in text
    assert isinstance(caught.value.__cause__, ProgrammingError)


def test_result_names_fold_back_to_lower_case(snowflake_adapter: SnowflakeAdapter) -> None:
    table = snowflake_adapter.fetch_arrow('SELECT 1 AS user_id, 2 AS "MixedCase", 3 AS __FSQL_ROW')
    assert table.column_names == ["user_id", "MixedCase", "__fsql_row"]


def test_create_table_as_and_merge(snowflake_adapter: SnowflakeAdapter) -> None:
    _events(snowflake_adapter)
    snowflake_adapter.execute(
        "CREATE OR REPLACE TABLE latest AS SELECT user_id, name FROM events WHERE user_id <= 2"
    )
    snowflake_adapter.register("updates", pa.table({"user_id": [2, 9], "name": ["changed", "new"]}))
    snowflake_adapter.execute(
        "MERGE INTO latest AS t USING updates AS s ON t.user_id = s.user_id "
        "WHEN MATCHED THEN UPDATE SET name = s.name "
        "WHEN NOT MATCHED THEN INSERT (user_id, name) VALUES (s.user_id, s.name)"
    )
    rows = snowflake_adapter.fetch_arrow("SELECT * FROM latest ORDER BY user_id").to_pylist()
    assert rows == [
        {"user_id": 1, "name": "a"},
        {"user_id": 2, "name": "changed"},
        {"user_id": 9, "name": "new"},
    ]


def test_query_errors_are_one_clear_run_error(snowflake_adapter: SnowflakeAdapter) -> None:
    with pytest.raises(RunError) as caught:
        snowflake_adapter.fetch_arrow("SELECT * FROM missing_table")
    err = caught.value
    assert err.exit_code == 1
    assert "\n" not in err.render()
    assert "running a query failed" in err.message and "MISSING_TABLE" in err.message.upper()
    assert isinstance(err.__cause__, ProgrammingError)
    # Callers re-word the adapter's error with their own context.
    again = snowflake_error(err, "building view 'orders'")
    assert again.message.startswith("building view 'orders' failed: 002003")


def test_error_mapping_names_the_cause() -> None:
    def mapped(errno: int, msg: str, sqlstate: str | None = None) -> RunError:
        return snowflake_error(DatabaseError(msg=msg, errno=errno, sqlstate=sqlstate), "doing it")

    assert "authentication failed" in mapped(390100, "Incorrect username or password").message
    assert "no warehouse" in mapped(606, "No active warehouse selected").message
    assert "no schema" in mapped(90106, "This session does not have a current schema.").message
    denied = mapped(3001, "SQL access control error:\nInsufficient privileges to operate on x")
    assert "permission denied" in denied.message
    assert "Insufficient privileges" in denied.message  # the detail after a bare header
    assert mapped(604, "SQL execution canceled").hint == "raise `query_timeout` in profiles.yml"


def test_profile_keys_are_checked(tmp_path: Path) -> None:
    base = {"type": "snowflake", "account": "a", "user": "u", "password": "p1234567"}
    with pytest.raises(ProjectError) as caught:
        SnowflakeAdapter.from_config({**base, "schema": "s"}, tmp_path, "conf/profiles.yml")
    assert caught.value.exit_code == 2
    assert "'database'" in caught.value.render() and "conf/profiles.yml" in caught.value.render()
    with pytest.raises(ProjectError, match="unknown key 'warehous'"):
        connect_args({**base, "database": "d", "schema": "s", "warehous": "w"}, tmp_path, "p.yml")
    no_auth = {k: v for k, v in base.items() if k != "password"}
    with pytest.raises(ProjectError, match="'password', 'private_key_path' or 'authenticator'"):
        connect_args({**no_auth, "database": "d", "schema": "s"}, tmp_path, "p.yml")


def test_connect_args_pin_the_session(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "rsa.p8").write_text("not read until connect")
    args = connect_args(
        {
            "account": "a",
            "user": "u",
            "private_key_path": "keys/rsa.p8",
            "private_key_passphrase": "pass-phrase",
            "database": "d",
            "schema": "s",
            "query_tag": "nightly",
            "query_timeout": "600",
            "pit_strategy": "window",
        },
        tmp_path,
        "profiles.yml",
    )
    assert args["session_parameters"] == {
        "TIMEZONE": "UTC",
        "QUERY_TAG": "nightly",
        "STATEMENT_TIMEOUT_IN_SECONDS": 600,
    }
    assert args["private_key_file"] == str(tmp_path / "keys" / "rsa.p8")
    assert args["private_key_file_pwd"] == "pass-phrase"
    assert args["paramstyle"] == "numeric"
    assert "pit_strategy" not in args  # the compiler's key, not the connector's


def test_a_failed_connect_names_the_host_never_the_password(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sentinel = "SENTINEL-pa55word-7f3a"
    profile = {
        "type": "snowflake",
        "account": "acct",
        "user": "alice",
        "password": sentinel,
        "database": "d",
        "schema": "s",
        "host": "127.0.0.1",
        "port": port,
        "protocol": "http",
        "login_timeout": 2,
    }
    with pytest.raises(RunError) as caught:
        open_offline(profile, tmp_path)
    text = caught.value.render()
    assert f"127.0.0.1:{port}" in text and "'alice'" in text and "'acct'" in text
    assert sentinel not in text
    # A driver message that did carry the secret is scrubbed too.
    leaked = ProgrammingError(msg=f"bad login for {sentinel}", errno=1)
    assert sentinel not in snowflake_error(leaked, "connecting").render()


def test_a_missing_connector_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "snowflake.connector", None)
    profile = {"account": "a", "user": "u", "password": "p", "database": "d", "schema": "s"}
    with pytest.raises(ProjectError, match=r"pip install 'fsql\[snowflake\]'"):
        SnowflakeAdapter.from_config(profile, tmp_path)


def test_normalise_arrow_gives_fsql_types() -> None:
    raw = pa.table(
        {
            "ID": pa.array([1, None], pa.int8()),
            "BIG": pa.array([Decimal(2**70), None], pa.decimal128(38, 0)),
            "N": pa.array([Decimal(7), None], pa.decimal128(38, 0)),
            "TZ": pa.array([0, None], pa.timestamp("ns", tz="Etc/UTC")),
            "NTZ": pa.array([datetime(2024, 1, 1, 5), None], pa.timestamp("ns")),
            "Quoted": pa.array(["x", None]),
        }
    )
    out = normalise_arrow(raw)
    assert out.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("big", pa.decimal128(38, 0)),  # beyond int64: kept exact
            ("n", pa.int64()),
            ("tz", UTC_US),
            ("ntz", UTC_US),
            ("Quoted", pa.string()),
        ]
    )
    assert out.column("ntz").to_pylist() == [datetime(2024, 1, 1, 5, tzinfo=UTC), None]
