"""The feature server's Prometheus metrics: requests and their latency per endpoint,
errors, the feature log's rows (queued, written, dropped), and each online view's
freshness, judged when scraped.

One registry per server (not prometheus_client's global one), so that several servers
in one process (tests) keep their own counts. With `--workers N` every worker process
has its own counts, and a scrape reaches one of them: the counters are per worker,
labelled by nothing that says which, so scrape with `--workers 1` where exact totals
matter (the README says so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from fsql.execute.feature_logger import LogStats
from fsql.online.freshness import FreshnessRow

# Seconds: the reads this server is built for take tens of microseconds to a few ms.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
    60.0,
)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Freshness(Collector):
    """Per online view, at scrape time: seconds since its last materialization and
    whether it is failing its schedule (stale, never materialized or redefined)."""

    def __init__(self, rows: Callable[[], Sequence[FreshnessRow]]) -> None:
        self._rows = rows

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily(
            "fsql_view_materialized_age_seconds",
            "Seconds since the view was last materialized (absent: never).",
            labels=["view"],
        )
        failing = GaugeMetricFamily(
            "fsql_view_freshness_failing",
            "1 when the view is stale, never materialized or redefined, else 0.",
            labels=["view", "status"],
        )
        for row in self._rows():
            if row.age is not None:
                age.add_metric([row.view], row.age.total_seconds())
            failing.add_metric([row.view, row.status], 1.0 if row.failing else 0.0)
        yield age
        yield failing


class _FeatureLog(Collector):
    """The feature log's rows: queued by reads, written by the background writer, and
    dropped (a full queue or a failed write)."""

    def __init__(self, stats: Callable[[], LogStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self._stats()
        rows = CounterMetricFamily(
            "fsql_feature_log_rows",
            "Served rows of logged services, by state (queued, written, dropped).",
            labels=["state"],
        )
        rows.add_metric(["queued"], stats.queued)
        rows.add_metric(["written"], stats.written)
        rows.add_metric(["dropped"], stats.dropped)
        yield rows


class Metrics:
    """Counters and histograms of one server, rendered in Prometheus' text format."""

    def __init__(
        self,
        freshness: Callable[[], Sequence[FreshnessRow]],
        feature_log: Callable[[], LogStats],
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fsql_requests",
            "HTTP requests answered, by endpoint and status code.",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fsql_request_duration_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "fsql_request_errors",
            "Requests answered with an error, by endpoint and kind (client: 4xx, server: 5xx).",
            ["endpoint", "kind"],
            registry=self.registry,
        )
        self.registry.register(_Freshness(freshness))
        self.registry.register(_FeatureLog(feature_log))

    def observe(self, endpoint: str, code: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(code)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if code >= 400:
            self.errors.labels(endpoint, "client" if code < 500 else "server").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
