"""Periodic housekeeping of the API kit."""

from celery import shared_task

from crisis_api.api.idempotency import idempotency_purge


@shared_task(name="api.idempotency_purge")
def idempotency_purge_task() -> int:
    """Drop idempotency records past their retention (kept at least 24 h)."""
    return idempotency_purge()
