"""Background work of notifications: the outbox relay and webhook delivery (beat + wake-ups)."""

from celery import shared_task

from notifications import relay, webhooks


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
