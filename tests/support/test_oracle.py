"""Self-tests of the point-in-time oracle on hand-made cases, one per rule of SPEC §2."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.support.oracle import (
    AmbiguousChoice,
    OracleView,
    assert_columns_equal,
    assert_rows_equal,
    is_null,
    latest_oracle,
    online_oracle,
    pit_oracle,
    to_utc,
    values_equal,
)

T0 = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
S = timedelta(seconds=1)


def view(
    rows: list[dict],
    *,
    ttl: timedelta | None = None,
    created: str | None = None,
    keys: tuple[str, ...] = ("user_id",),
    name: str = "v",
) -> OracleView:
    return OracleView(name=name, join_keys=keys, rows=rows, ttl=ttl, created_col=created)


def one(entity: dict, v: OracleView, feats: list[str]) -> list:
    out = pit_oracle([entity], [v], [(v.name, f) for f in feats])
    return [out[0][f] for f in feats]


class TestWindow:
    def test_ttl_lower_bound_inclusive(self) -> None:
        v = view([{"user_id": 1, "event_timestamp": T0 - H, "x": 7}], ttl=H)
        assert one({"user_id": 1, "event_timestamp": T0}, v, ["x"]) == [7]
        assert one({"user_id": 1, "event_timestamp": T0 + S}, v, ["x"]) == [None]

    def test_upper_bound_inclusive_future_rows_ignored(self) -> None:
        v = view([{"user_id": 1, "event_timestamp": T0, "x": 7}], ttl=H)
        assert one({"user_id": 1, "event_timestamp": T0}, v, ["x"]) == [7]
        assert one({"user_id": 1, "event_timestamp": T0 - S}, v, ["x"]) == [None]

    def test_no_ttl_means_no_lower_bound(self) -> None:
        v = view([{"user_id": 1, "event_timestamp": T0 - timedelta(days=4000), "x": 7}])
        assert one({"user_id": 1, "event_timestamp": T0}, v, ["x"]) == [7]

    def test_latest_in_window_wins(self) -> None:
        v = view(
            [
                {"user_id": 1, "event_timestamp": T0 - 3 * H, "x": 1},
                {"user_id": 1, "event_timestamp": T0 - H, "x": 3},
                {"user_id": 1, "event_timestamp": T0 - 2 * H, "x": 2},
                {"user_id": 1, "event_timestamp": T0 + H, "x": 4},
            ]
        )
        assert one({"user_id": 1, "event_timestamp": T0}, v, ["x"]) == [3]
        assert one({"user_id": 1, "event_timestamp": T0 - 2 * H}, v, ["x"]) == [2]


class TestTies:
    def test_created_breaks_tie(self) -> None:
        rows = [
            {"user_id": 1, "event_timestamp": T0, "created": T0 + 2 * H, "x": 2},
            {"user_id": 1, "event_timestamp": T0, "created": T0 + H, "x": 1},
            {"user_id": 1, "event_timestamp": T0, "created": T0 + 3 * H, "x": 3},
        ]
        v = view(rows, created="created")
        assert one({"user_id": 1, "event_timestamp": T0}, v, ["x"]) == [3]

    def test_null_created_sorts_lowest(self) -> None:
        rows = [
            {"user_id": 1, "event_timestamp": T0, "created": None, "x": 0},
            {"user_id": 1, "event_timestamp": T0, "created": T0 - 100 * H, "x": 1},
        ]
        v = view(rows, created="created")
        assert one({"user_id": 1, "event_timestamp": T0}, v, ["x"]) == [1]

    def test_event_ts_beats_created(self) -> None:
        rows = [
            {"user_id": 1, "event_timestamp": T0 - 2 * H, "created": T0 + 9 * H, "x": 1},
            {"user_id": 1, "event_timestamp": T0 - H, "created": T0 - 5 * H, "x": 2},
        ]
        v = view(rows, created="created")
        assert one({"user_id": 1, "event_timestamp": T0}, v, ["x"]) == [2]

    def test_ambiguous_tie_raises(self) -> None:
        rows = [
            {"user_id": 1, "event_timestamp": T0, "x": 1},
            {"user_id": 1, "event_timestamp": T0, "x": 2},
        ]
        with pytest.raises(AmbiguousChoice):
            one({"user_id": 1, "event_timestamp": T0}, view(rows), ["x"])

    def test_identical_tied_rows_are_not_ambiguous(self) -> None:
        rows = [{"user_id": 1, "event_timestamp": T0, "x": 1}] * 2
        assert one({"user_id": 1, "event_timestamp": T0}, view(rows), ["x"]) == [1]

    def test_tie_only_ambiguous_in_requested_features(self) -> None:
        rows = [
            {"user_id": 1, "event_timestamp": T0, "x": 1, "y": 1},
            {"user_id": 1, "event_timestamp": T0, "x": 1, "y": 2},
        ]
        assert one({"user_id": 1, "event_timestamp": T0}, view(rows), ["x"]) == [1]


class TestNulls:
    def test_null_in_chosen_row_stays_null(self) -> None:
        rows = [
            {"user_id": 1, "event_timestamp": T0 - 2 * H, "x": 5, "y": "a"},
            {"user_id": 1, "event_timestamp": T0 - H, "x": None, "y": "b"},
        ]
        assert one({"user_id": 1, "event_timestamp": T0}, view(rows), ["x", "y"]) == [None, "b"]

    def test_no_candidate_gives_null(self) -> None:
        rows = [{"user_id": 1, "event_timestamp": T0, "x": 5, "y": "a"}]
        assert one({"user_id": 2, "event_timestamp": T0}, view(rows), ["x", "y"]) == [None, None]
        assert one({"user_id": 1, "event_timestamp": T0 - S}, view(rows), ["x", "y"]) == [
            None,
            None,
        ]

    @pytest.mark.parametrize("null", [None, float("nan")])
    def test_null_entity_key_never_matches(self, null: object) -> None:
        rows = [
            {"user_id": None, "event_timestamp": T0, "x": 99},
            {"user_id": 1, "event_timestamp": T0, "x": 5},
        ]
        assert one({"user_id": null, "event_timestamp": T0}, view(rows), ["x"]) == [None]

    def test_composite_key_with_one_null_part(self) -> None:
        rows = [{"u": 1, "i": "a", "event_timestamp": T0, "x": 5}]
        v = view(rows, keys=("u", "i"))
        assert one({"u": 1, "i": "a", "event_timestamp": T0}, v, ["x"]) == [5]
        assert one({"u": 1, "i": None, "event_timestamp": T0}, v, ["x"]) == [None]
        assert one({"u": 1, "i": "b", "event_timestamp": T0}, v, ["x"]) == [None]


class TestTimezones:
    def test_naive_is_utc(self) -> None:
        rows = [{"user_id": 1, "event_timestamp": T0.replace(tzinfo=None), "x": 5}]
        v = view(rows)
        assert one({"user_id": 1, "event_timestamp": T0}, v, ["x"]) == [5]
        naive = (T0 - S).replace(tzinfo=None)
        assert one({"user_id": 1, "event_timestamp": naive}, v, ["x"]) == [None]

    def test_offset_timestamps_convert(self) -> None:
        plus2 = timezone(timedelta(hours=2))
        rows = [{"user_id": 1, "event_timestamp": T0, "x": 5}]
        v = view(rows)
        at = datetime(2024, 1, 10, 14, 0, tzinfo=plus2)  # == T0
        assert one({"user_id": 1, "event_timestamp": at}, v, ["x"]) == [5]
        assert one({"user_id": 1, "event_timestamp": at - S}, v, ["x"]) == [None]

    def test_to_utc(self) -> None:
        assert to_utc(None) is None
        assert to_utc(datetime(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=UTC)
        pd = pytest.importorskip("pandas")
        assert to_utc(pd.Timestamp("2024-01-01 02:00", tz="Europe/Paris")) == datetime(
            2024, 1, 1, 1, tzinfo=UTC
        )
        assert to_utc(pd.NaT) is None


class TestOutputShape:
    def test_entity_columns_kept_then_features_in_requested_order(self) -> None:
        a = view([{"user_id": 1, "event_timestamp": T0, "x": 1, "y": 2}], name="a")
        b = view([{"user_id": 1, "event_timestamp": T0, "z": 3}], name="b")
        entity = {"label": True, "event_timestamp": T0, "user_id": 1}
        out = pit_oracle([entity], [a, b], [("a", "y"), ("b", "z"), ("a", "x")])
        assert list(out[0]) == ["label", "event_timestamp", "user_id", "y", "z", "x"]
        assert out[0] == {**entity, "y": 2, "z": 3, "x": 1}

    def test_order_and_duplicates_kept(self) -> None:
        rows = [
            {"user_id": 1, "event_timestamp": T0 - H, "x": 1},
            {"user_id": 1, "event_timestamp": T0 + H, "x": 2},
        ]
        ents = [
            {"user_id": 1, "event_timestamp": T0 + 2 * H, "n": 0},
            {"user_id": 1, "event_timestamp": T0, "n": 1},
            {"user_id": 1, "event_timestamp": T0, "n": 2},
        ]
        out = pit_oracle(ents, [view(rows)], [("v", "x")])
        assert [(r["n"], r["x"]) for r in out] == [(0, 2), (1, 1), (2, 1)]

    def test_full_feature_names(self) -> None:
        a = view([{"user_id": 1, "event_timestamp": T0, "x": 1}], name="a")
        b = view([{"user_id": 1, "event_timestamp": T0, "x": 2}], name="b")
        entity = {"user_id": 1, "event_timestamp": T0}
        out = pit_oracle([entity], [a, b], [("a", "x"), ("b", "x")], full_feature_names=True)
        assert out == [{**entity, "a__x": 1, "b__x": 2}]
        with pytest.raises(ValueError, match="x"):
            pit_oracle([entity], [a, b], [("a", "x"), ("b", "x")])


class TestLatest:
    def test_latest_per_key(self) -> None:
        rows = [
            {"user_id": 1, "event_timestamp": T0 - 10 * 24 * H, "x": 1},
            {"user_id": 1, "event_timestamp": T0 - 2 * 24 * H, "x": 2},
            {"user_id": 1, "event_timestamp": T0 - H, "x": 3},
            {"user_id": 2, "event_timestamp": T0 - 10 * 24 * H, "x": 4},
            {"user_id": 3, "event_timestamp": T0 + H, "x": 5},
            {"user_id": None, "event_timestamp": T0 - H, "x": 6},
        ]
        v = OracleView("v", ("user_id",), rows, ttl=timedelta(days=7), features=("x",))
        got = latest_oracle(v, T0)
        assert set(got) == {(1,), (2,), (3,)}
        assert got[(1,)] is not None and got[(1,)]["x"] == 3
        assert got[(2,)] is None
        assert got[(3,)] is None

    def test_online_oracle_columns(self) -> None:
        rows = [{"user_id": 1, "event_timestamp": T0 - H, "x": 3, "y": "a"}]
        v = OracleView("v", ("user_id",), rows, ttl=timedelta(days=7))
        got = online_oracle([{"user_id": 1}, {"user_id": 9}], [v], [("v", "y"), ("v", "x")], T0)
        assert got == {"user_id": [1, 9], "y": ["a", None], "x": [3, None]}


class TestValueComparison:
    def test_nulls(self) -> None:
        pd = pytest.importorskip("pandas")
        for a in (None, float("nan"), pd.NA, pd.NaT):
            assert is_null(a)
            for b in (None, float("nan"), pd.NA, pd.NaT):
                assert values_equal(a, b)
            assert not values_equal(a, 0)
            assert not values_equal(0, a)
        assert not is_null(0)
        assert not is_null("")

    def test_numbers_and_types(self) -> None:
        np = pytest.importorskip("numpy")
        assert values_equal(np.int64(3), 3)
        assert values_equal(3.0, 3)
        assert values_equal(np.float32(0.1), 0.1)
        assert not values_equal(0.1, 0.2)
        assert not values_equal(True, 1)
        assert values_equal(np.bool_(True), True)
        assert not values_equal("1", 1)
        assert not values_equal(math.inf, 1.0)

    def test_datetimes_compare_as_instants(self) -> None:
        plus2 = timezone(timedelta(hours=2))
        assert values_equal(datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 14, tzinfo=plus2))
        assert not values_equal(datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 12, tzinfo=plus2))

    def test_assert_helpers(self) -> None:
        assert_rows_equal([{"a": 1, "b": None}], [{"a": 1.0, "b": float("nan")}])
        with pytest.raises(AssertionError, match="columns"):
            assert_rows_equal([{"b": 1, "a": 1}], [{"a": 1, "b": 1}])
        with pytest.raises(AssertionError, match="a: 2"):
            assert_rows_equal([{"a": 2}], [{"a": 1}])
        assert_columns_equal({"k": [1], "x": [None]}, {"k": [1], "x": [float("nan")]})
        with pytest.raises(AssertionError):
            assert_columns_equal({"x": [1], "k": [1]}, {"k": [1], "x": [1]})
