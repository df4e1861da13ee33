"""Redis connections end within their timeouts, and a refused password is told apart.

A server that accepts connections and never answers (a socket of the test's own) must fail
a call within `socket_timeout`, naming host:port and the key to raise; a profile without
timeouts gets the documented defaults. A wrong password against the real Redis (an ACL user
the test makes in database 13 and deletes afterwards) must read "authentication failed",
never "unreachable", and never show the password.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.engines import require_module, unavailable

redis = require_module("redis", "redis")

from fsql.definitions.types import FeatureType  # noqa: E402
from fsql.errors import ProjectError, RunError  # noqa: E402
from fsql.online.base import OnlineTable  # noqa: E402
from fsql.online.open import open_online  # noqa: E402
from fsql.online.redis_link import (  # noqa: E402
    CONNECT_TIMEOUT,
    SOCKET_TIMEOUT,
    RedisLink,
    is_auth_failure,
)

REDIS_URL = "redis://127.0.0.1:6379/13"
USER = "fsql_test_user"
RIGHT = "rightpass"
WRONG = "SENTINEL-wr0ng-pa55"
NOW_US = 1_700_000_000_000_000
USERS = OnlineTable("users", ("user_id",), (("score", FeatureType.INT64),))


class SilentServer:
    """Accepts every connection, reads nothing, answers nothing, until stopped."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by stop()
                return
            self.held.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.stop()


def _timed(call: Any) -> tuple[RunError, float]:
    started = time.monotonic()
    with pytest.raises(RunError) as caught:
        call()
    return caught.value, time.monotonic() - started


def test_a_server_that_never_answers_fails_within_socket_timeout(
    silent: SilentServer, tmp_path: Path
) -> None:
    url = f"redis://:{WRONG}@127.0.0.1:{silent.port}/13"
    online = {"type": "redis", "url": url, "socket_timeout": 0.5, "connect_timeout": 0.5}
    store = open_online(online, tmp_path, "shop")
    try:
        for call in (
            lambda: store.read(USERS, [(1,)], NOW_US),  # the reads' raw connection
            lambda: store.prepare(USERS),  # the control client
        ):
            err, took = _timed(call)
            assert took < 0.5 * 2 + 1.0
            text = err.render()
            assert err.exit_code == 1 and "\n" not in text and WRONG not in text
            assert f"Redis at 127.0.0.1:{silent.port}/13 timed out while " in text
            assert "within 0.5 s" in text
            assert "raise `socket_timeout` in profiles.yml" in (err.hint or "")
    finally:
        store.close()


def test_timeouts_default_when_the_profile_sets_none(tmp_path: Path) -> None:
    """Both bounds hold with no keys and with explicit nulls: neither can be switched off."""
    for online in (
        {"type": "redis", "url": REDIS_URL},
        {"type": "redis", "url": REDIS_URL, "socket_timeout": None, "connect_timeout": None},
    ):
        store = open_online(online, tmp_path, "shop")
        settings = store._link.pool.connection_kwargs  # type: ignore[attr-defined]
        assert settings["socket_timeout"] == SOCKET_TIMEOUT == 5.0
        assert settings["socket_connect_timeout"] == CONNECT_TIMEOUT == 5.0
        store.close()
    link = RedisLink(REDIS_URL, None, None)
    assert (link.socket_timeout, link.connect_timeout) == (5.0, 5.0)
    link.close()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_a_timeout_must_be_above_zero(bad: float) -> None:
    with pytest.raises(ProjectError, match="socket_timeout must be a number of seconds above 0"):
        RedisLink(REDIS_URL, bad, 1.0)
    with pytest.raises(ProjectError, match="connect_timeout must be a number of seconds above 0"):
        RedisLink(REDIS_URL, 1.0, bad)


def test_auth_replies_are_recognised() -> None:
    assert is_auth_failure(redis.AuthenticationError("invalid username-password pair"))
    assert is_auth_failure(redis.ResponseError("NOAUTH Authentication required."))
    assert is_auth_failure(redis.ResponseError("WRONGPASS invalid username-password pair"))
    assert not is_auth_failure(redis.ConnectionError("Connection refused"))
    assert not is_auth_failure(redis.ResponseError("ERR unknown command"))


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A client of the real Redis at 127.0.0.1:6379, database 13."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        unavailable("redis", "Redis is not answering on 127.0.0.1:6379")
    yield client
    client.close()


@pytest.fixture
def acl_user(redis_client: Any) -> Iterator[str]:
    """An ACL user whose password is RIGHT; deleted afterwards."""
    name = f"{USER}_{uuid.uuid4().hex[:8]}"
    redis_client.execute_command("ACL", "SETUSER", name, "on", f">{RIGHT}", "~*", "+@all")
    yield name
    redis_client.execute_command("ACL", "DELUSER", name)


def test_a_wrong_password_says_authentication_failed(acl_user: str, tmp_path: Path) -> None:
    url = f"redis://{acl_user}:{WRONG}@127.0.0.1:6379/13"
    store = open_online({"type": "redis", "url": url, "socket_timeout": 2}, tmp_path, "shop")
    try:
        for call in (
            lambda: store.read(USERS, [(1,)], NOW_US),  # the reads' raw connection
            lambda: store.prepare(USERS),  # the control client
        ):
            err, _ = _timed(call)
            text = err.render()
            assert err.exit_code == 1 and "\n" not in text
            assert text.startswith("Redis at 127.0.0.1:6379/13: authentication failed while ")
            assert "unreachable" not in text
            assert WRONG not in text  # the url's password never shows
            assert err.hint == "check the user name and password in the online url in profiles.yml"
    finally:
        store.close()


def test_the_right_password_works(acl_user: str, tmp_path: Path) -> None:
    """The same user with its password reads (nothing), so the failure above is the password."""
    url = f"redis://{acl_user}:{RIGHT}@127.0.0.1:6379/13"
    link = RedisLink(url, 2, 2)
    try:
        with link.errors("reading a key"):
            assert link.send([("GET", f"fsqltest-{uuid.uuid4().hex}".encode())]) == [None]
    finally:
        link.close()
