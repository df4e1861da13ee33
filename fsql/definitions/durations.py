"""Duration strings such as `7d`, `1h30m` or `90s`, used by ttl, schedule and lookback."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_WHOLE = re.compile(r"^(?:\d+[smhdw])+$")
_MAX_SECONDS = 1000 * 366 * 86400  # beyond this, datetime arithmetic overflows
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(value: object) -> timedelta:
    """Parse a duration; raise ValueError with a readable reason when it is not one.

    Only strings with explicit units are accepted: a bare number is ambiguous
    (seconds? days?) and is the commonest way a TTL ends up a thousand times off.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; write it with a unit, e.g. 7d, 12h, 30m")
    text = value.strip().lower().replace(" ", "")
    if not _WHOLE.match(text):
        raise ValueError(
            f"{value!r} is not a duration; use a number and a unit (s, m, h, d, w), "
            "e.g. 7d or 1h30m"
        )
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
    if seconds > _MAX_SECONDS:
        raise ValueError(f"{value!r} is longer than 1000 years")
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Render a timedelta back as a duration string (for manifests and logs).

    Weeks only for whole weeks up to a year (`2w`); otherwise days and smaller units,
    so `3650d` stays `3650d` rather than becoming `521w3d`.
    """
    seconds = int(delta.total_seconds())
    if seconds and seconds % _UNITS["w"] == 0 and seconds <= 52 * _UNITS["w"]:
        return f"{seconds // _UNITS['w']}w"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
