"""Training/serving skew: each feature's distribution in a training set against the values
a service served (its feature log), feature by feature.

Numeric features (int32, int64, float32, float64) get the two-sample Kolmogorov-Smirnov
test, by scipy.stats.ks_2samp itself (so statistic and p-value are scipy's), and the
population stability index over ten bins at the training set's deciles. Categorical
features (string, bool) get the PSI over their categories and a chi-square test of the
2 x k table of counts (scipy.stats.chi2_contingency). Every feature gets its NULL rate on
both sides; NULLs (and NaN) are left out of the tests. A feature is flagged when its
p-value is below the threshold. Other types (times, bytes, lists) report NULL rates only.

Both sides are bounded samples (the store draws them: fsql.store.FeatureStore.skew), so
the cost does not grow with the log; the statistics are exact for the samples.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fsql.defaults import SKEW_THRESHOLD
from fsql.definitions.types import FeatureType

NUMERIC = {FeatureType.INT32, FeatureType.INT64, FeatureType.FLOAT32, FeatureType.FLOAT64}
CATEGORICAL = {FeatureType.STRING, FeatureType.BOOL}
PSI_BINS = 10
# PSI's logarithm needs no empty bin: a share of 0 counts as this much.
_PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class FeatureSkew:
    """One feature's comparison. `test` is `ks`, `chi2` or None (not tested)."""

    feature: str
    type: FeatureType
    training_rows: int
    serving_rows: int
    training_null_rate: float | None
    serving_null_rate: float | None
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    psi: float | None = None
    flagged: bool = False
    note: str | None = None
    # What the report draws: histogram bin labels and each side's shares.
    bins: list[str] = field(default_factory=list)
    training_shares: list[float] = field(default_factory=list)
    serving_shares: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "type": self.type.value,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "psi": self.psi,
            "flagged": self.flagged,
            "training_rows": self.training_rows,
            "serving_rows": self.serving_rows,
            "training_null_rate": self.training_null_rate,
            "serving_null_rate": self.serving_null_rate,
            "note": self.note,
        }


def _present(values: Sequence[Any]) -> list[Any]:
    return [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _null_rate(values: Sequence[Any], present: int) -> float | None:
    return None if not values else 1 - present / len(values)


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(expected, _PSI_FLOOR)
    a = np.maximum(actual, _PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def compare_feature(
    feature: str,
    ftype: FeatureType,
    training: Sequence[Any],
    serving: Sequence[Any],
    threshold: float = SKEW_THRESHOLD,
) -> FeatureSkew:
    """The comparison of one feature's training and serving values."""
    train, serve = _present(training), _present(serving)
    base: dict[str, Any] = {
        "feature": feature,
        "type": ftype,
        "training_rows": len(training),
        "serving_rows": len(serving),
        "training_null_rate": _null_rate(training, len(train)),
        "serving_null_rate": _null_rate(serving, len(serve)),
    }
    if ftype not in NUMERIC and ftype not in CATEGORICAL:
        return FeatureSkew(**base, note=f"{ftype.value}: NULL rates only")
    if len(train) < 2 or len(serve) < 2:
        return FeatureSkew(**base, note="fewer than 2 values on a side: not tested")
    if ftype in NUMERIC:
        return _numeric(
            base, np.asarray(train, dtype=float), np.asarray(serve, dtype=float), threshold
        )
    return _categorical(base, [str(v) for v in train], [str(v) for v in serve], threshold)


def _numeric(
    base: dict[str, Any], train: np.ndarray, serve: np.ndarray, threshold: float
) -> FeatureSkew:
    from scipy.stats import ks_2samp

    with warnings.catch_warnings():  # scipy says when the exact p-value falls back to
        warnings.simplefilter("ignore", RuntimeWarning)  # the asymptotic one: its own rule
        result = ks_2samp(train, serve)
    edges = np.unique(np.quantile(train, np.linspace(0, 1, PSI_BINS + 1)))
    inner = edges[1:-1]
    expected = np.bincount(np.searchsorted(inner, train, side="right"), minlength=len(inner) + 1)
    actual = np.bincount(np.searchsorted(inner, serve, side="right"), minlength=len(inner) + 1)
    psi = _psi(expected / len(train), actual / len(serve))
    # The picture: 20 equal-width bins over both sides' range.
    low, high = float(min(train.min(), serve.min())), float(max(train.max(), serve.max()))
    if high == low:
        high = low + 1
    picture = np.linspace(low, high, 21)
    t_counts, _ = np.histogram(train, picture)
    s_counts, _ = np.histogram(serve, picture)
    p_value = float(result.pvalue)
    return FeatureSkew(
        **base,
        test="ks",
        statistic=float(result.statistic),
        p_value=p_value,
        psi=psi,
        flagged=p_value < threshold,
        bins=[f"{picture[i]:.4g}" for i in range(20)],
        training_shares=(t_counts / len(train)).tolist(),
        serving_shares=(s_counts / len(serve)).tolist(),
    )


def _categorical(
    base: dict[str, Any], train: list[str], serve: list[str], threshold: float
) -> FeatureSkew:
    from scipy.stats import chi2_contingency

    t_counts, s_counts = Counter(train), Counter(serve)
    categories = sorted(t_counts.keys() | s_counts.keys(), key=lambda c: (-t_counts[c], c))
    table = np.array([[t_counts[c] for c in categories], [s_counts[c] for c in categories]])
    if len(categories) < 2:
        statistic, p_value = 0.0, 1.0  # one category on both sides: nothing differs
    else:
        result = chi2_contingency(table)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    expected = table[0] / len(train)
    actual = table[1] / len(serve)
    shown = categories[:20]
    return FeatureSkew(
        **base,
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        psi=_psi(expected, actual),
        flagged=p_value < threshold,
        bins=shown,
        training_shares=[t_counts[c] / len(train) for c in shown],
        serving_shares=[s_counts[c] / len(serve) for c in shown],
    )


@dataclass(frozen=True)
class SkewReport:
    service: str
    training_file: str
    start: str | None
    end: str | None
    threshold: float
    features: list[FeatureSkew]

    @property
    def flagged(self) -> list[FeatureSkew]:
        return [f for f in self.features if f.flagged]

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "training": self.training_file,
            "start": self.start,
            "end": self.end,
            "threshold": self.threshold,
            "features": [f.to_json() for f in self.features],
        }


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_text(report: SkewReport) -> str:
    """An aligned table, one feature per line."""
    header = [
        "FEATURE",
        "TEST",
        "STATISTIC",
        "P_VALUE",
        "PSI",
        "NULL_TRAIN",
        "NULL_SERVE",
        "ROWS_TRAIN",
        "ROWS_SERVE",
        "FLAG",
    ]
    rows = [
        [
            f.feature,
            f.test or "-",
            _num(f.statistic),
            _num(f.p_value),
            _num(f.psi),
            _pct(f.training_null_rate),
            _pct(f.serving_null_rate),
            str(f.training_rows),
            str(f.serving_rows),
            "SKEW" if f.flagged else (f.note or ""),
        ]
        for f in report.features
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [header, *rows]
    )
