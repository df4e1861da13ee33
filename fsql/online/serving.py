"""Online reads: many entity rows and several views, each view one batched store read."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any

from fsql.compile.plan import FeatureSelection
from fsql.definitions.keys import INT64_MAX, INT64_MIN, check_key
from fsql.errors import ProjectError
from fsql.online.base import OnlineStore, OnlineTable
from fsql.online.on_demand_eval import OnDemandEvaluator
from fsql.online.windowed import evaluate


class OnlineResponse:
    """Values per column, aligned with the entity rows (Feast's `to_dict()` shape)."""

    def __init__(self, columns: dict[str, list[Any]]) -> None:
        self._columns = columns

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
) -> OnlineResponse:
    """Read the selected features for each entity row; TTL applied at `now_us`.

    On-demand features are computed by `evaluator` (a new one when None) from the
    fetched inputs and the request columns of the entity rows."""
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
        try:
            keys = [
                tuple(
                    _key(row[k], want, k, table.view)
                    for k, want in zip(table.join_keys, families, strict=True)
                )
                for row in entity_rows
            ]
        except KeyError as err:
            raise ProjectError(
                f"entity row has no join key {err.args[0]!r} needed by view '{item.view.name}'",
                hint=f"pass {', '.join(table.join_keys)} in every entity row",
            ) from None
        requests.append((table, keys))
    values_by_name: dict[str, list[Any]] = {}
    for item, (table, keys), found in zip(
        selection.items, requests, store.read_views(requests, now), strict=True
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
    if selection.on_demand:
        evaluator = evaluator or OnDemandEvaluator()
        values_by_name.update(evaluator.evaluate(selection.on_demand, entity_rows, values_by_name))
    for name in selection.columns:
        columns[name] = values_by_name[name]
    return OnlineResponse(columns)
