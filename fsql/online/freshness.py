"""Freshness of online views: how long since each was last materialized, against its schedule.

A view's age is `now - materialized_at`: how long since the last successful
materialization, the thing a `schedule` promises. Measuring from the newest event
time instead would call a view stale whenever its source is quiet (no orders at
night), which no re-run can fix; that lag is reported beside the age, as
`event_lag`, for information only.

Status, in this order:

- `never`: the view has no run state in the online store (never materialized, or
  its state was dropped when its layout changed). Fails, scheduled or not.
- `redefined`: the online values were made with another definition than the current
  one, and the view has not been fully materialized since. Fails: whatever its age,
  what is served is not what the current definition trains on.
- `unscheduled`: no `schedule:`; reported, never fails.
- `stale`: `age > 2 x schedule` (SPEC: "more than 2x its schedule behind"); fails.
  An age of exactly twice the schedule is still fresh.
- `fresh`: otherwise.

The reading is pure: `check_freshness` takes the store, the views' schedules and
the time to judge at, so tests and alert replays pass their own clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fsql.definitions.durations import format_duration
from fsql.online.base import OnlineStore

FRESH = "fresh"
STALE = "stale"
NEVER = "never"
REDEFINED = "redefined"
UNSCHEDULED = "unscheduled"
STALE_FACTOR = 2  # SPEC §1: "freshness alerts at 2x"


@dataclass(frozen=True)
class FreshnessRow:
    """One online view's freshness at the time it was judged."""

    view: str
    schedule: timedelta | None
    materialized_at: datetime | None
    watermark: datetime | None
    newest_event: datetime | None
    age: timedelta | None  # now - materialized_at
    status: str
    event_lag: timedelta | None = None  # now - newest_event; informational
    # Advice that is not a failure, e.g. an incremental view whose inputs changed since
    # its last build (rows rewritten or deleted there need `fsql run --full-refresh`).
    note: str | None = None

    @property
    def failing(self) -> bool:
        return self.status in (STALE, NEVER, REDEFINED)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values: ISO-8601 UTC times, durations in seconds."""
        return {
            "view": self.view,
            "status": self.status,
            "schedule_seconds": _seconds(self.schedule),
            "materialized_at": _iso(self.materialized_at),
            "watermark": _iso(self.watermark),
            "newest_event": _iso(self.newest_event),
            "age_seconds": _seconds(self.age),
            "event_lag_seconds": _seconds(self.event_lag),
            "note": self.note,
        }


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _status(age: timedelta | None, schedule: timedelta | None, redefined: bool) -> str:
    if age is None:
        return NEVER
    if redefined:
        return REDEFINED
    if schedule is None:
        return UNSCHEDULED
    return STALE if age > STALE_FACTOR * schedule else FRESH


def check_freshness(
    store: OnlineStore,
    views: Sequence[tuple[str, timedelta | None, str]],
    now: datetime | None = None,
) -> list[FreshnessRow]:
    """The freshness of each `(view, schedule, content hash)` at `now` (default: the
    current time). A view whose online values were made with another definition than
    the current one is `redefined` until it is fully materialized again."""
    now = _utc(now) if now is not None else datetime.now(UTC)
    rows = []
    for name, schedule, content_hash in views:
        state = store.get_state(name)
        redefined = state is not None and state.view_hash != content_hash
        done = state.materialized_at if state is not None else None
        newest = state.newest_event if state is not None else None
        age = None if done is None else now - done
        rows.append(
            FreshnessRow(
                view=name,
                schedule=schedule,
                materialized_at=done,
                watermark=state.watermark if state is not None else None,
                newest_event=newest,
                age=age,
                status=_status(age, schedule, redefined),
                event_lag=None if newest is None else now - newest,
            )
        )
    return rows


# --- rendering (the CLI prints these) ----------------------------------------------------


def _iso(moment: datetime | None, timespec: str = "auto") -> str | None:
    if moment is None:
        return None
    return _utc(moment).isoformat(timespec=timespec).replace("+00:00", "Z")


def _when(moment: datetime | None) -> str:
    """A time for the text table: to the second."""
    return _iso(moment, "seconds") or "-"


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def human(delta: timedelta | None) -> str:
    """A duration in its two largest units, to the second: `3h`, `1d2h`, `4m30s`, `-5m`."""
    if delta is None:
        return "-"
    seconds = round(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + ("".join(parts[:2]) or "0s")


def render_text(rows: Sequence[FreshnessRow]) -> str:
    """An aligned table, one line per view."""
    header: tuple[str, ...] = ("VIEW", "STATUS", "SCHEDULE", "AGE", "MATERIALIZED_AT")
    header += ("WATERMARK", "NEWEST_EVENT", "EVENT_LAG")
    lines = [header]
    for r in rows:
        lines.append(
            (
                r.view,
                r.status,
                format_duration(r.schedule) if r.schedule else "-",
                human(r.age),
                _when(r.materialized_at),
                _when(r.watermark),
                _when(r.newest_event),
                human(r.event_lag),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def failure_summary(rows: Sequence[FreshnessRow]) -> str | None:
    """One line naming the failing views, e.g.
    `stale: a (3h behind, schedule 1h); never materialized: b`; None when none fail."""
    stale = [
        f"{r.view} ({human(r.age)} behind, schedule {format_duration(r.schedule)})"
        for r in rows
        if r.status == STALE and r.schedule is not None
    ]
    never = [r.view for r in rows if r.status == NEVER]
    redefined = [r.view for r in rows if r.status == REDEFINED]
    parts = []
    if stale:
        parts.append("stale: " + ", ".join(stale))
    if never:
        parts.append("never materialized: " + ", ".join(never))
    if redefined:
        parts.append(
            "redefined, not yet materialized with the current definition: " + ", ".join(redefined)
        )
    return "; ".join(parts) or None
