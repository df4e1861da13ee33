"""Online/offline parity: the online values of sampled keys against the point-in-time
answer computed offline at the same time, value for value.

The seed's "shadow-compare online values against a reference computation": a silent
failure of materialization, a store written around fsql, or a definition served from an
older build all show as values the training-set SQL would not give. The store
(`FeatureStore.parity`) samples keys, reads them online at `t` and builds the training
set for the same keys at `t`; this module compares the two and renders the report.
Values compare exactly (the stores keep float64 bits), NULL equal to NULL and NaN to NaN,
times as instants.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Difference:
    """One value that differs: the view, feature and key, and both answers."""

    view: str
    feature: str
    key: dict[str, Any]
    online: Any
    offline: Any


@dataclass(frozen=True)
class ViewParity:
    view: str
    keys: int  # keys compared
    differences: list[Difference] = field(default_factory=list)


@dataclass(frozen=True)
class ParityReport:
    at: datetime
    views: list[ViewParity]

    @property
    def differences(self) -> list[Difference]:
        return [d for view in self.views for d in view.differences]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "views": [
                {
                    "view": v.view,
                    "keys": v.keys,
                    "differences": [
                        {
                            "feature": d.feature,
                            "key": d.key,
                            "online": _json(d.online),
                            "offline": _json(d.offline),
                        }
                        for d in v.differences
                    ],
                }
                for v in self.views
            ],
        }


def _json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return value.hex()
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def same(online: Any, offline: Any) -> bool:
    """Equal as values: NULL = NULL, NaN = NaN, times as instants (naive = UTC), an int
    and a float of the same number equal (engines may widen integer aggregates)."""
    if online is None or offline is None:
        return online is None and offline is None
    if isinstance(online, float) and isinstance(offline, float):
        return online == offline or (math.isnan(online) and math.isnan(offline))
    if isinstance(online, datetime) and isinstance(offline, datetime):
        return _utc(online) == _utc(offline)
    return bool(online == offline)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def compare_view(
    view: str,
    keys: Sequence[Mapping[str, Any]],
    features: Sequence[str],
    online: Mapping[str, Sequence[Any]],
    offline: Mapping[str, Sequence[Any]],
) -> ViewParity:
    """The differences between two answers for the same keys, row for row."""
    found = [
        Difference(view, name, dict(key), on, off)
        for name in features
        for key, on, off in zip(keys, online[name], offline[name], strict=True)
        if not same(on, off)
    ]
    return ViewParity(view, len(keys), found)


def render_text(report: ParityReport, limit: int = 20) -> str:
    """One line per view, then its first `limit` differences."""
    lines = []
    for view in report.views:
        verdict = f"{len(view.differences)} differences" if view.differences else "equal"
        lines.append(f"{view.view}: {view.keys} keys, {verdict}")
        for d in view.differences[:limit]:
            key = ", ".join(f"{k}={v!r}" for k, v in d.key.items())
            lines.append(f"  {d.feature} [{key}]: online {d.online!r}, offline {d.offline!r}")
        if len(view.differences) > limit:
            lines.append(f"  ... and {len(view.differences) - limit} more")
    return "\n".join(lines)
