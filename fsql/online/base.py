"""The online store interface: newest-wins upserts, TTL-aware reads, per-view run state.

Stores work on Arrow record batches and plain Python values; they never see
definitions or SQL of the offline engine. Materialization (fsql.online.materialize)
turns engine results into the batch layout described on `OnlineStore.upsert`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from fsql.definitions.types import FeatureType

EVENT_TS = "__event_ts"
CREATED_TS = "__created_ts"


@dataclass(frozen=True)
class OnlineTable:
    """What a store needs to know about one online view.

    `ttl_us` is the view's TTL in microseconds (None: no limit). `layout` is a
    short hash of the keys and features: a store keeps it beside the data and
    rebuilds the table when it changes, so a changed view never reads old values.
    """

    view: str
    join_keys: tuple[str, ...]
    features: tuple[tuple[str, FeatureType], ...]
    ttl_us: int | None = None

    @functools.cached_property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.features)

    @functools.cached_property
    def layout(self) -> str:
        payload = json.dumps(
            {"keys": list(self.join_keys), "features": [[n, t.value] for n, t in self.features]}
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ViewState:
    """Run state of one view, kept in the online store itself (not only in target/).

    `watermark` is the materialization end time of the last successful write;
    `view_hash` is the content hash of the definition that produced it; `newest_event`
    is the newest event time written by any successful run so far (None when no run
    wrote a row, or for state recorded before fsql kept it).
    """

    view: str
    watermark: datetime | None
    materialized_at: datetime | None
    view_hash: str
    newest_event: datetime | None = None


class OnlineStore(ABC):
    """A key-value store of the latest feature values per entity key and view."""

    @abstractmethod
    def prepare(self, table: OnlineTable) -> None:
        """Create the view's storage if missing; rebuild it (dropping values and the
        view's state) when the stored layout differs from `table.layout`."""

    @abstractmethod
    def upsert(self, table: OnlineTable, batch: pa.RecordBatch | pa.Table) -> int:
        """Write rows, newest wins.

        Columns: the join keys, `__event_ts` (int64 microseconds since the epoch, UTC),
        `__created_ts` (int64 microseconds, may be null: null sorts before any value),
        then every feature of `table`, by name. A row replaces the stored one only when
        its `(event_ts, created_ts)` is strictly greater. Returns rows offered.
        """

    @abstractmethod
    def read(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[tuple[Any, ...] | None]:
        """Feature values (in `table.features` order) for each key, in order.

        None for a key that is missing or whose event time is older than
        `now_us - ttl_us`. Timestamps come back as UTC datetimes.
        """

    def read_views(
        self, requests: Sequence[tuple[OnlineTable, Sequence[tuple[Any, ...]]]], now_us: int
    ) -> list[list[tuple[Any, ...] | None]]:
        """`read` for several views at once; stores with network round trips override it
        to fetch every view in one trip."""
        return [self.read(table, keys, now_us) for table, keys in requests]

    @abstractmethod
    def get_state(self, view: str) -> ViewState | None:
        """The view's run state, or None when it was never materialized."""

    @abstractmethod
    def set_state(self, state: ViewState) -> None:
        """Record run state; called only after the write it describes succeeded."""

    @abstractmethod
    def teardown(self, table: OnlineTable) -> None:
        """Drop the view's values and state."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
