"""Snowflake profile: a snowflake target's `offline:` block, typed and checked once.

`SnowflakeConfig.parse` turns the block from profiles.yml into a frozen `SnowflakeConfig`, or
raises every problem at once as ProjectErrors naming the profiles file: unknown keys, missing
required keys (account, user, database, schema), no way to authenticate (password,
private_key_path or authenticator), oauth without a token, a passphrase without a key, a
protocol other than http/https, a port or timeout that is not a whole number above 0.

Secrets (`password`, `private_key_passphrase`, `token`: the fields marked `secret`) are
registered for scrubbing before anything is checked, even ones written in plain text in
profiles.yml, and are left out of the config's repr.

Timeouts default to the bounds README "Timeouts" documents: `login_timeout` 60 s,
`socket_timeout` 60 s, `network_timeout` 120 s, `query_timeout` 6 h. A `query_timeout` the
profile sets is also the session's STATEMENT_TIMEOUT_IN_SECONDS (`statement_timeout`); left
out, the account's own statement limit stays.

`connect_args` gives the keyword arguments of `snowflake.connector.connect`: the session
pinned to UTC, the timeouts, a `RetryBudget` as the connector's backoff policy (it ends the
retries of a failing request at `network_timeout`: fsql.adapters.snowflake_errors), the
private key file resolved against the project root, and the `numeric` paramstyle, so values
are bound server-side. No driver is imported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsql.adapters.snowflake_errors import RetryBudget
from fsql.config.secrets import register_secret
from fsql.errors import ProjectError, raise_collected

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
# Seconds; each bounds one kind of wait (README "Timeouts"; fsql.adapters.snowflake_errors).
DEFAULT_TIMEOUTS = {
    "login_timeout": 60,
    "socket_timeout": 60,
    "network_timeout": 120,
    "query_timeout": 6 * 3600,
}
SECRET = "secret"  # field metadata: the value is registered for scrubbing, never shown


def _secret() -> Any:
    return field(default=None, repr=False, metadata={SECRET: True})


@dataclass(frozen=True)
class SnowflakeConfig:
    """What a snowflake `offline:` block says, typed; built by `parse`."""

    account: str
    user: str
    database: str
    schema: str  # where fsql builds its view tables and fsql_build_state
    password: str | None = _secret()
    private_key_path: str | None = None  # as written: relative to the project root
    private_key_passphrase: str | None = _secret()
    authenticator: str | None = None
    token: str | None = _secret()
    role: str | None = None
    warehouse: str | None = None
    query_tag: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: str | None = None
    login_timeout: int = DEFAULT_TIMEOUTS["login_timeout"]
    socket_timeout: int = DEFAULT_TIMEOUTS["socket_timeout"]
    network_timeout: int = DEFAULT_TIMEOUTS["network_timeout"]
    query_timeout: int = DEFAULT_TIMEOUTS["query_timeout"]
    # The session's STATEMENT_TIMEOUT_IN_SECONDS: `query_timeout` when the profile sets it.
    statement_timeout: int | None = None
    pit_strategy: str | None = None  # read by the compiler, not the adapter

    @classmethod
    def secret_keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get(SECRET))

    @classmethod
    def parse(cls, config: Mapping[str, Any], source: str) -> SnowflakeConfig:
        """The typed config of a profile block, or ProjectErrors naming `source`."""
        for key in cls.secret_keys():  # first: even a block with errors is scrubbed
            if config.get(key):
                register_secret(str(config[key]))
        raise_collected(_problems(config, source))

        def text(key: str) -> str | None:
            value = config.get(key)
            return None if value in (None, "") else str(value)

        timeouts = {
            key: int(config[key]) if config.get(key) is not None else default
            for key, default in DEFAULT_TIMEOUTS.items()
        }
        return cls(
            account=str(config["account"]),
            user=str(config["user"]),
            database=str(config["database"]),
            schema=str(config["schema"]),
            password=text("password"),
            private_key_path=str(config["private_key_path"])
            if config.get("private_key_path")
            else None,
            private_key_passphrase=str(config["private_key_passphrase"])
            if config.get("private_key_passphrase")
            else None,
            authenticator=text("authenticator"),
            token=text("token"),
            role=text("role"),
            warehouse=text("warehouse"),
            query_tag=str(config["query_tag"]) if config.get("query_tag") else None,
            host=text("host"),
            port=int(config["port"]) if config.get("port") is not None else None,
            protocol=text("protocol"),
            statement_timeout=timeouts["query_timeout"]
            if config.get("query_timeout") is not None
            else None,
            pit_strategy=text("pit_strategy"),
            **timeouts,
        )

    @property
    def where(self) -> str:
        """protocol://host:port the connector talks to, for messages (never a credential)."""
        if self.host:
            return f"{self.protocol or 'https'}://{self.host}:{self.port or 443}"
        return f"https://{self.account}.snowflakecomputing.com:443"


def _problems(config: Mapping[str, Any], source: str) -> list[ProjectError]:
    """Every key known, every required key set, one way to authenticate, numbers that are."""
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
    return errors


def connect_args(
    config: SnowflakeConfig | Mapping[str, Any], project_root: Path, source: str
) -> dict[str, Any]:
    """Keyword arguments for `snowflake.connector.connect` (a profile block is parsed first,
    registering its secrets for scrubbing)."""
    if not isinstance(config, SnowflakeConfig):
        config = SnowflakeConfig.parse(config, source)
    session: dict[str, Any] = {"TIMEZONE": "UTC"}
    if config.query_tag:
        session["QUERY_TAG"] = config.query_tag
    if config.statement_timeout is not None:  # else the account's own limit stays
        session["STATEMENT_TIMEOUT_IN_SECONDS"] = config.statement_timeout
    texts: tuple[str, ...] = ("account", "user", "database", "schema", "role", "warehouse")
    texts += ("host", "protocol", "password", "authenticator", "token")
    args: dict[str, Any] = {
        key: getattr(config, key) for key in texts if getattr(config, key) is not None
    }
    if config.port is not None:
        args["port"] = config.port
    args["login_timeout"] = config.login_timeout
    args["network_timeout"] = config.network_timeout
    args["socket_timeout"] = config.socket_timeout
    args["backoff_policy"] = RetryBudget(config.network_timeout, config.where)
    if config.private_key_path:
        path = Path(config.private_key_path).expanduser()
        path = path if path.is_absolute() else project_root / path
        if not path.is_file():
            raise ProjectError(f"private_key_path '{path}' is not a file", file=source)
        args["private_key_file"] = str(path)
        if config.private_key_passphrase:
            args["private_key_file_pwd"] = config.private_key_passphrase
    # Server-side binding of `:1`-style numbers: values never pass through SQL text.
    args["paramstyle"] = "numeric"
    args["session_parameters"] = session
    return args
