"""Times as users give them, one parser for the CLI and the API (fsql.definitions.moments)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from fsql.definitions.moments import moment
from fsql.errors import ProjectError

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T08:30:00", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        ("2026-12-01T08:30:00Z", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        ("2026-12-01T10:30:00+02:00", datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        (" now ", NOW),
        ("NOW", NOW),
        (datetime(2026, 12, 1, 8, 30), datetime(2026, 12, 1, 8, 30, tzinfo=UTC)),
        (
            datetime(2026, 12, 1, 10, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 12, 1, 8, tzinfo=UTC),
        ),
        (date(2026, 12, 1), datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_accepted_forms(given: object, expected: datetime) -> None:
    assert moment(given, "END", now=NOW) == expected


@pytest.mark.parametrize("given", ["yesterday", "", "12/01/2026", 1733000000, None])
def test_anything_else_is_one_clear_error(given: object) -> None:
    with pytest.raises(ProjectError) as caught:
        moment(given, "END")
    assert caught.value.render().startswith(f"END {given!r} is not a timestamp")
    assert "ISO-8601" in caught.value.render()
