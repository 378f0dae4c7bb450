"""Background work of monitoring (queue `ingest`): the due-poll sweeper and one poll per task."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_process_init

from monitoring.scoring import warm
from monitoring.services import source_poll, sources_claim_due
from monitoring.services.polling import source_lease_release

logger = logging.getLogger(__name__)
SWEEP_LIMIT = 200


@worker_process_init.connect
def _warm_scoring(**kwargs: Any) -> None:
    """Load the scoring engine's Polish dictionary when a worker process starts (seconds),
    not inside the first poll."""
    warm()


def source_poll_enqueue(source_id: str, token: str) -> None:
    """Start the poll of a claimed source; when the broker is unreachable the claim is given
    back so the next sweep (beat) polls it, instead of the lease blocking it for minutes."""
    try:
        source_poll_task.delay(source_id, token)
    except Exception:
        logger.warning("could not enqueue the poll of source %s", source_id, exc_info=True)
        source_lease_release(source_id=source_id, token=token)


@shared_task(name="monitoring.poll_due", ignore_result=True)
def sources_poll_due_task() -> int:
    """Claim due sources (SKIP LOCKED + lease) and start one poll task per claimed source."""
    claimed = sources_claim_due(limit=SWEEP_LIMIT)
    for source_id, token in claimed:
        source_poll_enqueue(source_id, token)
    return len(claimed)


@shared_task(name="monitoring.poll", ignore_result=True, acks_late=True)
def source_poll_task(source_id: str, token: str) -> str:
    """Poll one source under the lease `token`; a duplicate or late delivery finds the lease
    gone and does nothing."""
    return source_poll(source_id=source_id, token=token).status
