"""Background work of data retention (queue `default`): the periodic mention purge."""

from __future__ import annotations

from celery import shared_task

from monitoring.services.retention import mentions_purge_expired


@shared_task(name="retention.purge_mentions", ignore_result=True, acks_late=True)
def mentions_purge_expired_task() -> int:
    """Purge mentions past their organisation's retention, a bounded number of batches per run;
    idempotent (what is gone stays gone; SKIP LOCKED keeps overlapping runs apart)."""
    return mentions_purge_expired()
