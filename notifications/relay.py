"""The outbox relay: turns committed events into webhook messages and notifications.

Events are the outbox. The relay claims undispatched ones in batches with SKIP LOCKED, plans
every delivery for the batch in a constant number of queries (unique per event and endpoint,
so a replayed batch plans nothing twice), marks them dispatched in the same transaction, and
wakes the delivery workers after commit. A wake-up lost because Redis was down costs only
latency: beat runs the relay every few seconds, and the rows wait in PostgreSQL.

A batch that plans more than `RELAY_CHUNK_NOTIFICATIONS` notifications (a broadcast to
thousands) commits them ahead, chunk by chunk on a second connection, so sending starts while
the rest is planned; the events are still marked dispatched only once every chunk is in (see
`_insert_ahead`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from incidents.models import Incident
from notifications.models import WebhookEndpoint, WebhookMessage
from notifications.planner import (
    NOTIFIABLE,
    NotificationPlan,
    notification_plan,
)
from notifications.webhooks import WEBHOOK_EVENT_TYPES, envelope
from organisations.events import Actor
from organisations.models import Event

logger = logging.getLogger(__name__)
BATCH = 500


def _drill_incident_ids(events: list[Event]) -> set[str]:
    ids = {
        e.payload["incident"]["id"]
        for e in events
        if isinstance(e.payload.get("incident"), dict) and "id" in e.payload["incident"]
    }
    if not ids:
        return set()
    drills = Incident.all_tenants.filter(
        pk__in=ids, is_drill=True, organisation__drill_webhooks_enabled=False
    ).values_list("pk", flat=True)
    return {str(pk) for pk in drills}


def plan_webhooks(events: list[Event]) -> int:
    """Create one message per (event, subscribed endpoint); 3 queries whatever the fan-out.

    Drill incidents never reach customer endpoints unless their organisation opted in
    (`Organisation.drill_webhooks_enabled`). Paused endpoints still get messages, sent
    when they resume; disabled ones get none.
    """
    public = [e for e in events if e.type in WEBHOOK_EVENT_TYPES]
    if not public:
        return 0
    endpoints: dict[Any, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in WebhookEndpoint.all_tenants.filter(
        organisation_id__in={e.organisation_id for e in public}
    ).exclude(status=WebhookEndpoint.Status.DISABLED):
        endpoints[endpoint.organisation_id].append(endpoint)
    drills = _drill_incident_ids(public)
    messages = []
    for event in public:
        incident = event.payload.get("incident")
        if isinstance(incident, dict) and incident.get("id") in drills:
            continue
        body = envelope(event)
        for endpoint in endpoints.get(event.organisation_id, ()):
            if event.type == "webhook.test":
                if event.payload.get("endpoint_id") != str(endpoint.pk):
                    continue
            elif endpoint.event_types and event.type not in endpoint.event_types:
                continue
            messages.append(
                WebhookMessage(
                    organisation_id=event.organisation_id,
                    endpoint=endpoint,
                    event=event,
                    event_type=event.type,
                    body=body,
                    next_attempt_at=event.occurred_at,
                )
            )
    WebhookMessage.all_tenants.bulk_create(messages, ignore_conflicts=True, batch_size=1000)
    return len(messages)


def outbox_relay(*, batch: int = BATCH) -> int:
    """Dispatch every undispatched event, batch by batch; returns how many were dispatched."""
    dispatched = 0
    side = _side_connection_allowed()
    while True:
        with transaction.atomic():
            events = list(
                Event.all_tenants.select_for_update(skip_locked=True, no_key=True)
                .filter(dispatched_at__isnull=True)
                .order_by("occurred_at", "seq")[:batch]
            )
            if not events:
                return dispatched
            plan = notification_plan(events)
            chunk = settings.RELAY_CHUNK_NOTIFICATIONS
            if side and 0 < chunk < plan.size:
                _insert_ahead(plan, chunk)
            else:
                plan.insert()
            plan.start_escalations()
            planned = plan_webhooks(events)
            Event.all_tenants.filter(pk__in=[e.pk for e in events]).update(
                dispatched_at=timezone.now()
            )
            if planned:
                transaction.on_commit(wake_delivery, robust=True)
            if plan.size or any(e.type in NOTIFIABLE for e in events):
                transaction.on_commit(wake_notifications, robust=True)
        dispatched += len(events)
        if len(events) < batch:
            return dispatched


def _side_connection_allowed() -> bool:
    """Chunks are committed on a second connection: only on PostgreSQL, and only when the relay
    is not inside someone else's transaction (that connection could not see its rows)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _insert_ahead(plan: NotificationPlan, size: int) -> None:
    """Insert and commit the plan's notifications chunk by chunk on a second connection, waking
    the delivery workers after the first, while this transaction holds the events (FOR NO KEY
    UPDATE, so the chunks' foreign-key checks are not blocked) and marks them dispatched only
    after every chunk is in. If anything fails before that, the events stay undispatched and
    the next relay plans them again; the committed rows are skipped (unique per event,
    recipient and method), so nothing is lost and nothing is sent twice."""
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with side.cursor() as cursor:  # never wait forever on a lock: fail, and plan again later
            cursor.execute("SET lock_timeout = '10s'")
        for number, chunk in enumerate(plan.chunks(size)):
            chunk.insert(db=side)  # autocommit
            if number == 0:
                wake_notifications()
    finally:
        side.close()


def wake_delivery() -> None:
    from notifications.tasks import webhook_deliver_task

    try:
        webhook_deliver_task.delay()
    except Exception:  # beat delivers due messages anyway
        logger.warning("could not wake the webhook workers", exc_info=True)


def wake_notifications() -> None:
    from notifications.tasks import escalation_advance_task, notification_deliver_task

    try:
        escalation_advance_task.delay()
        notification_deliver_task.delay()
    except Exception:  # beat sends due notifications anyway
        logger.warning("could not wake the notification workers", exc_info=True)


def wake_relay() -> None:
    from notifications.tasks import outbox_relay_task

    try:
        outbox_relay_task.delay()
    except Exception:  # the beat-driven relay picks the events up
        logger.warning("could not wake the outbox relay", exc_info=True)


def schedule_relay(event: Event, actor: Actor) -> None:
    """Subscriber of every event: wake the relay once after the transaction commits."""
    connection = transaction.get_connection()
    if any(callback is wake_relay for _, callback, _ in connection.run_on_commit):
        return
    transaction.on_commit(wake_relay, robust=True)
