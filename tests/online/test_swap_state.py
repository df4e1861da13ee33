"""`swap_state`: when a rebuilt namespace may replace the live one, and the state it leaves.

Both stores decide a swap by this one function inside their transaction; the races that
need it are played with real processes in test_races.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsql.online.base import Fence, Namespace, ViewState, swap_state
from fsql.online.times import datetime_to_us

NOW = datetime(2026, 6, 1, tzinfo=UTC)
H = timedelta(hours=1)


def state(view_hash: str, watermark: datetime, base: str = "b1") -> ViewState:
    return ViewState("v", watermark, watermark, view_hash, watermark - H, base)


def fence(view_hash: str, started: datetime) -> Fence:
    return Fence(view_hash, datetime_to_us(started) or 0)


def live(view_hash: str, started: datetime) -> Namespace:
    return Namespace("layout", view_hash, datetime_to_us(started) or 0)


def test_the_first_swap_records_the_new_state() -> None:
    new = state("h", NOW, "b2")
    assert swap_state(None, None, fence("h", NOW), new) == new


def test_same_definition_never_swaps_back_to_an_earlier_end() -> None:
    stored = state("h", NOW)
    # A run that started later but materialized an earlier END loses.
    assert swap_state(live("h", NOW), stored, fence("h", NOW + H), state("h", NOW - 20 * H)) is None
    # A run to a later END wins even though it started earlier; times move forward.
    later = state("h", NOW + H, "b2")
    after = swap_state(live("h", NOW + 2 * H), stored, fence("h", NOW - H), later)
    assert after is not None and after.watermark == NOW + H and after.base_version == "b2"
    # Same END: the later-started run wins, the earlier one is refused.
    assert swap_state(live("h", NOW), stored, fence("h", NOW + H), state("h", NOW)) is not None
    assert swap_state(live("h", NOW + H), stored, fence("h", NOW), state("h", NOW)) is None


def test_another_definition_is_replaced_by_a_later_started_run_only() -> None:
    stored = state("old", NOW + 5 * H)
    new = state("new", NOW - 20 * H, "b9")
    # The new definition's state replaces the old one's, even with an earlier watermark.
    assert swap_state(live("old", NOW), stored, fence("new", NOW + H), new) == new
    # A newer definition (its run started later) is never replaced by an older run.
    assert swap_state(live("old", NOW + 2 * H), stored, fence("new", NOW + H), new) is None
