"""Online reads: many entity rows and several views, each view one batched store read."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fsql.compile.selection import FeatureSelection
from fsql.definitions.keys import INT64_MAX, INT64_MIN, check_key
from fsql.definitions.models import GLOBAL_KEY
from fsql.errors import ProjectError
from fsql.online.base import Found, OnlineStore, OnlineTable
from fsql.online.on_demand_eval import OnDemandEvaluator
from fsql.online.windowed import evaluate

# Feast's field statuses: a value, a stored NULL, no row for the key, a row past the TTL.
PRESENT = "PRESENT"
NULL_VALUE = "NULL_VALUE"
NOT_FOUND = "NOT_FOUND"
OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


@dataclass(frozen=True)
class Statuses:
    """Per column and entity row, what a timed read found (a Feast status) and the event
    time it reports in microseconds (0 for keys and request values, the read time for
    values computed at it: windowed aggregations and on-demand features)."""

    status: dict[str, list[str]]
    event_us: dict[str, list[int]]


class OnlineResponse:
    """Values per column, aligned with the entity rows (Feast's `to_dict()` shape); after
    a timed read also each value's status and event time (`statuses`)."""

    def __init__(self, columns: dict[str, list[Any]], statuses: Statuses | None = None) -> None:
        self._columns = columns
        self.statuses = statuses

    @property
    def columns(self) -> dict[str, list[Any]]:
        """The columns themselves (not copies): for readers that do not change them."""
        return self._columns

    def to_dict(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self._columns.items()}

    def to_df(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self._columns)


@functools.lru_cache(maxsize=4096)
def _positions(table: OnlineTable, features: tuple[str, ...]) -> tuple[int, ...]:
    """Where each requested feature sits in the stored values (computed once per pair)."""
    return tuple(table.feature_names.index(f) for f in features)


def _key(value: Any, want: str | None, key: str, view: str) -> Any:
    """A key value checked against the stored key type (fsql.definitions.keys); the
    common cases (an int for an integer key, a str for a string key) without a call."""
    kind = type(value)
    if (kind is int and want == "integer" and INT64_MIN <= value <= INT64_MAX) or (
        kind is str and want == "string"
    ):
        return value
    return check_key(value, want, key, view)


def read_online(
    store: OnlineStore,
    tables: Mapping[str, OnlineTable],
    selection: FeatureSelection,
    entity_rows: Sequence[Mapping[str, Any]],
    now_us: int | None = None,
    evaluator: OnDemandEvaluator | None = None,
    timed: bool = False,
) -> OnlineResponse:
    """Read the selected features for each entity row; TTL applied at `now_us`.

    On-demand features are computed by `evaluator` (a new one when None) from the
    fetched inputs and the request columns of the entity rows. `timed` also reports each
    value's status and event time (the feature server's response), at the cost of
    reading rows past their TTL too."""
    now = time.time_ns() // 1000 if now_us is None else now_us
    columns: dict[str, list[Any]] = {}
    for row in entity_rows:
        for key in row:
            columns.setdefault(key, [])
    for key in columns:
        columns[key] = [row.get(key) for row in entity_rows]
    requests = []
    for item in selection.items:
        table = tables[item.view.name]
        families: tuple[str | None, ...] = store.key_types(table.view) or ()
        if len(families) != len(table.join_keys):
            families = (None,) * len(table.join_keys)  # unknown: nothing stored to check
        # The entity columns holding the keys: the stored key names, or the columns a
        # service entry maps them to (`join_keys: {location_id: origin_id}`).
        names = item.view.join_keys if item.stored_keys else table.join_keys
        try:
            keys = [
                tuple(
                    0 if k == GLOBAL_KEY else _key(row[k], want, k, table.view)
                    for k, want in zip(names, families, strict=True)
                )
                for row in entity_rows
            ]
        except KeyError as err:
            raise ProjectError(
                f"entity row has no join key {err.args[0]!r} needed by view '{item.view.name}'",
                hint=f"pass {', '.join(names)} in every entity row",
            ) from None
        requests.append((table, keys))
    values_by_name: dict[str, list[Any]] = {}
    status: dict[str, list[str]] = {}
    event_us: dict[str, list[int]] = {}
    if timed:
        timed_rows = store.read_views_timed(requests, now)
        found_rows = [[None if f is None else f.values for f in rows] for rows in timed_rows]
    else:
        found_rows = store.read_views(requests, now)
    for n, (item, (table, keys), found) in enumerate(
        zip(selection.items, requests, found_rows, strict=True)
    ):
        if item.view.aggregations:  # each key's rows, aggregated at `now`
            computed = [
                [None] * len(item.features)
                if any(part is None for part in key)
                else evaluate(item.view, item.features, None if rec is None else rec[0], now)
                for key, rec in zip(keys, found, strict=True)
            ]
            for pos, out in enumerate(item.output_names):
                values_by_name[out] = [values[pos] for values in computed]
            continue
        positions = _positions(table, item.features)
        for pos, out in zip(positions, item.output_names, strict=True):
            values_by_name[out] = [None if rec is None else rec[pos] for rec in found]
            if timed:
                status[out], event_us[out] = _stored_statuses(timed_rows[n], values_by_name[out])
    if selection.on_demand:
        evaluator = evaluator or OnDemandEvaluator()
        values_by_name.update(evaluator.evaluate(selection.on_demand, entity_rows, values_by_name))
    for name in selection.columns:
        columns[name] = values_by_name[name]
    if not timed:
        return OnlineResponse(columns)
    for name, values in columns.items():
        if name not in status:  # keys and request values (0), computed values (now)
            at = now if name in values_by_name else 0
            status[name] = [NULL_VALUE if v is None else PRESENT for v in values]
            event_us[name] = [at] * len(values)
    return OnlineResponse(columns, Statuses(status, event_us))


def _stored_statuses(
    rows: Sequence[Found | None], values: Sequence[Any]
) -> tuple[list[str], list[int]]:
    """Each stored value's status and event time (0 when there is no row)."""
    status: list[str] = []
    times: list[int] = []
    for found, value in zip(rows, values, strict=True):
        if found is None:
            status.append(NOT_FOUND)
            times.append(0)
        else:
            status.append(
                OUTSIDE_MAX_AGE
                if found.values is None
                else NULL_VALUE
                if value is None
                else PRESENT
            )
            times.append(found.event_us)
    return status, times
