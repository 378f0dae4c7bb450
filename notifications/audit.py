"""Delivery completeness: the outbox's lag, and notifications or webhook messages that should
have reached a final state but have not (neither sent nor scheduled for a later retry). A beat
task reports them; /metrics and /readyz read the same figures."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Min, Q
from django.utils import timezone

from notifications.models import Notification, WebhookMessage
from organisations.models import Event

logger = logging.getLogger(__name__)
SAMPLE_SIZE = 20


@dataclass(frozen=True, slots=True)
class OutboxLag:
    undispatched: int
    oldest_age_seconds: float  # 0 when nothing waits


@dataclass(frozen=True, slots=True)
class DeliveryAudit:
    grace_seconds: int
    stuck_notifications: int
    stuck_webhook_messages: int
    samples: tuple[str, ...]  # ids of some stuck rows, notifications first

    @property
    def complete(self) -> bool:
        return not (self.stuck_notifications or self.stuck_webhook_messages)


def outbox_lag_get(*, now: datetime | None = None) -> OutboxLag:
    """How many events wait for the relay, and the age of the oldest (partial index scan)."""
    now = now or timezone.now()
    waiting = Event.all_tenants.filter(dispatched_at__isnull=True)
    oldest = waiting.aggregate(oldest=Min("occurred_at"))["oldest"]
    if oldest is None:
        return OutboxLag(undispatched=0, oldest_age_seconds=0.0)
    return OutboxLag(
        undispatched=waiting.count(),
        oldest_age_seconds=max((now - oldest).total_seconds(), 0.0),
    )


def _stuck(cutoff: datetime) -> Q:
    """Due before the cutoff and still pending, or claimed by a worker whose lease ran out."""
    return Q(created_at__lt=cutoff) & (
        Q(status="pending", next_attempt_at__lt=cutoff)
        | Q(status="sending", claimed_until__lt=cutoff)
    )


def delivery_audit_get(
    *, now: datetime | None = None, grace: int | None = None, with_samples: bool = True
) -> DeliveryAudit:
    """Rows older than `grace` seconds that neither finished nor wait for a scheduled retry;
    `with_samples=False` (the /metrics scrape) skips the two queries that fetch example ids."""
    grace = settings.DELIVERY_AUDIT_GRACE_SECONDS if grace is None else grace
    cutoff = (now or timezone.now()) - timedelta(seconds=grace)
    notifications = Notification.all_tenants.filter(_stuck(cutoff))
    messages = WebhookMessage.all_tenants.filter(_stuck(cutoff))
    samples: list[str] = []
    if with_samples:
        samples += [str(pk) for pk in notifications.values_list("pk", flat=True)[:SAMPLE_SIZE]]
        samples += [str(pk) for pk in messages.values_list("pk", flat=True)[:SAMPLE_SIZE]]
    return DeliveryAudit(
        grace_seconds=grace,
        stuck_notifications=notifications.count(),
        stuck_webhook_messages=messages.count(),
        samples=tuple(samples[:SAMPLE_SIZE]),
    )


@shared_task(name="notifications.audit", ignore_result=True)
def delivery_audit_task() -> int:
    """Report (log at ERROR) notifications and webhook messages overdue for a final state."""
    audit = delivery_audit_get()
    if not audit.complete:
        logger.error(
            "delivery audit: %d notifications and %d webhook messages overdue for a final state",
            audit.stuck_notifications,
            audit.stuck_webhook_messages,
            extra={"audit_grace_seconds": audit.grace_seconds, "audit_samples": audit.samples},
        )
    return audit.stuck_notifications + audit.stuck_webhook_messages
