"""Background work of monitoring (queue `ingest`): the due-poll sweeper and one poll per task."""

from __future__ import annotations

from celery import shared_task

from monitoring.services import source_poll, sources_claim_due

SWEEP_LIMIT = 200


@shared_task(name="monitoring.poll_due", ignore_result=True)
def sources_poll_due_task() -> int:
    """Claim due sources (SKIP LOCKED + lease) and start one poll task per claimed source."""
    claimed = sources_claim_due(limit=SWEEP_LIMIT)
    for source_id, token in claimed:
        source_poll_task.delay(source_id, token)
    return len(claimed)


@shared_task(name="monitoring.poll", ignore_result=True, acks_late=True)
def source_poll_task(source_id: str, token: str) -> str:
    """Poll one source under the lease `token`; a duplicate or late delivery finds the lease
    gone and does nothing."""
    return source_poll(source_id=source_id, token=token).status
