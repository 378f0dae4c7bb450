"""Poll health for /metrics, read at scrape time (crisis_api/ops/metrics.py): sources by kind
and status, failing sources, and the time since each kind's oldest last success."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from crisis_api.ops.metrics import metrics_state_register
from monitoring.models import Source


@metrics_state_register
def poll_health() -> Iterator[Metric]:
    now = timezone.now()
    sources = GaugeMetricFamily(
        "crisis_sources", "Monitoring sources by kind and status.", labels=("kind", "status")
    )
    failing = GaugeMetricFamily(
        "crisis_sources_failing",
        "Active polled sources whose last poll failed (consecutive failures > 0), by kind.",
        labels=("kind",),
    )
    stale = GaugeMetricFamily(
        "crisis_sources_seconds_since_success",
        "Per kind, seconds since the active polled source that has waited longest since its "
        "last successful poll (sources never polled successfully count from their creation).",
        labels=("kind",),
    )
    rows = (
        Source.all_tenants.values_list("kind", "status")
        .annotate(
            total=Count("pk"),
            failing=Count("pk", filter=Q(consecutive_failures__gt=0)),
            oldest_success=Min("last_success_at"),
            oldest_unpolled=Min("created_at", filter=Q(last_success_at__isnull=True)),
        )
        .order_by("kind", "status")
    )
    for kind, status, total, failing_n, oldest_success, oldest_unpolled in rows:
        sources.add_metric([kind, status], total)
        if status != Source.Status.ACTIVE or kind == Source.Kind.PUSH:
            continue
        failing.add_metric([kind], failing_n)
        oldest = min(t for t in (oldest_success, oldest_unpolled) if t is not None)
        stale.add_metric([kind], max(0.0, (now - oldest).total_seconds()))
    yield sources
    yield failing
    yield stale
