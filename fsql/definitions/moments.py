"""Moments in time as users give them: the one parser for the CLI and the Python API.

A time is a datetime (naive = UTC), an ISO-8601 string (`2026-01-31`, `2026-01-31T08:00`,
`...Z`, `...+02:00`; no offset = UTC) or `now`. Anything else is one clear error naming
what was being given (START, END, --now, ...), never an AttributeError deep inside.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fsql.errors import ProjectError


def moment(value: Any, what: str, now: datetime | None = None) -> datetime:
    """`value` as an aware UTC datetime; `now` (default: the current time) for "now"."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return moment(value.to_pydatetime(), what, now)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "now":
            return now or datetime.now(UTC)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return moment(parsed, what, now)
    raise ProjectError(
        f"{what} {value!r} is not a timestamp",
        hint="use ISO-8601, e.g. 2026-01-31T00:00:00 (UTC when no offset), or now",
    )
