"""BigQuery failures: the client's errors as one-line RunErrors.

Every verb of the adapter raises a `RunError` made by `bigquery_error`: one scrubbed line
saying what failed (missing or rejected credentials, permission denied, unknown dataset or
table, bytes-billed limit, quota, timeout, an unreachable or failing endpoint, or BigQuery's
first line), naming the endpoint for network failures and the profile key to raise for
timeouts, with the client's error kept as `__cause__`. Errors are recognised by class name,
code and reason, so nothing of google-cloud is imported here.
"""

from __future__ import annotations

from fsql.config.secrets import scrub
from fsql.errors import FsqlError, RunError

SERVER_ERRORS = frozenset({500, 502, 503, 504})


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
