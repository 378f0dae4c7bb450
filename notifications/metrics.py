"""Notification and webhook state for /metrics, read at scrape time (crisis_api/ops/metrics.py)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Q
from prometheus_client.core import GaugeMetricFamily, Metric

from crisis_api.ops.metrics import metrics_state_register
from notifications.audit import delivery_audit_get, outbox_lag_get
from notifications.models import Notification, WebhookEndpoint, WebhookMessage

IN_FLIGHT = ("pending", "sending")


@metrics_state_register
def outbox() -> Iterator[Metric]:
    lag = outbox_lag_get()
    yield GaugeMetricFamily(
        "crisis_outbox_lag_seconds",
        "Age of the oldest event the relay has not dispatched yet (0 when none waits).",
        value=lag.oldest_age_seconds,
    )
    yield GaugeMetricFamily(
        "crisis_outbox_undispatched_events", "Events waiting for the relay.", value=lag.undispatched
    )


@metrics_state_register
def deliveries() -> Iterator[Metric]:
    notifications = GaugeMetricFamily(
        "crisis_notifications_in_flight",
        "Notifications not final yet, by channel and status (pending, sending).",
        labels=("channel", "status"),
    )
    rows = (
        Notification.all_tenants.filter(status__in=IN_FLIGHT)
        .values_list("channel", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for channel, status, n in rows:
        notifications.add_metric([channel, status], n)
    yield notifications
    messages = GaugeMetricFamily(
        "crisis_webhook_messages_in_flight",
        "Webhook messages not final yet, by status.",
        labels=("status",),
    )
    for status, n in (
        WebhookMessage.all_tenants.filter(status__in=IN_FLIGHT)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        messages.add_metric([status], n)
    yield messages
    audit = delivery_audit_get(with_samples=False)
    stuck = GaugeMetricFamily(
        "crisis_delivery_audit_overdue",
        "Rows overdue for a final state (neither sent nor waiting for a scheduled retry).",
        labels=("kind",),
    )
    stuck.add_metric(["notification"], audit.stuck_notifications)
    stuck.add_metric(["webhook_message"], audit.stuck_webhook_messages)
    yield stuck


@metrics_state_register
def webhook_endpoints() -> Iterator[Metric]:
    endpoints = GaugeMetricFamily(
        "crisis_webhook_endpoints",
        "Webhook endpoints by status, and how many of them are failing now.",
        labels=("status", "failing"),
    )
    rows = (
        WebhookEndpoint.all_tenants.values_list("status")
        .annotate(
            failing=Count("pk", filter=Q(consecutive_failures__gt=0)),
            total=Count("pk"),
        )
        .order_by()
    )
    for status, failing, total in rows:
        endpoints.add_metric([status, "true"], failing)
        endpoints.add_metric([status, "false"], total - failing)
    yield endpoints
