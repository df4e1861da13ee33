"""Connections of the Redis online store to one server: the pool's settings, one raw
connection per thread, the script cache, and the mapping of Redis failures to RunError.

Each thread keeps one raw connection (built from the pool's settings): redis-py's pool
checkout costs ~35 us, as much as the GET itself. Failures of Redis (refused, reset,
timeout, a rejected password) become `RunError` naming host:port, never the password; no
call retries after a timeout, so none waits past the configured timeouts.

Bounded waits: `connect_timeout` bounds opening a connection and `socket_timeout` every
reply, both 5 s unless the profile says otherwise. Neither can be switched off (a `null` in
the profile means the default): without them redis-py waits for a server that accepted the
connection and never answers for as long as the TCP connection lives.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from fsql.config.secrets import register_secret, scrub
from fsql.errors import ProjectError, RunError
from fsql.online.redis_codec import first_line, where

SOCKET_TIMEOUT = 5.0  # seconds: every reply (`socket_timeout`)
CONNECT_TIMEOUT = 5.0  # seconds: opening a connection (`connect_timeout`)
# Replies of a server that refused the credentials (redis-py maps most to AuthenticationError).
AUTH_REPLIES = ("WRONGPASS", "NOAUTH", "invalid username-password pair", "invalid password")


def _timeout(value: Any, default: float, key: str) -> float:
    """A timeout in seconds as the profile gives it: the default for None, an error
    unless a number above 0."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not seconds > 0:
        raise ProjectError(
            f"online store redis: {key} must be a number of seconds above 0, not {value!r}",
            hint=f"leave it out for the default ({default:g} s)",
        )
    return seconds


def _remember_password(url: str) -> None:
    """The url's password, as written and decoded, is scrubbed from every message."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    if password:
        register_secret(password)
        register_secret(unquote(password))


def is_auth_failure(err: BaseException) -> bool:
    """Whether Redis refused the url's user name or password (or wants one)."""
    if isinstance(err, redis.AuthenticationError):
        return True
    text = str(err)
    return isinstance(err, redis.ResponseError) and any(r in text for r in AUTH_REPLIES)


class RedisLink:
    """A pool of settings, a client for control commands, and per-thread raw connections."""

    def __init__(
        self, url: str, socket_timeout: float | None, connect_timeout: float | None
    ) -> None:
        self.where = where(url)
        _remember_password(url)
        self.socket_timeout = _timeout(socket_timeout, SOCKET_TIMEOUT, "socket_timeout")
        self.connect_timeout = _timeout(connect_timeout, CONNECT_TIMEOUT, "connect_timeout")
        try:
            self.pool = redis.ConnectionPool.from_url(
                url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.connect_timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
        except ValueError as err:
            raise ProjectError(
                f"online store redis: invalid url ({err})",
                hint="e.g. url: redis://:PASSWORD@HOST:6379/0, or rediss://... for TLS",
            ) from None
        self.client = redis.Redis(connection_pool=self.pool)
        self.sha: dict[str, str] = {}
        self._local = threading.local()
        self._conns: weakref.WeakSet[Any] = weakref.WeakSet()

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Redis failures -> one-line RunError naming host:port (never the password)."""
        try:
            yield
        except redis.RedisError as err:
            raise self.error(err, doing) from None

    def error(self, err: BaseException, doing: str) -> RunError:
        """The RunError for a Redis failure while `doing`: a refused password is told apart
        from an unreachable server, a timeout names the profile key that bounds it."""
        detail = scrub(first_line(err))
        if is_auth_failure(err):  # before ConnectionError: AuthenticationError is one
            return RunError(
                f"Redis at {self.where}: authentication failed while {doing}: {detail}",
                hint="check the user name and password in the online url in profiles.yml",
            )
        if isinstance(err, redis.TimeoutError):
            connecting = "connecting" in detail.lower()
            key, seconds = (
                ("connect_timeout", self.connect_timeout)
                if connecting
                else ("socket_timeout", self.socket_timeout)
            )
            return RunError(
                f"Redis at {self.where} timed out while {doing}: no answer within "
                f"{seconds:g} s ({detail})",
                hint=f"check that Redis runs and answers, or raise `{key}` in profiles.yml; "
                "nothing was lost, re-run the command",
            )
        if isinstance(err, redis.ConnectionError):
            return RunError(
                f"Redis at {self.where} is unreachable while {doing}: {detail}",
                hint="check that Redis runs and the online url in profiles.yml; "
                "nothing was lost, re-run the command",
            )
        return RunError(f"Redis at {self.where} failed while {doing}: {detail}")

    def conn(self) -> Any:
        """This thread's connection, made from the pool's settings (URL, TLS, timeouts)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = self.pool.connection_class(**self.pool.connection_kwargs)
            local.conn, local.pid = conn, os.getpid()
            self._conns.add(conn)
        elif getattr(conn, "_sock", None) is not None:
            # Readable while no reply is due: EOF (say, Redis restarted since the last
            # call) or stray bytes. Reconnect now rather than fail this call (as the pool).
            try:
                if conn.can_read():
                    conn.disconnect()
            except (redis.ConnectionError, OSError):
                conn.disconnect()
        return conn

    def send(self, commands: Sequence[tuple[Any, ...]], retry: bool = True) -> list[Any]:
        """Replies to `commands`, sent in one write. A broken connection (say, Redis was
        restarted since its last use) is reopened once: only idempotent reads come here."""
        conn = self.conn()
        try:
            conn.send_packed_command([hiredis.pack_command(c) for c in commands], False)
            return [conn.read_response() for _ in commands]
        except redis.ConnectionError as err:
            conn.disconnect()
            if not retry or is_auth_failure(err):  # a wrong password stays wrong
                raise
            return self.send(commands, retry=False)
        except BaseException:
            conn.disconnect()  # unread replies would confuse the next call
            raise

    def stream(
        self, command: tuple[Any, ...], chunks: Iterable[Sequence[Any]], window: int
    ) -> str | None:
        """Send `command` + each chunk's arguments (a script call per chunk) on this
        thread's connection, at most `window` unanswered, so that Redis runs one call
        while Python encodes the next. Returns "stale" (a script failed with FSQL_STALE)
        or "noscript" when the whole stream must be repeated, None when every call ran."""
        conn = self.conn()
        outcome: str | None = None
        unanswered = 0

        def answer() -> None:
            nonlocal outcome, unanswered
            unanswered -= 1
            try:
                conn.read_response()
            except redis.exceptions.NoScriptError:
                outcome = outcome or "noscript"
            except redis.ResponseError as err:
                if not str(err).startswith("FSQL_STALE"):
                    raise
                outcome = "stale"

        try:
            for args in chunks:
                conn.send_packed_command([hiredis.pack_command((*command, *args))], False)
                unanswered += 1
                if unanswered >= window:
                    answer()
                if outcome is not None:
                    break  # the rest would fail the same way
            while unanswered:
                answer()
        except BaseException:
            conn.disconnect()  # unanswered replies would confuse the next call
            raise
        return outcome

    def script(self, name: str, source: str) -> str:
        sha = self.sha.get(name)
        if sha is None:
            sha = self.sha[name] = self.client.script_load(source)
        return sha

    def eval(self, name: str, source: str, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        try:
            return self.client.evalsha(self.script(name, source), len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # server restarted or SCRIPT FLUSH
            self.sha.clear()
            return self.client.evalsha(self.script(name, source), len(keys), *keys, *args)

    def close(self) -> None:
        for conn in list(self._conns):
            conn.disconnect()
        self.pool.disconnect()
