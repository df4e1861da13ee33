"""Feast's JSON shapes as fsql.server.protocol reads and writes them."""

from __future__ import annotations

import json

import pytest

from fsql.online.serving import NOT_FOUND, PRESENT, OnlineResponse, Statuses
from fsql.server.protocol import (
    BadRequest,
    materialize_request,
    online_request,
    online_response,
    push_request,
    rfc3339,
)


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_767_225_600_000_000, "2026-01-01T00:00:00Z"),
        (1_767_225_600_123_000, "2026-01-01T00:00:00.123Z"),
        (1_767_225_600_123_456, "2026-01-01T00:00:00.123456Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
    ],
)
def test_event_times_are_rfc3339_in_utc(micros: int, text: str) -> None:
    assert rfc3339(micros) == text


def test_the_response_is_by_column_with_json_types() -> None:
    columns = {"user_id": [1, 2], "score": [1.0, float("nan")], "name": ["a", None]}
    statuses = Statuses(
        {"user_id": [PRESENT] * 2, "score": [PRESENT, PRESENT], "name": [PRESENT, NOT_FOUND]},
        {"user_id": [0, 0], "score": [1_000_000, 2_000_000], "name": [1_000_000, 0]},
    )
    body = online_response(OnlineResponse(columns, statuses))
    assert b'"values":[1.0,null]' in body  # a float keeps its point; NaN has no JSON form
    doc = json.loads(body)
    assert doc["metadata"] == {"feature_names": ["user_id", "score", "name"]}
    assert doc["results"][2] == {
        "values": ["a", None],
        "statuses": ["PRESENT", "NOT_FOUND"],
        "event_timestamps": ["1970-01-01T00:00:01Z", "1970-01-01T00:00:00Z"],
    }


def test_an_online_request_becomes_entity_rows() -> None:
    ask = online_request(
        b'{"features": ["v:f"], "entities": {"id": [1, 2], "k": ["a", "b"]},'
        b' "full_feature_names": true}'
    )
    assert ask.entity_rows == [{"id": 1, "k": "a"}, {"id": 2, "k": "b"}]
    assert (ask.features, ask.feature_service, ask.full_feature_names) == (["v:f"], None, True)
    # A service wins over a feature list, as in Feast.
    both = online_request(b'{"features": ["v:f"], "feature_service": "s", "entities": {"id": [1]}}')
    assert (both.features, both.feature_service) == (None, "s")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"features": "v:f", "entities": {"id": [1]}}', "list of strings"),
        (b'{"features": ["v:f"]}', "object of columns"),
        (b'{"features": ["v:f"], "entities": {"id": 1}}', "'entities.id' must be a list"),
        (b'{"features": ["v:f"], "entities": {"id": []}}', "no rows"),
        (
            b'{"features": ["v:f"], "entities": {"id": [1]}, "full_feature_names": 1}',
            "true or false",
        ),
    ],
)
def test_bad_online_requests(body: bytes, needle: str) -> None:
    with pytest.raises(BadRequest, match=needle) as caught:
        online_request(body)
    assert caught.value.status == 400


def test_push_and_materialize_bodies() -> None:
    push = push_request(b'{"push_source_name": "v", "df": {"id": [1], "x": [2.5]}}')
    assert (push.view, push.columns, push.to) == ("v", {"id": [1], "x": [2.5]}, "online")
    with pytest.raises(BadRequest, match="one of online"):
        push_request(b'{"push_source_name": "v", "df": {"id": [1]}, "to": "elsewhere"}')
    full = materialize_request(b'{"start_ts": "a", "end_ts": "b", "feature_views": ["v"]}', False)
    assert (full.start, full.end, full.views) == ("a", "b", ["v"])
    assert materialize_request(b'{"end_ts": "b"}', True).start is None
