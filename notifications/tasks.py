"""Background work of notifications: the outbox relay and webhook delivery (beat + wake-ups)."""

from celery import shared_task

from notifications import delivery, escalation, relay, webhooks

DELIVERY_BATCH = 200


@shared_task(name="notifications.relay", ignore_result=True)
def outbox_relay_task() -> int:
    """Dispatch undispatched events (idempotent: SKIP LOCKED claims, unique messages)."""
    return relay.outbox_relay()


@shared_task(name="webhooks.deliver", ignore_result=True)
def webhook_deliver_task() -> int:
    """Deliver one batch of due webhook messages; a full batch first hands the rest on."""
    return webhooks.deliver_due(limit=100, on_full_batch=lambda: webhook_deliver_task.delay())


@shared_task(name="webhooks.requeue_stale", ignore_result=True)
def webhook_requeue_stale_task() -> int:
    """Put messages whose worker died mid-send back in the queue."""
    return webhooks.requeue_stale()


@shared_task(name="notifications.deliver", ignore_result=True)
def notification_deliver_task() -> int:
    """Send one batch of due notifications; a full batch first hands the rest to a sibling
    task, so every worker process joins a large fan-out instead of one looping alone."""
    return delivery.deliver_due(
        limit=DELIVERY_BATCH, on_full_batch=lambda: notification_deliver_task.delay()
    )


@shared_task(name="notifications.escalate", ignore_result=True)
def escalation_advance_task() -> int:
    """Advance escalations whose next step is due, then send what they produced."""
    advanced = escalation.escalation_advance_due()
    if advanced:
        notification_deliver_task.delay()
    return advanced


@shared_task(name="notifications.requeue_stale", ignore_result=True)
def notification_requeue_stale_task() -> int:
    """Put notifications whose worker died mid-send back in the queue."""
    return delivery.requeue_stale()
