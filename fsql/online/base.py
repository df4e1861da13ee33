"""The online store interface: newest-wins upserts, TTL-aware reads, per-view run state.

Stores work on Arrow record batches and plain Python values; they never see
definitions or SQL of the offline engine. Materialization (fsql.online.materialize)
turns engine results into the batch layout described on `OnlineStore.upsert`.

Size: the contract every store implements (namespaces, fences, upserts, plain and timed
reads, run state) with the small value types it speaks in; splitting the abstract class
would scatter one contract over several files.
"""

from __future__ import annotations

import functools
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fsql.definitions.types import FeatureType
from fsql.errors import RunError
from fsql.online.times import datetime_to_us

if TYPE_CHECKING:  # batches are written by materialization, which imports it
    import pyarrow as pa

EVENT_TS = "__event_ts"
CREATED_TS = "__created_ts"
VERSION = "__version"


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
            {
                "format": 2,  # stored values carry a version hash (fsql.compile.ordering)
                "keys": list(self.join_keys),
                "features": [[n, t.value] for n, t in self.features],
            }
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ViewState:
    """Run state of one view, kept in the online store itself (not only in target/).

    `watermark` is the materialization end time of the last successful write (never
    later than the moment that run started); `view_hash` is the content hash of the
    definition the live values were made with; `newest_event` is the newest event time
    written by any successful run so far (None when no run wrote a row);
    `base_version` is the offline data version (fsql.execute.build.BuildRecord) of the
    last full materialization: incremental runs build on it only while it is current.
    """

    view: str
    watermark: datetime | None
    materialized_at: datetime | None
    view_hash: str
    newest_event: datetime | None = None
    base_version: str | None = None


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two times (naive ones are UTC); None is unknown, losing to any."""
    if a is None or b is None:
        return b if a is None else a
    return a if (datetime_to_us(a) or 0) >= (datetime_to_us(b) or 0) else b


def merge_state(stored: ViewState | None, new: ViewState) -> ViewState:
    """Run state only moves forward: each time the later of stored and new; the stored
    definition and base version stay (a rebuild's commit replaces them itself)."""
    if stored is None:
        return new
    return ViewState(
        view=new.view,
        watermark=_latest(stored.watermark, new.watermark),
        materialized_at=_latest(stored.materialized_at, new.materialized_at),
        view_hash=stored.view_hash or new.view_hash,
        newest_event=_latest(stored.newest_event, new.newest_event),
        base_version=stored.base_version or new.base_version,
    )


def swap_state(
    live: Namespace | None, stored: ViewState | None, fence: Fence, new: ViewState
) -> ViewState | None:
    """The run state after a rebuild made under `fence` (its own state `new`) is swapped
    in, or None when the swap must be refused. Both stores decide a swap by this, inside
    the transaction that makes it.

    - Live values of the same definition (or of none): the rebuild wins when its
      `(watermark, run start)` is at least the live values' `(watermark, generation)`: a
      swap never brings back values at an earlier END (a backfill run that lost the race
      is skipped; a run to a later END that started earlier still wins), and between two
      runs to the same END the later-started one wins. Times are merged forward.
    - Live values of another definition: the rebuild wins unless they were made by a
      run that started after it (the newer definition). Another definition's run state
      means nothing for the new values: it is replaced, not merged.
    """
    ours = live is None or live.view_hash in ("", fence.view_hash)
    if not ours:
        assert live is not None
        if live.generation > fence.started_us:
            return None
        return replace(new, view_hash=fence.view_hash)
    same = stored if stored is not None and stored.view_hash in ("", fence.view_hash) else None
    if live is not None and same is not None:
        lowest = -(2**63)
        theirs = (datetime_to_us(same.watermark) or lowest, live.generation)
        mine = (datetime_to_us(new.watermark) or lowest, fence.started_us)
        if mine < theirs:
            return None
    merged = merge_state(same, new)
    return replace(merged, view_hash=fence.view_hash, base_version=new.base_version)


@dataclass(frozen=True)
class Fence:
    """Who is writing: the definition (content hash) a run materializes with, and when
    the run started (microseconds since the epoch).

    A store refuses, atomically, any write made under a definition other than that of
    the view's live values (FencedError), and a rebuild swapped in by a run that started
    before the one that made the live values current."""

    view_hash: str
    started_us: int


@dataclass(frozen=True)
class Namespace:
    """The live storage of one view: which layout and definition its values have, and
    the start time of the run that made it live (its generation)."""

    layout: str
    view_hash: str
    generation: int


@dataclass(frozen=True, slots=True)
class Found:
    """A stored row as a timed read sees it (`read_timed`): its event time, and its
    values, or None when the row is older than the view's TTL at the read time (Feast's
    OUTSIDE_MAX_AGE, told apart from a key that has no row at all)."""

    event_us: int
    values: tuple[Any, ...] | None


class FencedError(RunError):
    """A write refused because the view's live values belong to another definition."""


class RejectedKeys(Protocol):
    """Rows a store's writes skipped because it cannot hold their key (Redis: a key over
    32 KiB once encoded): how many, and one line naming the view, the first such key and
    what to do."""

    view: str
    count: int

    def message(self) -> str: ...


class OnlineStore(ABC):
    """A key-value store of the latest feature values per entity key and view.

    Each view's values live in one *namespace* (a table, a key prefix). A full
    materialization fills a new, pending namespace and swaps it in atomically
    (`begin_rebuild` / `commit_rebuild`), so a reader sees the old values or the new
    ones, never a mix and never an error, and keys that are gone from the offline
    answer are gone online too. Other writes (`upsert`: incremental runs, ranges,
    pushes) go to the live namespace and to every pending one of the same definition,
    so a rebuild in progress cannot lose them.

    Every write keeps the greatest version per key: `(event_ts, created_ts, version)`
    compared as a tuple, the first two NULL-lowest (SPEC §2, fsql.compile.ordering).
    """

    @classmethod
    @abstractmethod
    def from_config(
        cls, config: Mapping[str, Any], project_root: Path, project: str
    ) -> OnlineStore:
        """Open the store a profile's `online:` block describes; relative paths are
        relative to `project_root`, and `project` namespaces keys in a shared store."""

    @abstractmethod
    def namespace(self, view: str) -> Namespace | None:
        """The view's live namespace, or None when it has none."""

    @abstractmethod
    def prepare(self, table: OnlineTable, fence: Fence | None = None) -> None:
        """Make sure the view has a live namespace to upsert into: create an empty one
        (of `table`'s layout and `fence`'s definition) when it has none. With a fence, a
        live namespace of another layout or definition raises FencedError: only a full
        materialization (`begin_rebuild`) may replace it. Without one (tools, tests), it
        is replaced by an empty namespace and the view's state dropped."""

    @abstractmethod
    def upsert(
        self, table: OnlineTable, batch: pa.RecordBatch | pa.Table, fence: Fence | None = None
    ) -> int:
        """Write rows into the live namespace and every pending one of `fence`'s
        definition, greatest version wins.

        Columns: the join keys, `__event_ts` (int64 microseconds since the epoch, UTC),
        `__created_ts` (int64 microseconds, may be null: null sorts before any value),
        `__version` (int64, may be absent: 0), then every feature of `table`, by name.
        Raises FencedError when the live namespace holds another definition than
        `fence`'s (without a fence: no check, pending namespaces not written). RunError
        when the view has no live namespace of `table`'s layout. Returns rows offered.
        """

    def check_keys(self, table: OnlineTable, rows: pa.Table, where: str | None = None) -> None:
        """Raise ProjectError when a key of `rows` (with `table`'s join-key columns) cannot
        be stored: a push checks this before it writes anything. Stores without a limit on
        keys (SQLite) accept every key."""
        return None

    def take_rejected(self, view: str) -> RejectedKeys | None:
        """The rows of `view` that this thread's writes skipped since the last call because
        the store cannot hold their key (such a key can never be stored: the rest of the
        write goes on), or None. Stores without a limit on keys (SQLite) skip none."""
        return None

    @abstractmethod
    def begin_rebuild(self, table: OnlineTable, fence: Fence) -> str:
        """Create an empty pending namespace for a full materialization; returns its
        token for `upsert_pending`, `commit_rebuild` and `abort_rebuild`."""

    @abstractmethod
    def upsert_pending(
        self, table: OnlineTable, token: str, batch: pa.RecordBatch | pa.Table
    ) -> int:
        """`upsert` into one pending namespace only (the rebuild's own rows)."""

    @abstractmethod
    def commit_rebuild(
        self, table: OnlineTable, token: str, fence: Fence, state: ViewState
    ) -> bool:
        """Atomically make the pending namespace live and record `state` (merged as
        `set_state` merges, but the definition and base version replaced), unless the
        live namespace was made by a run that started after `fence.started_us`: then the
        pending namespace is dropped and False returned. The old namespace's values are
        deleted after readers can no longer be using it."""

    @abstractmethod
    def abort_rebuild(self, table: OnlineTable, token: str) -> None:
        """Drop a pending namespace (a failed run)."""

    @abstractmethod
    def read(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[tuple[Any, ...] | None]:
        """Feature values (in `table.features` order) for each key, in order.

        None for a key that is missing or whose event time is older than
        `now_us - ttl_us`, and for every key when the live namespace has another layout.
        Timestamps come back as UTC datetimes, NaN as NaN, NULL as None.
        """

    def read_views(
        self, requests: Sequence[tuple[OnlineTable, Sequence[tuple[Any, ...]]]], now_us: int
    ) -> list[list[tuple[Any, ...] | None]]:
        """`read` for several views at once; stores with network round trips override it
        to fetch every view in one trip."""
        return [self.read(table, keys, now_us) for table, keys in requests]

    @abstractmethod
    def read_timed(
        self, table: OnlineTable, keys: Sequence[tuple[Any, ...]], now_us: int
    ) -> list[Found | None]:
        """`read` with each row's event time, for responses that report it (the feature
        server's statuses and timestamps): None for a key without a row, a `Found` whose
        values are None for a row past the TTL at `now_us`."""

    def read_views_timed(
        self, requests: Sequence[tuple[OnlineTable, Sequence[tuple[Any, ...]]]], now_us: int
    ) -> list[list[Found | None]]:
        """`read_timed` for several views at once (one round trip where that matters)."""
        return [self.read_timed(table, keys, now_us) for table, keys in requests]

    @abstractmethod
    def key_types(self, view: str) -> tuple[str, ...] | None:
        """The type family of each join key of the view as last written (`integer`,
        `string`, ... of fsql.definitions.types.type_family), None before any write;
        reads check keys against it (fsql.definitions.keys). May be a second old."""

    @abstractmethod
    def get_state(self, view: str) -> ViewState | None:
        """The view's run state, or None when it was never materialized."""

    @abstractmethod
    def set_state(self, state: ViewState, fence: Fence | None = None) -> None:
        """Merge run state, atomically: the watermark, materialization time and newest
        event only move forward (each the greater of stored and given), the base
        version is kept (set when there is none). Refused (FencedError) when the live
        namespace or the stored state belongs to another definition than `fence`'s
        (without a fence: no check). Called only after the writes it describes."""

    @abstractmethod
    def teardown(self, table: OnlineTable) -> None:
        """Drop the view's values (live and pending) and state. Only `table.view` is
        used: a view deleted from the project is torn down by its name alone."""

    @abstractmethod
    def stored_views(self) -> list[str]:
        """The views this store holds values, rebuilds in progress or run state of,
        sorted: what `fsql ls --orphans` compares with the project."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
