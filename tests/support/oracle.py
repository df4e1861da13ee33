"""A brute-force, pure-Python point-in-time join: the reference every engine is checked against.

It follows SPEC §2 literally and is written for obviousness, not speed (it is quadratic):

- candidates of an entity row `(k, t)` in a view with TTL `T` are the view's rows with keys
  equal to `k` (a NULL on either side never matches) and `t - T <= event_ts <= t`, both bounds
  inclusive, with no lower bound when the view has no TTL;
- the chosen candidate has the greatest `(event_ts, created_ts)`, a NULL created timestamp
  sorting lowest, then (when the view gives one) the greatest version hash; its values are
  returned as they are (a NULL stays NULL);
- no candidate gives NULL for every requested feature of that view.

Timestamps: a naive datetime means UTC; everything is compared as tz-aware UTC.

The module also holds the NULL-aware value comparison the tests share, since fsql may hand back
NaN, None, `pd.NA` or `pd.NaT` for a NULL depending on the column type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

Row = dict[str, Any]

EVENT_TIMESTAMP = "event_timestamp"


class AmbiguousChoice(ValueError):
    """Two candidates tie on (event_ts, created_ts) but differ in value: no single answer."""


@dataclass
class OracleView:
    """One feature view's output rows, as the oracle sees them."""

    name: str
    join_keys: tuple[str, ...]
    rows: list[Row]
    ttl: timedelta | None = None
    created_col: str | None = None
    timestamp_col: str = EVENT_TIMESTAMP
    features: tuple[str, ...] = field(default_factory=tuple)
    # The version hash of a row (fsql.compile.ordering): rows equal on keys, event and
    # created time are versions of one row, the greatest hash wins. None: such ties with
    # different values have no answer here (AmbiguousChoice).
    version: Callable[[Row], int] | None = None
    # `visible_at: created_timestamp`: a row is a candidate at t only once created <= t
    # (a row without a created time: from its event time, as without the option).
    visible_at_created: bool = False


# --------------------------------------------------------------------------- values


def is_null(value: object) -> bool:
    """True for None, NaN (any float type), pd.NA and pd.NaT."""
    if value is None:
        return True
    if type(value).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        # pd.NA-like objects refuse bool(); arrays refuse it too: neither is a scalar NULL here.
        return False


def to_utc(value: object) -> datetime | None:
    """A timestamp as a tz-aware UTC datetime; a naive one is read as UTC; NULL gives None."""
    if is_null(value):
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    raise TypeError(f"{value!r} is not a timestamp")


def values_equal(a: object, b: object, *, rel_tol: float = 1e-6) -> bool:
    """Compare two cell values the way a test of fsql's output should.

    NULLs of every flavour are equal to each other and to nothing else; datetimes compare as
    UTC instants (a naive one is UTC); floats compare approximately (float32 round trips);
    bools never equal ints (a bool column turned into 0/1 is a bug worth seeing).
    """
    a_null, b_null = is_null(a), is_null(b)
    if a_null or b_null:
        return a_null and b_null
    if hasattr(a, "item") and not isinstance(a, bytes | str):  # numpy scalars
        a = a.item()
    if hasattr(b, "item") and not isinstance(b, bytes | str):
        b = b.item()
    if isinstance(a, datetime) or isinstance(b, datetime):
        if not (isinstance(a, datetime) and isinstance(b, datetime)):
            return False
        return to_utc(a) == to_utc(b)
    if isinstance(a, date) or isinstance(b, date):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, int | float) and isinstance(b, int | float)):
            return False
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=1e-12)
    return bool(a == b)


def describe_row_diff(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """The columns where two rows differ, each as `col: actual != expected`."""
    out = []
    for col in expected:
        if col not in actual:
            out.append(f"{col}: missing")
        elif not values_equal(actual[col], expected[col]):
            out.append(f"{col}: {actual[col]!r} != {expected[col]!r}")
    return out


def assert_rows_equal(
    actual: Sequence[Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
    *,
    check_columns: bool = True,
) -> None:
    """Assert two lists of rows are equal row for row, NULL-aware, with a readable message.

    With `check_columns`, every row must have exactly the expected columns in the same order.
    """
    assert len(actual) == len(expected), f"{len(actual)} rows, expected {len(expected)}"
    problems = []
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if check_columns and list(a) != list(e):
            problems.append(f"row {i}: columns {list(a)} != {list(e)}")
            continue
        diff = describe_row_diff(a, e)
        if diff:
            problems.append(f"row {i}: " + "; ".join(diff))
    assert not problems, "rows differ:\n" + "\n".join(problems[:20])


def assert_columns_equal(
    actual: Mapping[str, Sequence[Any]], expected: Mapping[str, Sequence[Any]]
) -> None:
    """Assert two column -> list mappings (e.g. `to_dict()` output) are equal, NULL-aware."""
    assert list(actual) == list(expected), f"columns {list(actual)} != {list(expected)}"
    problems = []
    for col, values in expected.items():
        got = list(actual[col])
        if len(got) != len(values):
            problems.append(f"{col}: {len(got)} values, expected {len(values)}")
            continue
        for i, (a, e) in enumerate(zip(got, values, strict=True)):
            if not values_equal(a, e):
                problems.append(f"{col}[{i}]: {a!r} != {e!r}")
    assert not problems, "columns differ:\n" + "\n".join(problems[:20])


# --------------------------------------------------------------------------- the join


def _key_of(row: Mapping[str, Any], join_keys: Sequence[str]) -> tuple[Any, ...] | None:
    """The row's key tuple, or None when any part is NULL (NULL never equals anything)."""
    parts = tuple(row.get(k) for k in join_keys)
    if any(is_null(p) for p in parts):
        return None
    return tuple(
        p.item() if hasattr(p, "item") and not isinstance(p, str | bytes) else p for p in parts
    )


def _sort_key(row: Mapping[str, Any], view: OracleView) -> tuple[Any, ...]:
    event = to_utc(row[view.timestamp_col])
    version = () if view.version is None else (view.version(dict(row)),)
    if view.created_col is None:
        return (event, *version)
    created = to_utc(row.get(view.created_col))
    # A NULL created timestamp sorts below every real one.
    return (event, created is not None, created or datetime.min.replace(tzinfo=UTC), *version)


def _candidates(view: OracleView, key: tuple[Any, ...] | None, at: datetime | None) -> list[Row]:
    if key is None or at is None:
        return []
    lower = at - view.ttl if view.ttl is not None else None
    out = []
    for row in view.rows:
        if _key_of(row, view.join_keys) != key:
            continue
        event = to_utc(row.get(view.timestamp_col))
        if event is None or event > at:
            continue
        if lower is not None and event < lower:
            continue
        if view.visible_at_created and view.created_col is not None:
            created = to_utc(row.get(view.created_col))
            if created is not None and created > at:
                continue  # not arrived yet at t
        out.append(row)
    return out


def _choose(view: OracleView, candidates: list[Row], columns: Sequence[str] | None) -> Row | None:
    """The winning candidate; raises AmbiguousChoice when the winner is not unique in value."""
    if not candidates:
        return None
    best = max(_sort_key(r, view) for r in candidates)
    top = [r for r in candidates if _sort_key(r, view) == best]
    cols = list(columns) if columns is not None else sorted({c for r in top for c in r})
    first = top[0]
    for other in top[1:]:
        if any(not values_equal(first.get(c), other.get(c)) for c in cols):
            raise AmbiguousChoice(
                f"view {view.name}: rows tie on {best} with different values: {first} / {other}"
            )
    return first


def pit_oracle(
    entity_rows: Sequence[Mapping[str, Any]],
    views: Iterable[OracleView],
    requested: Sequence[tuple[str, str]],
    *,
    full_feature_names: bool = False,
    entity_timestamp_col: str = EVENT_TIMESTAMP,
) -> list[Row]:
    """The point-in-time join of SPEC §2, by brute force.

    `requested` is a list of `(view name, feature name)`. Each output row holds the entity row's
    columns unchanged and in order, then the requested features in order, keyed by feature name
    (or `view__feature` with `full_feature_names`).
    """
    by_name = {v.name: v for v in views}
    names = [f"{v}__{f}" if full_feature_names else f for v, f in requested]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"feature names requested twice: {dupes}; use full_feature_names")
    per_view: dict[str, list[str]] = {}
    for view_name, feat in requested:
        if view_name not in by_name:
            raise KeyError(f"unknown view {view_name!r}")
        per_view.setdefault(view_name, []).append(feat)

    out: list[Row] = []
    for entity in entity_rows:
        at = to_utc(entity.get(entity_timestamp_col))
        chosen: dict[str, Row | None] = {}
        for view_name, feats in per_view.items():
            view = by_name[view_name]
            key = _key_of(entity, view.join_keys)
            chosen[view_name] = _choose(view, _candidates(view, key, at), feats)
        row: Row = dict(entity)
        for (view_name, feat), name in zip(requested, names, strict=True):
            hit = chosen[view_name]
            row[name] = None if hit is None else hit.get(feat)
        out.append(row)
    return out


def latest_oracle(view: OracleView, at: datetime) -> dict[tuple[Any, ...], Row | None]:
    """Per key present in the view, the row the point-in-time rule chooses at time `at`.

    Keys whose rows are all outside the window at `at` map to None (an online read of such
    a key must give NULL features). Rows with a NULL key part are never reachable and ignored.
    """
    at_utc = to_utc(at)
    keys = []
    for row in view.rows:
        key = _key_of(row, view.join_keys)
        if key is not None and key not in keys:
            keys.append(key)
    cols = list(view.features) if view.features else None
    return {k: _choose(view, _candidates(view, k, at_utc), cols) for k in keys}


def online_oracle(
    entity_rows: Sequence[Mapping[str, Any]],
    views: Iterable[OracleView],
    requested: Sequence[tuple[str, str]],
    at: datetime,
) -> dict[str, list[Any]]:
    """What `get_online_features(...).to_dict()` must return when read at time `at`.

    Columns: the entity rows' keys in the order given, then the requested features by name.
    """
    rows = [{**dict(e), EVENT_TIMESTAMP: at} for e in entity_rows]
    joined = pit_oracle(rows, views, requested)
    key_cols = list(entity_rows[0]) if entity_rows else []
    cols = key_cols + [f for _, f in requested]
    return {c: [r[c] for r in joined] for c in cols}
