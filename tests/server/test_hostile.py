"""Hostile and malformed requests: whatever the body, `fsql serve` answers 200 or a 4xx
with a JSON `detail`, never a 500, and keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import copy_example
from tests.support.feature_server import Server, run_project, start, stop

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
REFS = [
    "item_features:item_category",
    "user_features:user_lifetime_value",
    "user_orders:user_30d_purchase_count",
    "cart_share_of_ltv",
    "item_features",
    "nope:x",
    ":",
    "",
    "a:b:c",
]
KEYS = ["user_id", "item_id", "cart_amount", "", "__fsql_row", "x" * 300]


@st.composite
def online_bodies(draw: st.DrawFn) -> Any:
    body: dict[str, Any] = {}
    if draw(st.booleans()):
        body["features"] = draw(st.lists(st.sampled_from(REFS) | st.text(max_size=10), max_size=4))
    if draw(st.booleans()):
        body["feature_service"] = draw(
            st.sampled_from(["churn_model", "checkout_model", "x"]) | json_values
        )
    rows = draw(st.integers(0, 3))
    body["entities"] = draw(
        st.dictionaries(
            st.sampled_from(KEYS),
            st.lists(json_values, min_size=rows, max_size=rows),
            max_size=3,
        )
        | json_values
    )
    if draw(st.booleans()):
        body["full_feature_names"] = draw(json_values)
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = copy_example(tmp_path_factory.mktemp("hostile") / "shop")
    run_project(project)
    running = start(project)
    try:
        yield running
    finally:
        stop(running)


def _check(status: int, doc: Any) -> None:
    assert status in (200, 400, 404, 405, 413), (status, doc)
    if status != 200:
        assert isinstance(doc, dict) and isinstance(doc.get("detail"), str), doc


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=online_bodies() | json_values)
def test_any_online_request_gets_200_or_a_4xx(server: Server, body: Any) -> None:
    status, doc, _ = server.call("POST", "/get-online-features", json.dumps(body).encode())
    _check(status, doc)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    view=st.sampled_from(["user_cart", "user_features", "item_features", "nope"]) | json_values,
    df=st.dictionaries(
        st.sampled_from(["user_id", "event_timestamp", "quantity", "item_id", "created_timestamp"]),
        st.lists(json_values, min_size=1, max_size=2),
        max_size=4,
    )
    | json_values,
    to=st.sampled_from(["online", "offline", "online_and_offline"]) | json_values,
)
def test_any_push_gets_200_or_a_4xx(server: Server, view: Any, df: Any, to: Any) -> None:
    body = {"push_source_name": view, "df": df, "to": to}
    status, doc, _ = server.call("POST", "/push", json.dumps(body).encode())
    _check(status, doc)


ONE_FEATURE = b'{"features": ["item_features:item_category"], "entities": '


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nested past any recursion limit
        b'{"features": ["item_features:item_category"], "entities": {"item_id": ['
        + b"1," * 200_000
        + b"1]}}",
        ONE_FEATURE + b'{"item_id": ["\\u0000\\ud800"]}}',  # NUL, a lone surrogate
        b"\xff\xfe\x00",
        b'{"features": ["item_features:item_category"], "entities": {"item_id": [1e999]}}',
    ],
)
def test_pathological_bodies(server: Server, raw: bytes) -> None:
    status, doc, _ = server.call("POST", "/get-online-features", raw)
    _check(status, doc)
    # Still serving.
    ok = server.read({"features": ["item_features:item_category"], "entities": {"item_id": [1003]}})
    assert ok["results"][1]["values"] == ["books"]
