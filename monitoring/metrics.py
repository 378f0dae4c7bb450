"""Monitoring state for /metrics, read at scrape time (crisis_api/ops/metrics.py): sources by
kind and status, failing sources, the time since each kind's oldest last success, and the
mentions waiting for case grouping."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from crisis_api.ops.metrics import metrics_state_register
from monitoring.models import Mention, Source


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


@metrics_state_register
def grouping_backlog() -> Iterator[Metric]:
    """Mentions not yet grouped into cases: a few seconds' worth normally; a count that grows,
    or an age past the sweep's grace, means the after-commit tasks are being lost."""
    pending = GaugeMetricFamily(
        "crisis_mentions_grouping_pending",
        "Mentions stored but not yet looked at by case grouping.",
    )
    oldest = GaugeMetricFamily(
        "crisis_mentions_grouping_pending_oldest_seconds",
        "Seconds since the oldest mention still waiting for case grouping was stored (0: none).",
    )
    backlog = Mention.all_tenants.filter(grouping_pending=True).aggregate(
        n=Count("pk"), since=Min("fetched_at")
    )
    pending.add_metric([], backlog["n"])
    since = backlog["since"]
    oldest.add_metric([], max(0.0, (timezone.now() - since).total_seconds()) if since else 0.0)
    yield pending
    yield oldest
