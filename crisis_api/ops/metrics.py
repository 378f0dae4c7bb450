"""Prometheus metrics. Counters and histograms live in each process (requests in the web
workers, task outcomes in Celery workers); set PROMETHEUS_MULTIPROC_DIR to one directory for all
processes of a host and /metrics adds them up. Everything read from PostgreSQL or the broker (queue
depths, outbox lag, work in flight, endpoint health, the delivery audit) is computed at scrape
time by one collector, so it is the same whichever process answers."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "crisis_http_requests",
    "HTTP requests answered, by method, route pattern and status code.",
    ("method", "route", "status"),
)
REQUEST_SECONDS = Histogram(
    "crisis_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route pattern.",
    ("method", "route"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TASK_OUTCOMES = Counter(
    "crisis_celery_tasks",
    "Celery tasks finished, by task name and outcome (success, failure, retry).",
    ("task", "outcome"),
)

# Apps add gauges read at scrape time (e.g. monitoring's poll health) without this module
# importing them: each function yields finished metric families.
StateSource = Callable[[], Iterable[Metric]]
_state_sources: list[StateSource] = []


def metrics_state_register(source: StateSource) -> StateSource:
    """Register a function that yields metric families computed at scrape time."""
    _state_sources.append(source)
    return source


class StateCollector(Collector):
    """Runs every registered state source; one failing source costs only its own metrics."""

    def collect(self) -> Iterator[Metric]:
        duration = GaugeMetricFamily(
            "crisis_metrics_source_seconds",
            "Time each state source took during this scrape.",
            labels=("source",),
        )
        failed = GaugeMetricFamily(
            "crisis_metrics_source_failed",
            "1 when a state source failed during this scrape (its metrics are missing).",
            labels=("source",),
        )
        for source in _state_sources:
            started = time.perf_counter()
            try:
                families = list(source())  # all or nothing per source
            except Exception:  # a scrape must answer even while a store is down
                logger.exception("metrics source %s failed", source.__name__)
                families = []
                failed.add_metric([source.__name__], 1)
            else:
                failed.add_metric([source.__name__], 0)
            duration.add_metric([source.__name__], time.perf_counter() - started)
            yield from families
        yield duration
        yield failed


def metrics_exposition() -> bytes:
    """The text exposition of everything: per-process (or summed multi-process) + state."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessMetrics())
    registry.register(StateCollector())
    return generate_latest(registry)


class _ProcessMetrics(Collector):
    """This process's own counters and histograms (the default registry)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
