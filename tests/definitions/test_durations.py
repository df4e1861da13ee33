"""Tests for `fsql.definitions.durations`: parse_duration and format_duration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsql.definitions.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2w", timedelta(weeks=2)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("30m", timedelta(minutes=30)),
        ("7D", timedelta(days=7)),  # units are case-insensitive
        (" 12h ", timedelta(hours=12)),
        ("1h 30m", timedelta(hours=1, minutes=30)),  # inner spaces are removed
        ("1 h", timedelta(hours=1)),
        ("1d1d", timedelta(days=2)),  # repeated units add up
        ("0h5m", timedelta(minutes=5)),  # a zero part is fine if the total is positive
    ],
)
def test_valid(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "value",
    [
        "10 days",  # spaces are stripped, but "days" is not a unit
        "7",  # a bare number is ambiguous
        "",
        "d",
        "1.5h",
        "-1d",
        "1y",
        "7d garbage",
        "abc",
        "1h30",
    ],
)
def test_not_a_duration(value: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [7, 7.0, None, True, ["7d"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="write it with a unit"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["0s", "0d", "0h0m"])
def test_zero_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration(value)


def test_huge_duration_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_duration("99999999999w")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=7), "1w"),
        (timedelta(days=14), "2w"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=8, seconds=1), "8d1s"),
        (timedelta(days=3650), "3650d"),
        (timedelta(0), "0s"),
    ],
)
def test_format(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@pytest.mark.parametrize("text", ["7d", "1h30m", "90s", "2w", "1w2d3h4m5s", "100000s", "36h"])
def test_round_trip(text: str) -> None:
    delta = parse_duration(text)
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("text", ["1h30m", "2w", "8d", "59s"])
def test_canonical_text_is_a_fixed_point(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
