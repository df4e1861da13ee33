"""Served feature vectors, queued in memory and appended to the feature log in batches
by one background thread, so that a read never waits on the offline engine.

`log()` samples a response's entity rows (each kept with the service's sample rate) and
queues them; it takes a lock for a list append and nothing else, so it costs a read
microseconds. The queue is bounded by rows (`capacity`): when it is full the rows are
dropped and counted, never waited for. The writer wakes every `flush_seconds` (or when
a batch's worth is queued), groups what it finds by service and hands each group to
`write` (fsql.execute.feature_log through the store); a failed write is logged and
its rows counted as dropped. `flush()` waits until what was queued before it is written
or dropped (tests, shutdown); `close()` flushes, then stops the thread.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_LOG = logging.getLogger("fsql")

# (service, request time in microseconds, {column: [values of the sampled rows]})
Entry = tuple[str, int, dict[str, list[Any]]]
Writer = Callable[[str, list[int], dict[str, list[Any]]], None]


@dataclass(frozen=True)
class LogStats:
    """Rows handed to the logger, written to the log, and dropped (queue full or a
    failed write), since the logger started."""

    queued: int
    written: int
    dropped: int


class FeatureLogger:
    def __init__(
        self,
        write: Writer,
        capacity: int = 100_000,
        flush_seconds: float = 1.0,
        batch_rows: int = 10_000,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._write = write
        self._capacity = capacity
        self._flush_seconds = flush_seconds
        self._batch_rows = batch_rows
        self._rng = rng
        self._cond = threading.Condition()
        self._entries: list[Entry] = []
        self._pending = 0  # rows in _entries
        self._queued = self._written = self._dropped = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> LogStats:
        with self._cond:
            return LogStats(self._queued, self._written, self._dropped)

    def log(
        self, service: str, rate: float, request_us: int, columns: Mapping[str, Sequence[Any]]
    ) -> None:
        """Queue the sampled rows of one response; never blocks on the writer."""
        first = next(iter(columns.values()), ())
        if rate >= 1:
            rows = list(range(len(first)))
        else:
            rows = [i for i in range(len(first)) if self._rng() < rate]
        if not rows:
            return
        kept = {name: [values[i] for i in rows] for name, values in columns.items()}
        with self._cond:
            self._queued += len(rows)
            if self._stopping or self._pending + len(rows) > self._capacity:
                self._dropped += len(rows)
                return
            self._entries.append((service, request_us, kept))
            self._pending += len(rows)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fsql-feature-log", daemon=True
                )
                self._thread.start()
            if self._pending >= self._batch_rows:
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row queued so far is written or dropped; False on timeout."""
        with self._cond:
            target = self._queued
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: self._written + self._dropped >= target or self._thread is None,
                timeout,
            )

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued (up to `timeout`), then stop the writer."""
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._entries and not self._stopping:
                    self._cond.wait(self._flush_seconds)
                entries, self._entries, self._pending = self._entries, [], 0
                if not entries and self._stopping:
                    self._thread = None
                    self._cond.notify_all()
                    return
            for service, (times, columns) in _by_service(entries).items():
                rows = len(times)
                try:
                    self._write(service, times, columns)
                except Exception as err:  # an engine's errors differ; none may stop the thread
                    _LOG.warning(
                        "feature log of service '%s': %d rows lost: %s", service, rows, err
                    )
                    with self._cond:
                        self._dropped += rows
                        self._cond.notify_all()
                    continue
                with self._cond:
                    self._written += rows
                    self._cond.notify_all()


def _by_service(entries: list[Entry]) -> dict[str, tuple[list[int], dict[str, list[Any]]]]:
    """Entries grouped by service: each row's request time, and the columns (a column a
    response did not have, after a redefinition, is NULL for its rows)."""
    out: dict[str, tuple[list[int], dict[str, list[Any]]]] = {}
    for service, request_us, columns in entries:
        times, merged = out.setdefault(service, ([], {}))
        rows = len(next(iter(columns.values()), ()))
        before = len(times)
        times.extend([request_us] * rows)
        for name in [*merged, *(n for n in columns if n not in merged)]:  # first seen first
            column = merged.setdefault(name, [None] * before)
            column.extend(columns.get(name, [None] * rows))
    return out
