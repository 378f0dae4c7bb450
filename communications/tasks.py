"""Background work of communications: sending publications, scheduled publishing, expiry."""

from celery import shared_task

from communications import services


@shared_task(name="communications.deliver", ignore_result=True, acks_late=True)
def message_deliver_task(message_id: str) -> str:
    """Send a publishing message's channels (claims make a repeated task harmless)."""
    return services.message_deliver(message_id=message_id)


@shared_task(name="communications.publish_due", ignore_result=True)
def message_publish_due_sweep_task() -> int:
    """Start publishing scheduled messages whose time has come."""
    return services.message_publish_due_sweep()


@shared_task(name="communications.expire", ignore_result=True)
def message_expire_sweep_task() -> int:
    """Expire messages pending review too long or whose approval lapsed."""
    return services.message_expire_sweep()


@shared_task(name="communications.requeue_publishing", ignore_result=True)
def message_requeue_publishing_task() -> int:
    """Wake the worker again for messages stuck in publishing."""
    return services.message_requeue_publishing()


@shared_task(name="communications.retry_failed", ignore_result=True)
def message_retry_sweep_task() -> int:
    """Publish again messages that failed for transient reasons, with backoff."""
    return services.message_retry_sweep()
