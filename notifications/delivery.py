"""Sending notifications: claim due ones (SKIP LOCKED, with a token), enforce the plan's caps
on paid channels in the database, send through the channel adapters (HTTP in a thread pool,
database on the calling thread), record one Delivery per attempt, retry transient failures on
a schedule kept in the database, and take provider receipts (Twilio status callbacks)."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, prefetch_related_objects
from django.utils import timezone

from crisis_api.bulk import insert_columns
from crisis_api.crypto import decrypt
from crisis_api.ops.metrics import DELIVERY_ATTEMPTS
from incidents.models import Incident, RoleAssignment
from incidents.selectors import SEE_RESTRICTED
from notifications.channels import Message, PermanentError, Sent, TransientError, sender_for
from notifications.models import (
    PAID_CHANNELS,
    ChannelUsage,
    ContactMethod,
    Delivery,
    Escalation,
    Notification,
)
from notifications.rendering import render_text, with_ack_link
from organisations.models import Membership, Organisation

logger = logging.getLogger(__name__)
RETRY_SECONDS = (30, 120, 600, 1800, 3600)
CLAIM_SECONDS = 120
STOPPED = (Escalation.Status.ACKNOWLEDGED, Escalation.Status.CANCELLED)
CAP_REACHED = "plan cap reached this month"


def usage_consume(*, organisation: Organisation, channel: str, now: datetime) -> bool:
    """Take one message from this month's cap; False when it is used up."""
    return usage_consume_many(organisation=organisation, channel=channel, wanted=1, now=now) == 1


def usage_consume_many(
    *, organisation: Organisation, channel: str, wanted: int, now: datetime
) -> int:
    """Take up to `wanted` messages from this month's cap at once; returns how many were
    granted. The usage row is locked, so concurrent batches never exceed the cap together."""
    cap = {"sms": organisation.sms_monthly_cap, "email": organisation.email_monthly_cap}[channel]
    period = now.strftime("%Y-%m")
    with transaction.atomic():
        ChannelUsage.objects.get_or_create(
            organisation=organisation, channel=channel, period=period
        )
        usage = ChannelUsage.objects.select_for_update().get(
            organisation=organisation, channel=channel, period=period
        )
        granted = max(0, min(wanted, cap - usage.used))
        if granted:
            usage.used += granted
            usage.save(update_fields=("used",))
    return granted


def _grant_paid(claimed: list[Notification], now: datetime) -> dict[tuple[Any, str], int]:
    """Cap grants for a batch: one locked read-modify-write per organisation and channel,
    not per message. A message is charged once, on its first attempt (retries are free), and
    notifications of acknowledged escalations are not counted."""
    wanted: dict[tuple[Any, str], int] = {}
    organisations: dict[Any, Organisation] = {}
    for notification in claimed:
        escalation = notification.escalation
        if (
            notification.channel not in PAID_CHANNELS
            or notification.attempts > 0
            or (escalation is not None and escalation.status in STOPPED)
        ):
            continue
        key = (notification.organisation_id, notification.channel)
        wanted[key] = wanted.get(key, 0) + 1
        organisations[notification.organisation_id] = notification.organisation
    return {
        (org_id, channel): usage_consume_many(
            organisation=organisations[org_id], channel=channel, wanted=count, now=now
        )
        for (org_id, channel), count in wanted.items()
    }


NO_LONGER_ALLOWED = "the recipient left or may no longer see the incident"


def _still_allowed(claimed: list[Notification]) -> set[Any]:
    """Re-check at send time what planning checked earlier (a notification may wait for a
    delay or quiet hours): the recipient is still a member, and may see a restricted incident.
    Two queries per batch."""
    if not claimed:
        return set()
    roles = {
        (org_id, user_id): role
        for org_id, user_id, role in Membership.all_tenants.filter(
            organisation_id__in={n.organisation_id for n in claimed},
            user_id__in={n.recipient_id for n in claimed},
        ).values_list("organisation_id", "user_id", "role")
    }
    restricted = {
        n.incident.pk
        for n in claimed
        if n.incident is not None and n.incident.visibility == Incident.Visibility.RESTRICTED
    }
    assigned = set(
        RoleAssignment.all_tenants.filter(
            incident_id__in=restricted, unassigned_at__isnull=True
        ).values_list("incident_id", "user_id")
    )
    allowed = set()
    for n in claimed:
        role = roles.get((n.organisation_id, n.recipient_id))
        if role is None:
            continue
        incident = n.incident
        if (
            incident is not None
            and incident.visibility == Incident.Visibility.RESTRICTED
            and role not in SEE_RESTRICTED
            and (incident.pk, n.recipient_id) not in assigned
            and incident.created_by_id != n.recipient_id
        ):
            continue
        allowed.add(n.pk)
    return allowed


# What sending needs of a claimed row; the rest (timestamps, errors) is not loaded.
CLAIMED_FIELDS = (
    "organisation",
    "event",
    "recipient",
    "contact_method",
    "channel",
    "incident",
    "escalation",
    "attempts",
)
# One statement on PostgreSQL: lock the due rows (SKIP LOCKED), mark them claimed and return
# what sending needs, the contact method's encrypted target included. Identifiers are the
# models' own; every value is a bound parameter.
_CLAIM_SQL = """
WITH due AS (
    SELECT id FROM {notification}
    WHERE status = 'pending' AND next_attempt_at <= %s
    ORDER BY next_attempt_at, position
    LIMIT %s
    FOR UPDATE SKIP LOCKED
)
UPDATE {notification} AS n
SET status = 'sending', claim_token = %s, claimed_until = %s
FROM due, {contact_method} AS cm
WHERE n.id = due.id AND cm.id = n.contact_method_id
RETURNING n.id, {fields}, cm.target_ciphertext
"""


def claim_due(*, limit: int, now: datetime | None = None) -> tuple[uuid.UUID, list[Notification]]:
    """Claim up to `limit` due notifications (every recipient's first method first) under a
    new token; each carries `target_ciphertext`, its contact method's encrypted target. The
    batch's organisations, events, incidents and escalations are loaded once each."""
    now = now or timezone.now()
    token = uuid.uuid4()
    until = now + timedelta(seconds=CLAIM_SECONDS)
    if connection.vendor == "postgresql":
        claimed = _claim_returning(now=now, limit=limit, token=token, until=until)
    else:
        claimed = _claim_portable(now=now, limit=limit, token=token, until=until)
    # Prefetched, not joined: a batch usually shares one event, incident and organisation, so
    # each is loaded (and its JSON parsed) once per batch instead of once per row.
    prefetch_related_objects(claimed, "organisation", "event", "incident__severity", "escalation")
    return token, claimed


def _claim_returning(
    *, now: datetime, limit: int, token: uuid.UUID, until: datetime
) -> list[Notification]:
    meta = Notification._meta
    columns = {field.name: field.column for field in meta.concrete_fields}
    fields = ", ".join(f"n.{columns[name]}" for name in CLAIMED_FIELDS)
    sql = _CLAIM_SQL.format(
        notification=meta.db_table, contact_method=ContactMethod._meta.db_table, fields=fields
    )
    return list(Notification.all_tenants.raw(sql, [now, limit, token, until]))


def _claim_portable(
    *, now: datetime, limit: int, token: uuid.UUID, until: datetime
) -> list[Notification]:
    """The same claim in three statements, for databases without UPDATE … RETURNING of a
    locked page (SQLite in development: one writer at a time, so nothing to skip)."""
    with transaction.atomic():
        ids = list(
            Notification.all_tenants.select_for_update(skip_locked=True)
            .filter(status=Notification.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "position")
            .values_list("pk", flat=True)[:limit]
        )
        Notification.all_tenants.filter(pk__in=ids).update(
            status=Notification.Status.SENDING, claim_token=token, claimed_until=until
        )
    return list(
        Notification.all_tenants.filter(pk__in=ids, claim_token=token)
        .only(*CLAIMED_FIELDS)
        .annotate(target_ciphertext=F("contact_method__target_ciphertext"))
    )


def _ciphertext(notification: Notification) -> str:
    """The encrypted target the claim loaded with the notification."""
    return str(notification.__dict__["target_ciphertext"])


MAX_LOST_CLAIMS = 5


def requeue_stale(*, now: datetime | None = None) -> int:
    """Notifications whose worker died mid-send go back to pending; one that has killed its
    worker MAX_LOST_CLAIMS times fails for good instead (a poison message must not loop)."""
    now = now or timezone.now()
    stale = Notification.all_tenants.filter(
        status=Notification.Status.SENDING, claimed_until__lt=now
    )
    stale.filter(lost_claims__gte=MAX_LOST_CLAIMS - 1).update(
        status=Notification.Status.FAILED,
        claim_token=None,
        lost_claims=F("lost_claims") + 1,
        error="the delivering worker died repeatedly",
    )
    return stale.update(
        status=Notification.Status.PENDING,
        claim_token=None,
        next_attempt_at=now,
        lost_claims=F("lost_claims") + 1,
    )


@dataclass(frozen=True)
class Result:
    sent: Sent | None = None
    transient: TransientError | None = None
    permanent: str = ""
    duration_ms: int = 0


FINISH_FIELDS = (
    "attempts",
    "claim_token",
    "claimed_until",
    "status",
    "provider_message_id",
    "sent_at",
    "delivered_at",
    "next_attempt_at",
    "error",
)


def _apply(row: Notification, result: Result, now: datetime) -> Delivery:
    """Move one claimed notification to its outcome; returns its Delivery row (unsaved)."""
    row.attempts += 1
    row.claim_token, row.claimed_until = None, None
    if result.sent is not None:
        status = Delivery.Status.DELIVERED if result.sent.delivered else Delivery.Status.SENT
        row.status = (
            Notification.Status.DELIVERED if result.sent.delivered else Notification.Status.SENT
        )
        row.provider_message_id, row.sent_at, row.error = result.sent.provider_id, now, ""
        if result.sent.delivered:
            row.delivered_at = now
    elif result.transient is not None and row.attempts <= len(RETRY_SECONDS):
        status = Delivery.Status.TRANSIENT_FAILURE
        jitter = random.uniform(0.9, 1.1)  # noqa: S311 - spreading retries, not security
        delay = timedelta(seconds=RETRY_SECONDS[row.attempts - 1] * jitter)
        if result.transient.retry_after:
            delay = max(delay, min(result.transient.retry_after, timedelta(hours=1)))
        row.status, row.next_attempt_at = Notification.Status.PENDING, now + delay
        row.error = str(result.transient)[:500]
    else:
        status = Delivery.Status.PERMANENT_FAILURE
        row.status = Notification.Status.FAILED
        row.error = (result.permanent or str(result.transient))[:500]
    return Delivery(
        organisation_id=row.organisation_id,
        notification=row,
        number=row.attempts,
        attempted_at=now,
        status=status,
        provider_message_id=result.sent.provider_id if result.sent else "",
        error=row.error if result.sent is None else "",
        duration_ms=result.duration_ms,
    )


DELIVERY_COLUMNS = (
    "organisation_id",
    "notification_id",
    "number",
    "attempted_at",
    "status",
    "provider_message_id",
    "error",
    "duration_ms",
)


def _plain(result: Result) -> bool:
    """Sent, no provider id, no receipt: the common outcome, recorded without model rows."""
    return result.sent is not None and not result.sent.provider_id and not result.sent.delivered


def _finish(results: list[tuple[Notification, Result]], token: uuid.UUID) -> None:
    """Record a batch of outcomes in one transaction: rows still claimed by `token` are
    updated together and their Delivery rows inserted by one statement; rows whose claim was
    lost (a stale worker) are left alone. The common case (sent, no provider id) is a single
    UPDATE; only rows whose values differ (provider ids, retry times, errors) are loaded and
    written one by one, through bulk_update."""
    now = timezone.now()
    by_id = {notification.pk: (notification, result) for notification, result in results}
    with transaction.atomic():
        attempts = dict(
            Notification.all_tenants.select_for_update()
            .filter(pk__in=list(by_id), claim_token=token, status=Notification.Status.SENDING)
            .values_list("pk", "attempts")
        )
        plain = [pk for pk in attempts if _plain(by_id[pk][1])]
        Notification.all_tenants.filter(pk__in=plain).update(
            status=Notification.Status.SENT,
            attempts=F("attempts") + 1,
            claim_token=None,
            claimed_until=None,
            sent_at=now,
            error="",
        )
        columns: dict[str, list[Any]] = {name: [] for name in DELIVERY_COLUMNS}
        channels = [by_id[pk][0].channel for pk in plain]
        for pk in plain:
            notification, result = by_id[pk]
            sent = Delivery.Status.SENT.value
            values = (notification.organisation_id, pk, attempts[pk] + 1, now, sent, "", "")
            for name, value in zip(DELIVERY_COLUMNS, (*values, result.duration_ms), strict=True):
                columns[name].append(value)
        plain_ids = set(plain)
        varied = list(
            Notification.all_tenants.filter(pk__in=[pk for pk in attempts if pk not in plain_ids])
        )
        for row in varied:
            channels.append(row.channel)
            delivery = _apply(row, by_id[row.pk][1], now)
            for name in DELIVERY_COLUMNS:
                value = getattr(delivery, name)
                columns[name].append(value.value if isinstance(value, Delivery.Status) else value)
        Notification.all_tenants.bulk_update(varied, FINISH_FIELDS)
        insert_columns(Delivery, columns)
        outcomes = Counter(zip(channels, columns["status"], strict=True))
        transaction.on_commit(lambda: _count_attempts(outcomes))


def _count_attempts(outcomes: Counter[tuple[str, str]]) -> None:
    for (channel, status), n in outcomes.items():
        DELIVERY_ATTEMPTS.labels(channel, status).inc(n)


def _skip(notification: Notification, token: uuid.UUID, status: str, reason: str) -> None:
    Notification.all_tenants.filter(pk=notification.pk, claim_token=token).update(
        status=status, error=reason, claim_token=None, claimed_until=None
    )


def deliver_due(
    *, limit: int = 200, concurrency: int = 16, on_full_batch: Callable[[], object] | None = None
) -> int:
    """Claim and send due notifications; returns how many were handled. When the claim is a
    full batch, `on_full_batch` runs first (the task uses it to start a sibling worker)."""
    token, claimed = claim_due(limit=limit)
    if on_full_batch is not None and len(claimed) == limit:
        _safely(on_full_batch)
    now = timezone.now()
    ready: list[tuple[Notification, str, Message]] = []
    texts: dict[tuple[Any, Any], Message] = {}
    allowed = _still_allowed(claimed)
    claimed_now = [n for n in claimed if n.pk in allowed]
    for notification in claimed:
        if notification.pk not in allowed:
            _skip(notification, token, Notification.Status.SUPPRESSED, NO_LONGER_ALLOWED)
    claimed = claimed_now
    grants = _grant_paid(claimed, now)
    for notification in claimed:
        escalation = notification.escalation
        if escalation is not None and escalation.status in STOPPED:
            _skip(notification, token, Notification.Status.SUPPRESSED, escalation.status)
            continue
        if notification.channel in PAID_CHANNELS and notification.attempts == 0:
            key = (notification.organisation_id, notification.channel)
            if grants.get(key, 0) <= 0:
                _skip(
                    notification, token, Notification.Status.FAILED, "plan cap reached this month"
                )
                continue
            grants[key] -= 1
        text_key = (notification.event_id, notification.incident_id)
        if text_key not in texts:
            texts[text_key] = render_text(event=notification.event, incident=notification.incident)
        message = with_ack_link(texts[text_key], notification.pk)
        ready.append((notification, decrypt(_ciphertext(notification)), message))

    def send(item: tuple[Notification, str, Message]) -> Result:
        notification, target, message = item
        started = time.monotonic()
        try:
            sent = sender_for(notification.channel).send(target, message)
            return Result(sent=sent, duration_ms=_ms(started))
        except TransientError as exc:
            return Result(transient=exc, duration_ms=_ms(started))
        except PermanentError as exc:
            return Result(permanent=str(exc), duration_ms=_ms(started))

    if ready:
        results = list(_send_pool(concurrency).map(send, ready))
        _finish([(item[0], result) for item, result in zip(ready, results, strict=True)], token)
    return len(claimed)


_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _send_pool(size: int) -> ThreadPoolExecutor:
    """This process's sending threads, kept between batches so that each keeps its HTTP
    sessions and e-mail connection warm (a forked worker builds its own)."""
    key = (os.getpid(), size)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="notify")
    return pool


def _safely(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:  # the beat sweep picks the rest up
        logger.warning("could not start a sibling delivery task", exc_info=True)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# Final receipt statuses: Twilio's MessageStatus and django-anymail's tracking event types.
RECEIPT_FINAL = {
    "delivered": True,
    "undelivered": False,
    "failed": False,
    "bounced": False,
    "rejected": False,
}


@transaction.atomic
def provider_receipt(*, provider_message_id: str, status: str) -> bool:
    """Apply a provider's delivery receipt (Twilio MessageStatus, an e-mail provider's tracking
    event through django-anymail); True when it matched a notification."""
    if status not in RECEIPT_FINAL or not provider_message_id:  # "" would match every e-mail
        return False
    notification = (
        Notification.all_tenants.select_for_update()
        .filter(provider_message_id=provider_message_id)
        .first()
    )
    if notification is None:
        return False
    now = timezone.now()
    delivered = RECEIPT_FINAL[status]
    notification.status = Notification.Status.DELIVERED if delivered else Notification.Status.FAILED
    notification.delivered_at = now if delivered else None
    notification.error = "" if delivered else f"provider reported {status}"
    notification.save()
    Delivery.all_tenants.create(
        organisation_id=notification.organisation_id,
        notification=notification,
        number=notification.attempts,
        attempted_at=now,
        status=Delivery.Status.DELIVERED if delivered else Delivery.Status.PERMANENT_FAILURE,
        provider_message_id=provider_message_id,
        error=notification.error,
    )
    return True
