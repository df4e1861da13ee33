"""Snowflake failures: the connector's errors as one-line RunErrors, and the retry budget.

Errors. Every verb of the adapter raises a `RunError` made by `snowflake_error`: one scrubbed
line saying what failed (authentication, an unreachable host, retries given up, no
warehouse/database/schema, a missing privilege, or the driver's own first line), naming the
host for network failures and the profile key to raise for timeouts, with the driver error
kept as `__cause__`.

Bounded waits. The connector's own retry budget for a statement is its query timeout, and it
retries 5xx answers until then: a server that kept failing held `build-training-set` for
minutes with no output. So its backoff policy (`RetryBudget`) ends the retries once
`network_timeout` has passed, and the statement fails within about `network_timeout +
socket_timeout`. The connector's own default socket timeout is 60 s, and Snowflake holds a
query request up to 45 s before it answers that the query still runs: a `socket_timeout`
below 45 s is for local stand-ins only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from fsql.config.secrets import scrub
from fsql.errors import FsqlError, RunError

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
