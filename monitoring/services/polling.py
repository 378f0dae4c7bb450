"""Polling: the beat sweeper claims due sources (`FOR UPDATE SKIP LOCKED` plus a lease token),
a task polls one claimed source, stores the batch and only then advances its cursor, and every
failure lands on the source's health with a readable reason and an exponential backoff.

A poll never runs twice at once for one source: the claim sets `lease_token`/`lease_until`
only where no live lease exists, and the poll writes its outcome only while its token still
holds the lease (a worker that outlived its lease finds it gone and stores nothing).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crisis_api.net import guarded_session, per_thread
from crisis_api.tenancy import tenant_scope
from monitoring.connectors import Fetched, PollError, connector_for
from monitoring.models import Source
from monitoring.services.ingest import mentions_prepare, mentions_store
from monitoring.services.sources import credentials_of, source_lease_seconds
from organisations.events import Actor, event_record, subject_of

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
MAX_RETRY_AFTER = timedelta(hours=24)
POLLER = Actor.system("poller")


def _due(now: datetime) -> Q:
    return (
        Q(status=Source.Status.ACTIVE, next_poll_at__lte=now)
        & ~Q(kind=Source.Kind.PUSH)
        & (Q(backoff_until__isnull=True) | Q(backoff_until__lte=now))
        & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    )


def sources_claim_due(*, limit: int = 100, now: datetime | None = None) -> list[tuple[str, str]]:
    """Claim up to `limit` due sources for this sweep: [(source id, lease token)]. Rows another
    sweep is claiming are skipped, not waited for; a live lease is never taken over."""
    now = now or timezone.now()
    token = uuid.uuid4()
    lease_until = now + timedelta(seconds=source_lease_seconds())
    with transaction.atomic():
        ids = list(
            Source.all_tenants.select_for_update(skip_locked=True)
            .filter(_due(now))
            .order_by("next_poll_at")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Source.all_tenants.filter(pk__in=ids).filter(_due(now)).update(
            lease_token=token, lease_until=lease_until
        )
        claimed = list(
            Source.all_tenants.filter(pk__in=ids, lease_token=token).values_list("id", flat=True)
        )
    return [(str(pk), str(token)) for pk in claimed]


def source_lease_release(*, source_id: Any, token: Any) -> None:
    """Give a claimed source back to the sweeper, due now (its poll could not be started)."""
    Source.all_tenants.filter(pk=source_id, lease_token=token).update(
        lease_token=None, lease_until=None, next_poll_at=timezone.now()
    )


_local = threading.local()


def _session() -> requests.Session:
    """One guarded session per thread (connections to a platform are reused across polls)."""
    return per_thread(_local, "session", guarded_session)


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did: `stored` new mentions, or the `error` recorded on the source."""

    status: str  # "stored", "failed", "not_claimed", "lease_lost"
    stored: int = 0
    duplicates: int = 0
    error: str = ""


def backoff_for(failures: int, interval_seconds: int, retry_after: timedelta | None) -> timedelta:
    """Exponential from the poll interval (doubled per consecutive failure, capped at 6 h); never
    sooner than the platform's Retry-After (itself capped at 24 h)."""
    exponent = min(max(failures - 1, 0), 16)
    delay = min(timedelta(seconds=interval_seconds * 2**exponent), MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def _holding(source_id: Any, token: Any) -> Source | None:
    return (
        Source.all_tenants.select_for_update()
        .select_related("organisation")
        .filter(pk=source_id, lease_token=token)
        .first()
    )


def _record_failure(source_id: Any, token: Any, reason: str, retry_after: timedelta | None) -> bool:
    """Write the failure on the source's health, back off, release the lease. The first
    failure after a success records `source.failing`; the rest only update the health."""
    with transaction.atomic():
        source = _holding(source_id, token)
        if source is None:
            return False
        now = timezone.now()
        source.consecutive_failures += 1
        delay = backoff_for(source.consecutive_failures, source.poll_interval_seconds, retry_after)
        source.last_polled_at = source.last_error_at = now
        source.last_error = reason[:1000]
        source.backoff_until = source.next_poll_at = now + delay
        source.lease_token = source.lease_until = None
        source.save(
            update_fields=(
                "consecutive_failures",
                "last_polled_at",
                "last_error_at",
                "last_error",
                "backoff_until",
                "next_poll_at",
                "lease_token",
                "lease_until",
            )
        )
        if source.consecutive_failures == 1:
            event_record(
                organisation=source.organisation,
                actor=POLLER,
                type="source.failing",
                subject=subject_of(source),
                payload={"name": source.name, "kind": source.kind, "reason": source.last_error},
            )
    return True


def source_poll(*, source_id: Any, token: Any) -> PollOutcome:
    """Poll one claimed source: fetch (no transaction held), then in one transaction store the
    batch, advance the cursor and record success; any failure leaves the cursor where it was."""
    source = (
        Source.all_tenants.select_related("organisation")
        .filter(pk=source_id, lease_token=token)
        .first()
    )
    if source is None:
        return PollOutcome("not_claimed")
    with tenant_scope(source.organisation_id):
        try:
            fetched: Fetched = connector_for(source.kind).fetch(
                session=_session(),
                config=source.config,
                credentials=credentials_of(source),
                cursor=source.cursor,
            )
            prepared = mentions_prepare(source=source, mentions=fetched.mentions)
        except PollError as exc:
            _record_failure(source_id, token, exc.reason, exc.retry_after)
            return PollOutcome("failed", error=exc.reason)
        except Exception:
            logger.exception("poll of source %s failed unexpectedly", source_id)
            reason = "An internal error interrupted the poll; it will be retried."
            _record_failure(source_id, token, reason, None)
            return PollOutcome("failed", error=reason)
        try:
            return _store(source_id, token, prepared, fetched)
        except Exception:
            logger.exception("storing the poll of source %s failed", source_id)
            reason = "Storing the fetched posts failed; the poll will be retried."
            _record_failure(source_id, token, reason, None)
            return PollOutcome("failed", error=reason)


def _store(source_id: Any, token: Any, prepared: Any, fetched: Fetched) -> PollOutcome:
    with transaction.atomic():
        source = _holding(source_id, token)
        if source is None:
            return PollOutcome("lease_lost")
        prepared.source = source
        result = mentions_store(prepared=prepared, actor=POLLER)
        now = timezone.now()
        recovered = source.consecutive_failures > 0
        source.cursor = fetched.cursor
        source.last_polled_at = source.last_success_at = now
        source.consecutive_failures = 0
        source.backoff_until = None
        source.next_poll_at = now + timedelta(seconds=source.poll_interval_seconds)
        source.lease_token = source.lease_until = None
        source.save(
            update_fields=(
                "cursor",
                "last_polled_at",
                "last_success_at",
                "consecutive_failures",
                "backoff_until",
                "next_poll_at",
                "lease_token",
                "lease_until",
            )
        )
        if recovered:
            event_record(
                organisation=source.organisation,
                actor=POLLER,
                type="source.recovered",
                subject=subject_of(source),
                payload={"name": source.name, "kind": source.kind},
            )
    return PollOutcome("stored", stored=result.stored, duplicates=result.duplicates)
