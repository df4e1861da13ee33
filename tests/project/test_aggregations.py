"""`aggregations:` and `aggregation_interval:` as the parser reads them: the features they
define, and one clear line (file, view, entry) for each mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fsql.definitions.types import FeatureType
from fsql.project.load import load_project
from tests.support.project_files import SRC, errors_of, make, one_error, view

SQL = f"select user_id, event_timestamp, amount, status from {SRC}\n"


def windowed(tmp_path: Path, aggregations: Any, sql: str = SQL, **meta: Any) -> Path:
    files = view("w", sql, aggregations=aggregations, **meta)
    text = files["models/w.yml"].replace("  features:\n  - name: f\n    type: int64\n", "")
    return make(tmp_path, {**files, "models/w.yml": text})


def test_features_are_named_and_typed_from_their_entries(tmp_path: Path) -> None:
    root = windowed(
        tmp_path,
        [
            {"column": "amount", "function": "sum", "windows": ["1h", "30d"]},
            {"function": "count", "windows": ["5m"]},
            {"column": "amount", "function": "avg", "windows": ["7d"], "name": "avg_spend_7d"},
            {"column": "status", "function": "last", "windows": ["1d"], "type": "string"},
            {"column": "amount", "function": "count_distinct", "windows": ["1d"]},
        ],
        aggregation_interval="1h",
    )
    w = load_project(root).views["w"]
    assert [(f.name, f.type) for f in w.features] == [
        ("amount_sum_1h", FeatureType.FLOAT64),
        ("amount_sum_30d", FeatureType.FLOAT64),
        ("count_5m", FeatureType.INT64),
        ("avg_spend_7d", FeatureType.FLOAT64),
        ("status_last_1d", FeatureType.STRING),
        ("amount_count_distinct_1d", FeatureType.INT64),
    ]
    assert [a.window for a in w.aggregations][:2] == [timedelta(hours=1), timedelta(days=30)]
    assert w.aggregation_interval == timedelta(hours=1)
    assert w.row_columns == ("amount", "status")  # what the table keeps of the model
    assert w.metadata()["aggregations"][0] == {
        "name": "amount_sum_1h",
        "function": "sum",
        "column": "amount",
        "window": "1h",
        "type": "float64",
    }


CASES = [
    ([{"function": "median", "column": "amount", "windows": ["1d"]}], "unknown function 'median'"),
    ([{"function": "sum", "windows": ["1d"]}], "sum needs column:"),
    ([{"function": "sum", "column": "amount"}], "needs windows: [...]"),
    ([{"function": "sum", "column": "amount", "windows": ["7"]}], "window '7' is not a duration"),
    ([{"function": "count", "windows": ["1d"], "type": "float64"}], "count is always int64"),
    (
        [{"function": "sum", "column": "status", "windows": ["1d"], "type": "string"}],
        "a sum is a number",
    ),
    (
        [{"function": "sum", "column": "amount", "windows": ["1h", "1d"], "name": "spend"}],
        "name 'spend' given for 2 windows",
    ),
    (
        [
            {"function": "count", "windows": ["1d"]},
            {"function": "count", "windows": ["1d"]},
        ],
        "names feature 'count_1d' twice",
    ),
    (
        [{"function": "sum", "column": "amount", "windows": ["1d"], "name": "user_id"}],
        "names feature 'user_id' twice, or a key or timestamp column",
    ),
    (
        [{"function": "sum", "column": "amount", "windows": ["1d"], "every": 1}],
        "unknown key 'every'",
    ),
    ([], "aggregations must be a list of entries"),
    (["sum"], "aggregation 1 must be a mapping"),
]


@pytest.mark.parametrize(("aggregations", "text"), CASES)
def test_mistakes_are_one_line_each(tmp_path: Path, aggregations: Any, text: str) -> None:
    err = one_error(windowed(tmp_path, aggregations), text, "models/w.yml")
    assert "feature view 'w'" in err.message
    assert "\n" not in err.render()


def test_a_column_the_model_does_not_output(tmp_path: Path) -> None:
    aggregations = [{"function": "max", "column": "price", "windows": ["1d"]}]
    err = one_error(
        windowed(tmp_path, aggregations), "does not output column 'price'", "models/w.sql"
    )
    assert err.hint and "models/w.yml" in err.hint


def test_windows_fit_the_ttl(tmp_path: Path) -> None:
    aggregations = [{"function": "count", "windows": ["1d", "2d", "3d"]}]
    messages = [e.message for e in errors_of(windowed(tmp_path, aggregations, ttl="1d"))]
    assert [m for m in messages if "longer than the view's ttl 1d" in m] == [
        "feature view 'w': aggregation 1: window 2d is longer than the view's ttl 1d",
        "feature view 'w': aggregation 1: window 3d is longer than the view's ttl 1d",
    ]


def test_what_a_view_with_aggregations_cannot_also_say(tmp_path: Path) -> None:
    both = view("w", SQL, aggregations=[{"function": "count", "windows": ["1d"]}])
    one_error(make(tmp_path / "a", both), "has both features: and aggregations:", "models/w.yml")
    alone = make(tmp_path / "b", view("w", aggregation_interval="1h"))
    one_error(alone, "aggregation_interval without aggregations", "models/w.yml")
    online = windowed(tmp_path / "c", [{"function": "count", "windows": ["1d"]}], online=True)
    assert load_project(online).views["w"].online  # served online, rows kept per key
