"""Publishing: only the approved text, each channel once, failures recorded and retryable.

`message_publish` checks (under the message's row lock) that the approved hash is the current
hash, the approval has not lapsed and no check blocks, then creates one Publication per channel
(unique per message, channel and hash) and wakes the publish worker after commit. The worker
claims each publication with a conditional UPDATE before calling the platform, so two workers,
a retried task or a double approval never post twice; `sent` is final.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from communications.adapters import ADAPTERS, EXTERNAL, PublishError
from communications.models import Message, MessageKind, Publication
from communications.services.approvals import latest_check
from communications.services.common import (
    ContentBlockedError,
    NotApprovedError,
    S,
    check_version,
    content_hash_of,
    lock,
    record,
    require_status,
)
from communications.services.replies import case_responded
from incidents.services import incident_public_update_record
from organisations.events import Actor

logger = logging.getLogger(__name__)
P = Publication.Status
STALE_CLAIM = timedelta(minutes=5)
# Transient failures (429, 5xx, network) are retried automatically after these pauses; then
# the message stays failed until someone retries it.
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
PUBLIC_UPDATE_KINDS = (MessageKind.PUBLIC_STATEMENT, MessageKind.STATUS_UPDATE)


def _enqueue(message_id: str) -> None:
    from communications.tasks import message_deliver_task

    transaction.on_commit(lambda: message_deliver_task.delay(message_id))


def publish_locked(message: Message, actor: Actor) -> None:
    """Start publishing a message already locked by the caller's transaction."""
    require_status(message, "publish", S.APPROVED, S.SCHEDULED, S.FAILED)
    if (
        content_hash_of(message) != message.content_hash
        or message.approved_hash != message.content_hash
    ):
        raise NotApprovedError("This text is not the approved one; submit it for approval.")
    now = timezone.now()
    if message.approval_expires_at is None or message.approval_expires_at <= now:
        raise NotApprovedError("The approval has lapsed; submit the message again.")
    check = latest_check(message)
    if check is None or check.blocks:
        raise ContentBlockedError("The content check blocks this text.")
    drill = bool(message.incident and message.incident.is_drill)
    for channel in message.channels:
        publication, created = Publication.all_tenants.get_or_create(
            message=message,
            channel=channel,
            content_hash=message.content_hash,
            defaults={"organisation_id": message.organisation_id},
        )
        if created and drill and channel in EXTERNAL:
            publication.status, publication.error = P.SKIPPED, "drill: never published outside"
            publication.save(update_fields=("status", "error"))
        elif publication.status == P.FAILED:  # an explicit retry
            publication.status, publication.error = P.PENDING, ""
            publication.save(update_fields=("status", "error"))
    previous = message.status
    message.status = S.PUBLISHING
    message.failure_reason = ""
    message.version += 1
    message.updated_at = now
    message.save(update_fields=("status", "failure_reason", "version", "updated_at"))
    record(
        message,
        actor,
        "message.publish_requested",
        {
            "from": previous,
            "content_hash": message.content_hash,
            "channels": message.channels,
            "drill": drill,
        },
    )
    _enqueue(str(message.pk))


@transaction.atomic
def message_publish(
    *, message: Message, actor: Actor, expected_version: int | None = None
) -> Message:
    """Publish an approved (or scheduled, or failed: a retry) message now."""
    message = lock(message)
    check_version(message, expected_version)
    publish_locked(message, actor)
    return message


def _claim(publication: Publication, now: datetime) -> bool:
    claimable = Q(status=P.PENDING) | Q(status=P.SENDING, claimed_at__lt=now - STALE_CLAIM)
    return bool(
        Publication.all_tenants.filter(pk=publication.pk)
        .filter(claimable)
        .update(status=P.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )


def message_deliver(*, message_id: Any) -> str:
    """Send every claimable publication of the message, then settle its status."""
    message = Message.all_tenants.select_related("organisation", "incident").get(pk=message_id)
    if message.status != S.PUBLISHING:
        return message.status
    for publication in Publication.all_tenants.filter(
        message=message, content_hash=message.content_hash
    ).order_by("channel"):
        if not _claim(publication, timezone.now()):
            continue
        publication.refresh_from_db()
        try:
            sent = ADAPTERS[publication.channel].send(publication, message)
        except PublishError as exc:
            Publication.all_tenants.filter(pk=publication.pk, status=P.SENDING).update(
                status=P.FAILED, error=exc.reason, retryable=exc.retryable
            )
            logger.info("publication %s failed: %s", publication.pk, exc.reason)
            continue
        Publication.all_tenants.filter(pk=publication.pk, status=P.SENDING).update(
            status=P.SENT,
            external_id=sent.external_id[:500],
            external_url=sent.url[:500],
            sent_at=timezone.now(),
            error="",
        )
    return message_settle(message_id=message.pk)


@transaction.atomic
def message_settle(*, message_id: Any) -> str:
    """Published when every channel is sent (or skipped for a drill); failed when one failed
    and none is still in flight. Publishing a statement restarts the incident's update clock."""
    message = lock(Message(pk=message_id))
    if message.status != S.PUBLISHING:
        return message.status
    publications = list(
        Publication.all_tenants.filter(message=message, content_hash=message.content_hash)
    )
    states = {p.status for p in publications}
    if states & {P.PENDING, P.SENDING}:
        return message.status
    actor = Actor.system("publisher")
    now = timezone.now()
    channels = [
        {
            "channel": p.channel,
            "status": p.status,
            "external_id": p.external_id,
            "url": p.external_url,
            "error": p.error,
            "retryable": p.retryable,
        }
        for p in publications
    ]
    message.version += 1
    message.updated_at = now
    if P.FAILED in states:
        failed = [p for p in publications if p.status == P.FAILED]
        message.status, message.failed_at = S.FAILED, now
        message.failure_reason = "; ".join(f"{p.channel}: {p.error}" for p in failed)[:4000]
        message.save(
            update_fields=("status", "failed_at", "failure_reason", "version", "updated_at")
        )
        record(
            message,
            actor,
            "message.failed",
            {
                "reason": message.failure_reason,
                "channels": channels,
                "retryable": all(p.retryable for p in failed),
                "content_hash": message.content_hash,
            },
        )
        return message.status
    message.status, message.published_at = S.PUBLISHED, now
    message.save(update_fields=("status", "published_at", "version", "updated_at"))
    record(
        message,
        actor,
        "message.published",
        {
            "content_hash": message.content_hash,
            "approved_hash": message.approved_hash,
            "channels": channels,
            "title": message.title,
            "body": message.body,
            "status_label": message.status_label,
        },
    )
    if message.incident is not None and message.kind in PUBLIC_UPDATE_KINDS:
        incident_public_update_record(incident=message.incident, actor=actor, published_at=now)
    if message.case_id is not None:
        case_responded(message, actor)
    return message.status


def message_publish_due_sweep(*, now: datetime | None = None, batch: int = 100) -> int:
    """Start publishing scheduled messages whose time has come (SKIP LOCKED: one sweeper wins
    each message). Messages whose approval lapsed are left to the expiry sweep."""
    now = now or timezone.now()
    started = 0
    while True:
        with transaction.atomic():
            due = list(
                Message.all_tenants.select_for_update(skip_locked=True, of=("self",))
                .select_related("organisation", "incident", "incident__severity", "policy")
                .filter(status=S.SCHEDULED, scheduled_for__lte=now, approval_expires_at__gt=now)
                .order_by("scheduled_for")[:batch]
            )
            for message in due:
                try:
                    with transaction.atomic():
                        publish_locked(message, Actor.system("scheduled publishing"))
                        started += 1
                except (NotApprovedError, ContentBlockedError) as exc:
                    logger.warning("scheduled message %s not published: %s", message.pk, exc)
        if len(due) < batch:
            return started


def message_retry_sweep(*, now: datetime | None = None, batch: int = 100) -> int:
    """Publish again failed messages whose every failure was transient, after a backoff that
    grows with the attempts (channels already sent are never sent again)."""
    now = now or timezone.now()
    retried = 0
    with transaction.atomic():
        failed = list(
            Message.all_tenants.select_for_update(skip_locked=True, of=("self",))
            .select_related("organisation", "incident", "incident__severity", "policy")
            .filter(status=S.FAILED, failed_at__lte=now - RETRY_BACKOFF[0])
            .order_by("failed_at")[:batch]
        )
        for message in failed:
            publications = list(
                Publication.all_tenants.filter(
                    message=message, content_hash=message.content_hash, status=P.FAILED
                )
            )
            attempts = max((p.attempts for p in publications), default=len(RETRY_BACKOFF) + 1)
            if not all(p.retryable for p in publications) or attempts > len(RETRY_BACKOFF):
                continue
            assert message.failed_at is not None
            if message.failed_at + RETRY_BACKOFF[attempts - 1] > now:
                continue
            try:
                with transaction.atomic():
                    publish_locked(message, Actor.system("automatic retry"))
                    retried += 1
            except (NotApprovedError, ContentBlockedError) as exc:
                logger.info("failed message %s not retried: %s", message.pk, exc)
    return retried


def message_requeue_publishing() -> int:
    """Wake the worker for messages stuck in publishing (a lost wake-up or a dead worker)."""
    stuck = Message.all_tenants.filter(
        status=S.PUBLISHING, updated_at__lt=timezone.now() - STALE_CLAIM
    ).values_list("pk", flat=True)[:500]
    from communications.tasks import message_deliver_task

    for pk in stuck:
        message_deliver_task.delay(str(pk))
    return len(stuck)


__all__ = [
    "check_version",
    "message_deliver",
    "message_publish",
    "message_publish_due_sweep",
    "message_requeue_publishing",
    "message_retry_sweep",
    "message_settle",
    "publish_locked",
]
