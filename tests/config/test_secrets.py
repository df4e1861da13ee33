"""Tests for `fsql.config.secrets`: registration and scrubbing."""

from __future__ import annotations

import pytest

from fsql.config import secrets
from fsql.config.secrets import MASK, is_secret, register_secret, scrub


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry is per process: give each test its own so none leaks into another.
    monkeypatch.setattr(secrets, "_secrets", set())


def test_nothing_registered_leaves_text_alone() -> None:
    assert scrub("password=hunter22") == "password=hunter22"
    assert scrub("") == ""


def test_registered_value_is_masked_everywhere() -> None:
    register_secret("hunter22")
    assert scrub("pw=hunter22; again hunter22") == f"pw={MASK}; again {MASK}"
    assert is_secret("hunter22")


def test_longest_first() -> None:
    # "abcd" is part of "abcdefgh": masking it first would leave "efgh" visible.
    register_secret("abcd")
    register_secret("abcdefgh")
    assert scrub("x abcdefgh y abcd") == f"x {MASK} y {MASK}"
    assert "efgh" not in scrub("abcdefgh")


@pytest.mark.parametrize("value", ["", "a", "ab", "abc"])
def test_trivially_short_values_are_ignored(value: str) -> None:
    register_secret(value)
    assert not is_secret(value)
    assert scrub("abc abcabc") == "abc abcabc"


def test_four_characters_is_enough() -> None:
    register_secret("abcd")
    assert scrub("abcd") == MASK


def test_non_strings_are_ignored() -> None:
    register_secret(12345678)  # type: ignore[arg-type]
    assert scrub("12345678") == "12345678"
