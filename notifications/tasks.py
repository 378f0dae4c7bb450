"""Background work of notifications: the outbox relay and webhook delivery (beat + wake-ups)."""

from celery import shared_task

from notifications import delivery, escalation, relay, webhooks


@shared_task(name="notifications.relay", ignore_result=True)
def outbox_relay_task() -> int:
    """Dispatch undispatched events (idempotent: SKIP LOCKED claims, unique messages)."""
    return relay.outbox_relay()


@shared_task(name="webhooks.deliver", ignore_result=True)
def webhook_deliver_task() -> int:
    """Deliver due webhook messages until none is due (bounded per run)."""
    delivered = 0
    for _ in range(20):
        batch = webhooks.deliver_due(limit=100)
        delivered += batch
        if batch < 100:
            break
    return delivered


@shared_task(name="webhooks.requeue_stale", ignore_result=True)
def webhook_requeue_stale_task() -> int:
    """Put messages whose worker died mid-send back in the queue."""
    return webhooks.requeue_stale()


@shared_task(name="notifications.deliver", ignore_result=True)
def notification_deliver_task() -> int:
    """Send due notifications until none is due (bounded per run)."""
    handled = 0
    for _ in range(50):
        batch = delivery.deliver_due(limit=200)
        handled += batch
        if batch < 200:
            break
    return handled


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
