"""Tests for `fsql.definitions.models`: FeatureRef parsing and content hashing."""

from __future__ import annotations

import pytest

from fsql.definitions.models import FeatureRef, content_hash


@pytest.mark.parametrize(
    ("text", "view", "feature"),
    [
        ("user_features:purchase_count", "user_features", "purchase_count"),
        ("  user_features : purchase_count  ", "user_features", "purchase_count"),
        ("item_features", "item_features", None),
        (" item_features ", "item_features", None),
    ],
)
def test_parse(text: str, view: str, feature: str | None) -> None:
    ref = FeatureRef.parse(text)
    assert (ref.view, ref.feature) == (view, feature)


@pytest.mark.parametrize("text", ["v:f", "v"])
def test_str_round_trip(text: str) -> None:
    assert str(FeatureRef.parse(text)) == text
    assert FeatureRef.parse(str(FeatureRef.parse(text))) == FeatureRef.parse(text)


@pytest.mark.parametrize("text", [":f", "v:", ":", "a:b:c", " : "])
def test_parse_bad_colon_forms(text: str) -> None:
    with pytest.raises(ValueError, match="not a feature reference"):
        FeatureRef.parse(text)


@pytest.mark.parametrize("text", ["", "   "])
def test_parse_empty(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        FeatureRef.parse(text)


def test_refs_are_hashable_values() -> None:
    assert FeatureRef.parse("v:f") == FeatureRef("v", "f")
    assert len({FeatureRef.parse("v:f"), FeatureRef("v", "f"), FeatureRef("v")}) == 2


META = {"name": "v", "ttl": "1w", "features": [{"name": "f", "type": "int64"}]}


def test_content_hash_is_stable() -> None:
    first = content_hash("SELECT 1 AS a", META)
    assert first == content_hash("SELECT 1 AS a", dict(META))
    assert len(first) == 64
    int(first, 16)  # hex


def test_content_hash_ignores_key_order() -> None:
    reordered = dict(reversed(list(META.items())))
    assert content_hash("SELECT 1", META) == content_hash("SELECT 1", reordered)


def test_content_hash_changes_with_sql() -> None:
    assert content_hash("SELECT 1 AS a", META) != content_hash("SELECT 2 AS a", META)


@pytest.mark.parametrize(
    "change",
    [
        {"ttl": "2w"},
        {"name": "w"},
        {"features": [{"name": "f", "type": "float64"}]},
        {"online": True},
    ],
)
def test_content_hash_changes_with_metadata(change: dict) -> None:
    assert content_hash("SELECT 1", META) != content_hash("SELECT 1", {**META, **change})


def test_sql_and_metadata_do_not_collide() -> None:
    # The two parts are hashed as separate JSON fields, never concatenated.
    assert content_hash("ab", {"x": "c"}) != content_hash("a", {"x": "bc"})
