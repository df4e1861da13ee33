"""A missing engine skips its tests on a laptop and fails them in CI."""

from __future__ import annotations

import pytest

from tests.support.engines import REQUIRE_ENV, engines_of, require_module, unavailable


def test_a_missing_engine_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="emulator missing"):
        unavailable("bigquery", "emulator missing")
    monkeypatch.setenv(REQUIRE_ENV, "snowflake, bigquery")
    with pytest.raises(pytest.fail.Exception, match="bigquery is required"):
        unavailable("bigquery", "emulator missing")
    with pytest.raises(pytest.skip.Exception):
        unavailable("redis", "not answering")  # not in the list: a skip


def test_require_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_ENV, "redis")
    assert require_module("redis", "json").__name__ == "json"
    with pytest.raises(pytest.fail.Exception, match="no_such_module_xyz is not installed"):
        require_module("redis", "no_such_module_xyz")


def test_tests_are_marked_by_engine() -> None:
    assert engines_of("tests/online/test_sqlite.py::test_x", []) == {"sqlite"}
    assert engines_of("tests/online/test_push.py::test_x[redis]", []) == {"redis"}
    assert engines_of("tests/cli/test_commands.py::test_x", ["bigquery_emulator"]) == {"bigquery"}
    assert engines_of("tests/compile/test_x.py::test_y", []) == {"duckdb", "sqlite"}
