"""BigQuery profile: a bigquery target's `offline:` block, typed and checked once, and the
Google credentials its `method` names.

`check_profile` raises every problem of a block at once as ProjectErrors naming the profiles
file (unknown or missing keys, a login method without its key or a key without its method,
priority, upload format, parameter mode, timeouts, byte limit, labels); `BigQueryConfig.parse`
checks and returns the frozen, typed config. `keyfile_json` (the field marked `secret`) is
registered for scrubbing first, even when written in plain text in profiles.yml, and left out
of the config's repr; a key file's `private_key` and `private_key_id` are registered when the
credentials are made.

Timeouts. Every call ends within a time the profile can change; the defaults are the bounds
README "Timeouts" documents: `job_timeout_seconds` [6 h, BigQuery's own limit for a query job;
when the profile sets it, it is also sent as the job's server-side timeout, so BigQuery stops
an abandoned job] a job's run, `request_timeout_seconds` [60 s] one HTTP request's wait for an
answer (the client waits at least 120 s for a query's results, whatever it is given), and
`retry_timeout_seconds` [120 s, never above the job timeout: `retry_seconds`] the retries of a
call that keeps failing (HTTP 5xx, rate limits, a dropped connection, no answer). The
client's own defaults are no request timeout at all (a server that accepts and never answers
holds a call forever), ten minutes of retries for each call, and forty minutes of re-running a
query job that failed for a retryable reason, each retry of which starts the call's own ten
minutes over. The adapter makes the job retries share the call's budget: a server that keeps
failing makes a statement fail after at most about twice `retry_timeout_seconds` (a last
attempt may start just before the budget ends).

No client library is imported until credentials are made.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from fsql.config.secrets import register_secret, scrub
from fsql.errors import ProjectError, raise_collected

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
DEFAULT_ENDPOINT = "bigquery.googleapis.com:443"
SECRET = "secret"  # field metadata: the value is registered for scrubbing, never shown


@dataclass(frozen=True)
class BigQueryConfig:
    """What a bigquery `offline:` block says, typed; built by `parse`."""

    project: str
    dataset: str  # where fsql builds its view tables and fsql_build_state
    location: str | None = None
    method: str = "oauth"
    keyfile: str | None = None  # as written: relative to the project root
    keyfile_json: str | None = field(default=None, repr=False, metadata={SECRET: True})
    api_endpoint: str | None = None
    job_timeout_seconds: float | None = None  # None: BigQuery's own six hours, client-side
    request_timeout_seconds: float = REQUEST_SECONDS
    retry_timeout_seconds: float = RETRY_SECONDS
    maximum_bytes_billed: int | None = None
    priority: str = "INTERACTIVE"  # or BATCH
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    upload_format: str = "parquet"  # or csv, for emulators
    parameters: str = "bound"  # or inline, for emulators
    pit_strategy: str | None = None  # read by the compiler, not the adapter

    @classmethod
    def parse(cls, config: Mapping[str, Any], source: str) -> BigQueryConfig:
        """The typed config of a profile block, or ProjectErrors naming `source`."""
        check_profile(config, source)

        def seconds(key: str) -> float | None:
            value = config.get(key)
            return float(str(value).strip()) if value is not None else None

        billed = config.get("maximum_bytes_billed")
        return cls(
            project=str(config["project"]),
            dataset=str(config["dataset"]),
            location=str(config["location"]) if config.get("location") else None,
            method=str(config.get("method") or "oauth"),
            keyfile=str(config["keyfile"]) if config.get("keyfile") else None,
            keyfile_json=str(config["keyfile_json"]) if config.get("keyfile_json") else None,
            api_endpoint=str(config["api_endpoint"]) if config.get("api_endpoint") else None,
            job_timeout_seconds=seconds("job_timeout_seconds"),
            request_timeout_seconds=seconds("request_timeout_seconds") or REQUEST_SECONDS,
            retry_timeout_seconds=seconds("retry_timeout_seconds") or RETRY_SECONDS,
            maximum_bytes_billed=int(float(str(billed))) if billed is not None else None,
            priority=str(config.get("priority") or "interactive").upper(),
            labels=MappingProxyType(
                {str(k): str(v) for k, v in (config.get("labels") or {}).items()}
            ),
            upload_format=str(config.get("upload_format") or "parquet"),
            parameters=str(config.get("parameters") or "bound"),
            pit_strategy=str(config["pit_strategy"]) if config.get("pit_strategy") else None,
        )

    @property
    def wait_seconds(self) -> float:
        """How long the client waits for a job: the job timeout, or BigQuery's own limit."""
        return self.job_timeout_seconds or MAX_WAIT_SECONDS

    @property
    def retry_seconds(self) -> float:
        """The budget for retrying a failing call (and re-running a failed job)."""
        return min(self.retry_timeout_seconds, self.wait_seconds)

    @property
    def where(self) -> str:
        """host:port of the API the client talks to, for messages (never a credential)."""
        if not self.api_endpoint:
            return DEFAULT_ENDPOINT
        raw = self.api_endpoint
        try:
            parts = urlsplit(raw if "//" in raw else f"//{raw}")
            default_port = 80 if parts.scheme == "http" else 443
            return f"{parts.hostname}:{parts.port or default_port}"
        except ValueError:
            return "(invalid api_endpoint)"


def _is_number(value: Any, whole: bool) -> bool:
    try:
        number = float(str(value).strip())
    except ValueError:
        return False
    return number > 0 and (not whole or number.is_integer())


def check_profile(config: Mapping[str, Any], source: str) -> None:
    """Every key known, every required key set, one consistent login: or ProjectErrors."""
    for f in dataclasses.fields(BigQueryConfig):  # first: even a block with errors is scrubbed
        if f.metadata.get(SECRET) and config.get(f.name):
            register_secret(str(config[f.name]))
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


def credentials(config: BigQueryConfig, project_root: Path, source: str) -> Any:
    """The google-auth credentials the profile's `method` names (no network call)."""
    if config.method == "anonymous":
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    if config.method == "oauth":
        import google.auth

        creds, _ = google.auth.default(scopes=list(SCOPES))  # DefaultCredentialsError: a RunError
        return creds
    from google.oauth2 import service_account

    if config.method == "service-account":
        path = Path(str(config.keyfile)).expanduser()
        path = path if path.is_absolute() else project_root / path
        if not path.is_file():
            raise ProjectError(f"keyfile '{path}' is not a file", file=source)
        loader, arg = service_account.Credentials.from_service_account_file, str(path)
    else:
        try:
            arg = json.loads(str(config.keyfile_json))
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
        what = "keyfile" if config.method == "service-account" else "keyfile_json"
        reason = (scrub(str(err)).strip().splitlines() or ["malformed"])[0]
        raise ProjectError(
            f"the service-account key in '{what}' cannot be read ({reason})", file=source
        ) from None
