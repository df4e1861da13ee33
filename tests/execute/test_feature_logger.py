"""The feature logger's promises: a read never waits on the writer, a full queue drops
and counts, every queued row is written or counted as dropped, sampling keeps its rate."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from fsql.execute.feature_logger import FeatureLogger, _by_service


class Recorder:
    """A writer that records its batches, and can be held (a slow engine) or fail."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int], dict[str, list[Any]]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    def __call__(self, service: str, times: list[int], columns: dict[str, list[Any]]) -> None:
        self.gate.wait(30)
        if self.fail:
            raise RuntimeError("engine down")
        self.batches.append((service, times, columns))

    @property
    def rows(self) -> int:
        return sum(len(times) for _, times, _ in self.batches)


def test_a_full_queue_drops_and_counts_and_never_blocks() -> None:
    writer = Recorder()
    writer.gate.clear()  # the engine hangs: nothing is written for now
    logger = FeatureLogger(writer, capacity=10, flush_seconds=0.01, batch_rows=5)
    try:
        began = time.perf_counter()
        for i in range(200):
            logger.log("s", 1.0, i, {"id": [i]})
        spent = time.perf_counter() - began
        assert spent < 0.5  # 200 calls with the writer stuck: no waiting
        stats = logger.stats
        assert stats.queued == 200
        # At most one batch taken by the stuck writer plus a full queue; the rest dropped.
        assert 200 - 10 - 10 <= stats.dropped <= 200 - 10
        writer.gate.set()
        assert logger.flush(10)
        stats = logger.stats
        assert stats.written + stats.dropped == 200
        assert writer.rows == stats.written
    finally:
        writer.gate.set()
        logger.close(10)


def test_every_row_is_written_once_in_order_per_service() -> None:
    writer = Recorder()
    logger = FeatureLogger(writer, flush_seconds=0.01, batch_rows=7)
    for i in range(100):
        logger.log("a" if i % 3 else "b", 1.0, i, {"id": [i, -i], "x": [float(i), None]})
    assert logger.flush(10)
    logger.close(10)
    got: dict[str, list[int]] = {}
    for service, _, columns in writer.batches:
        got.setdefault(service, []).extend(columns["id"])
    want_a = [v for i in range(100) if i % 3 for v in (i, -i)]
    want_b = [v for i in range(100) if not i % 3 for v in (i, -i)]
    assert got == {"a": want_a, "b": want_b}
    assert logger.stats.written == 200 and logger.stats.dropped == 0


def test_a_failed_write_counts_its_rows_and_the_writer_goes_on() -> None:
    writer = Recorder()
    writer.fail = True
    logger = FeatureLogger(writer, flush_seconds=0.01)
    logger.log("s", 1.0, 1, {"id": [1, 2, 3]})
    assert logger.flush(10)
    writer.fail = False
    logger.log("s", 1.0, 2, {"id": [4]})
    assert logger.flush(10)
    logger.close(10)
    assert (logger.stats.written, logger.stats.dropped) == (1, 3)
    assert writer.batches == [("s", [2], {"id": [4]})]


def test_sampling_keeps_about_the_rate() -> None:
    writer = Recorder()
    logger = FeatureLogger(writer, flush_seconds=0.01, rng=random.Random(7).random)
    for i in range(20):
        logger.log("s", 0.1, i, {"id": list(range(1000))})
    logger.close(10)
    assert 1700 <= writer.rows <= 2300  # 2,000 expected of 20,000
    assert logger.stats.queued == writer.rows


def test_columns_a_response_lacked_are_null_for_its_rows() -> None:
    merged = _by_service([("s", 1, {"id": [1]}), ("s", 2, {"id": [2, 3], "new": ["x", "y"]})])
    assert merged == {"s": ([1, 2, 2], {"id": [1, 2, 3], "new": [None, "x", "y"]})}
