"""The skew statistics of fsql.monitor.skew: scipy's tests, on the non-NULL values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency, ks_2samp

from fsql.definitions.types import FeatureType as T
from fsql.monitor.skew import SkewReport, compare_feature, render_text

values = st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=0, max_size=60)


def _ecdf_distance(a: list[float], b: list[float]) -> float:
    """The KS statistic by brute force: the largest gap between the two ECDFs."""
    points = sorted(set(a) | set(b))
    return max(
        abs(sum(x <= p for x in a) / len(a) - sum(x <= p for x in b) / len(b)) for p in points
    )


@settings(max_examples=200, deadline=None)
@given(values, values)
def test_ks_is_scipys_on_the_present_values(
    training: list[int | None], serving: list[int | None]
) -> None:
    got = compare_feature("f", T.INT64, training, serving)
    train = [float(v) for v in training if v is not None]
    serve = [float(v) for v in serving if v is not None]
    assert got.training_null_rate == (None if not training else 1 - len(train) / len(training))
    if len(train) < 2 or len(serve) < 2:
        assert got.test is None and not got.flagged
        return
    want = ks_2samp(train, serve)
    assert got.test == "ks"
    assert got.statistic == pytest.approx(float(want.statistic), abs=0)
    assert got.p_value == float(want.pvalue)
    assert got.statistic == pytest.approx(_ecdf_distance(train, serve), abs=1e-12)
    assert got.flagged == (got.p_value < 0.01)


def test_nan_counts_as_null_and_an_identical_sample_is_not_flagged() -> None:
    data = [1.0, 2.0, math.nan, 3.0, None]
    got = compare_feature("f", T.FLOAT64, data, list(data))
    assert got.training_null_rate == pytest.approx(0.4)
    assert (got.statistic, got.p_value, got.flagged) == (0.0, 1.0, False)
    assert got.psi == pytest.approx(0.0, abs=1e-12)


def test_a_scaled_feature_is_flagged() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(10, 2, 2000).tolist()
    got = compare_feature("f", T.FLOAT64, base, [v * 1.5 for v in base])
    assert got.flagged and got.p_value < 1e-10 and got.psi > 0.25


def test_categories_get_scipys_chi_square() -> None:
    training = ["a"] * 50 + ["b"] * 30 + ["c"] * 20 + [None] * 5
    serving = ["a"] * 20 + ["b"] * 30 + ["c"] * 50
    got = compare_feature("f", T.STRING, training, serving)
    want = chi2_contingency(np.array([[50, 30, 20], [20, 30, 50]]))
    assert got.test == "chi2"
    assert got.statistic == float(want.statistic) and got.p_value == float(want.pvalue)
    assert got.flagged
    assert got.bins == ["a", "b", "c"] and got.training_shares == [0.5, 0.3, 0.2]
    same = compare_feature("f", T.BOOL, [True, False] * 10, [True, False] * 10)
    assert same.p_value == 1.0 and not same.flagged


def test_other_types_report_null_rates_only() -> None:
    got = compare_feature("f", T.TIMESTAMP, [None, 1], [1, 1])
    assert got.test is None and got.note == "timestamp: NULL rates only"
    assert (got.training_null_rate, got.serving_null_rate) == (0.5, 0.0)


def test_text_table_names_flagged_features() -> None:
    report = SkewReport(
        "s",
        "t.parquet",
        None,
        None,
        0.01,
        [
            compare_feature("ok", T.INT64, [1, 2, 3] * 30, [1, 2, 3] * 30),
            compare_feature("moved", T.INT64, [1, 2, 3] * 30, [7, 8, 9] * 30),
        ],
    )
    lines = render_text(report).splitlines()
    assert lines[0].split()[:3] == ["FEATURE", "TEST", "STATISTIC"]
    assert lines[1].startswith("ok") and not lines[1].endswith("SKEW")
    assert lines[2].startswith("moved") and lines[2].endswith("SKEW")
    assert [f.feature for f in report.flagged] == ["moved"]
