"""Outbound webhooks, Standard Webhooks exactly: endpoint management (create, rotate, pause,
test, replay) and delivery (sign, send through the SSRF guard, classify, schedule retries).

Retries follow a schedule kept in the database (`next_attempt_at`), never Celery countdowns:
immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (±10 % jitter), then the
message is exhausted. 2xx is success; redirects are failures; 410 disables the endpoint;
429/503 push the next attempt to at least Retry-After. An endpoint failing for 5 days is
disabled and the organisation's admins are told.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from crisis_api.api.errors import ConflictError, DomainError
from crisis_api.crypto import decrypt, encrypt
from crisis_api.net import UnsafeURLError, check_url, guarded_session, retry_after
from crisis_api.ops.metrics import DELIVERY_ATTEMPTS
from notifications.models import WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookSecret
from organisations.events import Actor, event_record, subject_of
from organisations.models import Membership, Organisation, Role
from organisations.tasks import email_enqueue

logger = logging.getLogger(__name__)

# Event types delivered to customer endpoints (docs/webhooks.md documents each payload).
WEBHOOK_EVENT_TYPES: tuple[str, ...] = (
    "incident.declared",
    "incident.status_changed",
    "incident.severity_changed",
    "incident.role_assigned",
    "incident.public_update_overdue",
    "task.completed",
    "task.overdue",
    "message.submitted",
    "message.approved",
    "message.rejected",
    "message.published",
    "message.failed",
    "playbook.published",
    "playbook_run.started",
    "playbook_run.step_overdue",
    "playbook_run.completed",
    "drill.completed",
    "signal.created",
    "signal.escalated",
    "case.created",
    "case.responded",
    "case.resolved",
    "webhook.test",
)
RETRY_SCHEDULE_SECONDS: tuple[int, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.1
DISABLE_AFTER = timedelta(days=5)
CLAIM_SECONDS = 120
EXCERPT_CHARS = 1000
ROTATION_OVERLAP = timedelta(hours=24)
MAX_RETRY_AFTER = timedelta(hours=24)


# --- secrets ------------------------------------------------------------------------------------


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _store_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookSecret:
    return WebhookSecret.all_tenants.create(
        organisation_id=endpoint.organisation_id,
        endpoint=endpoint,
        ciphertext=encrypt(secret),
        hint=secret[:10],
    )


def signing_secrets(endpoint_ids: Iterable[Any], now: datetime) -> dict[Any, list[str]]:
    """Per endpoint, every key that signs right now: the newest, plus rotated ones still in
    their overlap. One query for any number of endpoints."""
    rows = (
        WebhookSecret.all_tenants.filter(endpoint_id__in=list(endpoint_ids))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-created_at")
    )
    keys: dict[Any, list[str]] = {}
    for row in rows:
        keys.setdefault(row.endpoint_id, []).append(decrypt(row.ciphertext))
    return keys


def sign(*, webhook_id: str, timestamp: datetime, body: str, keys: Iterable[str]) -> str:
    """The `webhook-signature` header: one `v1,<base64>` per key, space-separated."""
    return " ".join(Webhook(key).sign(webhook_id, timestamp, body) for key in keys)


# --- endpoint management ------------------------------------------------------------------------


def _check_event_types(event_types: Iterable[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        raise DomainError(f"Unknown event types: {', '.join(unknown)}.")
    return sorted(set(event_types))


def _check_url(url: str) -> None:
    try:
        check_url(url)
    except UnsafeURLError as exc:
        raise DomainError(f"url: {exc}") from exc


def _record(endpoint: WebhookEndpoint, actor: Actor, type: str, payload: dict[str, Any]) -> None:
    event_record(
        organisation=endpoint.organisation,
        actor=actor,
        type=type,
        subject=subject_of(endpoint),
        payload={"url": url_hint(endpoint.url), **payload},
    )


def url_hint(url: str) -> str:
    """Scheme and host only: paths and queries of webhook URLs often carry tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: WebhookEndpoint
    secret: str


@transaction.atomic
def webhook_endpoint_create(
    *,
    organisation: Organisation,
    actor: Actor,
    url: str,
    description: str = "",
    event_types: Iterable[str] = (),
) -> IssuedEndpoint:
    """Register an endpoint (URL checked against the SSRF guard); the secret is shown once."""
    _check_url(url)
    endpoint = WebhookEndpoint.all_tenants.create(
        organisation=organisation,
        url=url,
        description=description,
        event_types=_check_event_types(event_types),
        created_by_id=actor.user_id,
    )
    secret = _new_secret()
    _store_secret(endpoint, secret)
    _record(endpoint, actor, "webhook_endpoint.created", {"event_types": endpoint.event_types})
    return IssuedEndpoint(endpoint, secret)


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, actor: Actor, **fields: Any
) -> WebhookEndpoint:
    """Change URL, description or event types."""
    if "url" in fields:
        _check_url(fields["url"])
    if "event_types" in fields:
        fields["event_types"] = _check_event_types(fields["event_types"])
    changes = {
        k: {"from": getattr(endpoint, k), "to": v}
        for k, v in fields.items()
        if getattr(endpoint, k) != v
    }
    if "url" in changes:
        changes["url"] = {"from": url_hint(endpoint.url), "to": url_hint(fields["url"])}
    if not changes:
        return endpoint
    for name in changes:
        setattr(endpoint, name, fields[name])
    endpoint.updated_at = timezone.now()
    endpoint.save()
    _record(endpoint, actor, "webhook_endpoint.updated", {"changes": changes})
    return endpoint


@transaction.atomic
def webhook_endpoint_set_status(
    *, endpoint: WebhookEndpoint, actor: Actor, status: str, reason: str = ""
) -> WebhookEndpoint:
    """Pause, resume (also re-enables a disabled endpoint) or disable an endpoint."""
    endpoint = WebhookEndpoint.all_tenants.select_for_update().get(pk=endpoint.pk)
    if endpoint.status == status:
        return endpoint
    now = timezone.now()
    endpoint.status = status
    if status == WebhookEndpoint.Status.DISABLED:
        endpoint.disabled_at, endpoint.disabled_reason = now, reason
    else:
        endpoint.disabled_at, endpoint.disabled_reason = None, ""
        if status == WebhookEndpoint.Status.ACTIVE:
            endpoint.consecutive_failures, endpoint.failing_since = 0, None
    endpoint.updated_at = now
    endpoint.save()
    _record(endpoint, actor, f"webhook_endpoint.{_verb(status)}", {"reason": reason})
    return endpoint


def _verb(status: str) -> str:
    return {"active": "resumed", "paused": "paused", "disabled": "disabled"}[status]


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Remove an endpoint with its delivery log."""
    _record(endpoint, actor, "webhook_endpoint.deleted", {})
    endpoint.delete()


@transaction.atomic
def webhook_secret_rotate(
    *, endpoint: WebhookEndpoint, actor: Actor, overlap: timedelta = ROTATION_OVERLAP
) -> str:
    """A new secret signs from now on; current ones keep signing for `overlap` (both sent)."""
    now = timezone.now()
    WebhookSecret.all_tenants.filter(endpoint=endpoint).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now + overlap)
    ).update(expires_at=now + overlap)
    secret = _new_secret()
    _store_secret(endpoint, secret)
    _record(endpoint, actor, "webhook_endpoint.secret_rotated", {"overlap_until": now + overlap})
    return secret


@transaction.atomic
def webhook_endpoint_test(*, endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Send a `webhook.test` event to this endpoint only (through the normal pipeline)."""
    event_record(
        organisation=endpoint.organisation,
        actor=actor,
        type="webhook.test",
        subject=subject_of(endpoint),
        payload={"endpoint_id": str(endpoint.pk), "message": "Hello from crisis-api."},
    )


@transaction.atomic
def webhook_message_replay(*, message: WebhookMessage, actor: Actor) -> WebhookMessage:
    """Deliver a message again, now, with the same `webhook-id` (a fresh retry cycle)."""
    message = WebhookMessage.all_tenants.select_for_update().get(pk=message.pk)
    if message.status == WebhookMessage.Status.SENDING:
        raise ConflictError("The message is being delivered right now.")
    message.status, message.attempts = WebhookMessage.Status.PENDING, 0
    message.next_attempt_at, message.claim_token = timezone.now(), None
    message.save()
    event_record(
        organisation=message.endpoint.organisation,
        actor=actor,
        type="webhook_message.replayed",
        subject=subject_of(message.endpoint),
        payload={"webhook_id": message.webhook_id, "event_type": message.event_type},
    )
    return message


@transaction.atomic
def webhook_replay_failed(*, endpoint: WebhookEndpoint, actor: Actor, since: datetime) -> int:
    """Replay every failed or exhausted message of the endpoint created since `since`."""
    count = WebhookMessage.all_tenants.filter(
        endpoint=endpoint,
        created_at__gte=since,
        status__in=(WebhookMessage.Status.FAILED, WebhookMessage.Status.EXHAUSTED),
    ).update(
        status=WebhookMessage.Status.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        claim_token=None,
    )
    _record(endpoint, actor, "webhook_endpoint.replayed", {"since": since, "messages": count})
    return count


# --- delivery -----------------------------------------------------------------------------------


def envelope(event: Any) -> str:
    """The exact body sent (and signed) for an event: `{type, timestamp, data}`."""
    occurred = event.occurred_at.isoformat().replace("+00:00", "Z")
    body = {
        "type": event.type,
        "timestamp": occurred,
        "data": {
            "event_id": str(event.id),
            "seq": event.seq,
            "organisation": {"id": str(event.organisation_id)},
            "subject": {"type": event.subject_type, "id": event.subject_id},
            "actor": {"type": event.actor_type, "id": event.actor_id, "label": event.actor_label},
            "payload": event.payload,
        },
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def claim_due(*, limit: int, now: datetime | None = None) -> tuple[uuid.UUID, list[WebhookMessage]]:
    """Claim due messages of active endpoints (SKIP LOCKED), marking them sending under a token."""
    now = now or timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        ids = list(
            WebhookMessage.all_tenants.select_for_update(skip_locked=True)
            .filter(
                status=WebhookMessage.Status.PENDING,
                next_attempt_at__lte=now,
                endpoint__status=WebhookEndpoint.Status.ACTIVE,
            )
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookMessage.all_tenants.filter(pk__in=ids).update(
            status=WebhookMessage.Status.SENDING,
            claim_token=token,
            claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
        )
    messages = list(
        WebhookMessage.all_tenants.filter(pk__in=ids, claim_token=token).select_related(
            "endpoint__organisation"
        )
    )
    return token, messages


MAX_LOST_CLAIMS = 5


def requeue_stale(*, now: datetime | None = None) -> int:
    """Messages whose worker died mid-send go back to pending (same webhook-id on retry); one
    that has killed its worker MAX_LOST_CLAIMS times is failed instead of looping forever."""
    now = now or timezone.now()
    stale = WebhookMessage.all_tenants.filter(
        status=WebhookMessage.Status.SENDING, claimed_until__lt=now
    )
    stale.filter(lost_claims__gte=MAX_LOST_CLAIMS - 1).update(
        status=WebhookMessage.Status.FAILED, claim_token=None, lost_claims=F("lost_claims") + 1
    )
    return stale.update(
        status=WebhookMessage.Status.PENDING,
        claim_token=None,
        next_attempt_at=now,
        lost_claims=F("lost_claims") + 1,
    )


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(
    session: requests.Session, message: WebhookMessage, keys: list[str], now: datetime
) -> Outcome:
    """One signed POST of the message's exact body (no database access: runs in threads)."""
    endpoint = message.endpoint
    timestamp = now.replace(microsecond=0)
    headers = {
        "content-type": "application/json",
        "user-agent": "crisis-api-webhooks/1",
        "webhook-id": message.webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": sign(
            webhook_id=message.webhook_id, timestamp=timestamp, body=message.body, keys=keys
        ),
    }
    started = time.monotonic()
    try:
        response = session.post(
            endpoint.url,
            data=message.body.encode(),
            headers=headers,
            timeout=(3.05, settings.WEBHOOK_TIMEOUT_SECONDS),
            allow_redirects=False,
        )
    except UnsafeURLError as exc:
        return Outcome(None, "", f"refused by the SSRF guard: {exc}"[:500], _ms(started))
    except requests.RequestException as exc:
        return Outcome(None, "", f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    excerpt = response.text[:EXCERPT_CHARS] if response.content else ""
    asked = retry_after(response) if response.status_code in (429, 503) else None
    capped = min(asked, MAX_RETRY_AFTER) if asked is not None else None
    return Outcome(response.status_code, excerpt, "", _ms(started), capped)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def next_attempt_delay(attempts: int) -> timedelta | None:
    """Delay before attempt `attempts + 1`, with jitter; None when the schedule is exhausted."""
    if attempts >= len(RETRY_SCHEDULE_SECONDS):
        return None
    base = RETRY_SCHEDULE_SECONDS[attempts]
    return timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))  # noqa: S311


@transaction.atomic
def record_outcome(*, message: WebhookMessage, token: uuid.UUID, outcome: Outcome) -> bool:
    """Apply one attempt's outcome if our claim still holds; False when it was lost."""
    now = timezone.now()
    locked = (
        WebhookMessage.all_tenants.select_for_update()
        .filter(pk=message.pk, claim_token=token, status=WebhookMessage.Status.SENDING)
        .first()
    )
    if locked is None:
        return False
    locked.attempts += 1
    WebhookAttempt.all_tenants.create(
        organisation_id=locked.organisation_id,
        message=locked,
        number=locked.attempts,
        attempted_at=now,
        status_code=outcome.status_code,
        response_excerpt=outcome.excerpt,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        succeeded=outcome.succeeded,
    )
    locked.last_attempt_at, locked.last_status_code = now, outcome.status_code
    locked.claim_token, locked.claimed_until = None, None
    endpoint = WebhookEndpoint.all_tenants.select_for_update().get(pk=locked.endpoint_id)
    if outcome.succeeded:
        locked.status = WebhookMessage.Status.SUCCEEDED
        WebhookEndpoint.all_tenants.filter(pk=endpoint.pk).update(
            consecutive_failures=0,
            failing_since=None,
            last_success_at=now,
            success_count=F("success_count") + 1,
        )
    else:
        _record_failure(locked, endpoint, outcome, now)
    locked.save()
    status = "succeeded" if outcome.succeeded else "failed"
    transaction.on_commit(lambda: DELIVERY_ATTEMPTS.labels("webhook_endpoint", status).inc())
    return True


def _record_failure(
    message: WebhookMessage, endpoint: WebhookEndpoint, outcome: Outcome, now: datetime
) -> None:
    endpoint.consecutive_failures += 1
    endpoint.failure_count += 1
    endpoint.failing_since = endpoint.failing_since or now
    endpoint.last_failure_at = now
    endpoint.save(
        update_fields=("consecutive_failures", "failure_count", "failing_since", "last_failure_at")
    )
    system = Actor.system("webhook delivery")
    if outcome.status_code == 410:
        message.status = WebhookMessage.Status.FAILED
        webhook_endpoint_set_status(
            endpoint=endpoint,
            actor=system,
            status=WebhookEndpoint.Status.DISABLED,
            reason="The endpoint answered 410 Gone.",
        )
        _tell_admins(endpoint, "answered 410 Gone")
        return
    delay = next_attempt_delay(message.attempts)
    if delay is None:
        message.status = WebhookMessage.Status.EXHAUSTED
    else:
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        message.status, message.next_attempt_at = WebhookMessage.Status.PENDING, now + delay
    if endpoint.failing_since <= now - DISABLE_AFTER and endpoint.status != "disabled":
        webhook_endpoint_set_status(
            endpoint=endpoint,
            actor=system,
            status=WebhookEndpoint.Status.DISABLED,
            reason=f"Every delivery failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC.",
        )
        _tell_admins(endpoint, "failed for 5 days")


def _tell_admins(endpoint: WebhookEndpoint, why: str) -> None:
    """E-mail the organisation's owners and admins that an endpoint was disabled."""
    emails = Membership.all_tenants.filter(
        organisation_id=endpoint.organisation_id, role__in=(Role.OWNER, Role.ADMIN)
    ).values_list("user__email", flat=True)
    body = (
        f"The webhook endpoint {endpoint.url} {why} and was disabled. Fix it, then "
        "resume it in crisis-api; failed deliveries can be replayed."
    )
    for email in emails:
        transaction.on_commit(
            partial(email_enqueue, to=email, subject="A webhook endpoint was disabled", body=body)
        )


def deliver_due(
    *, limit: int = 100, concurrency: int = 16, on_full_batch: Callable[[], object] | None = None
) -> int:
    """Claim due messages and deliver them, `concurrency` HTTP requests in flight at most.

    The database work (claim, keys, outcomes) stays on this thread; only HTTP runs in the pool.
    A full batch first runs `on_full_batch` (the task starts a sibling for the rest).
    """
    token, messages = claim_due(limit=limit)
    if not messages:
        return 0
    if on_full_batch is not None and len(messages) == limit:
        try:
            on_full_batch()
        except Exception:  # beat delivers the rest
            logger.warning("could not start a sibling delivery task", exc_info=True)
    now = timezone.now()
    keys = signing_secrets({m.endpoint_id for m in messages}, now)
    session = guarded_session()

    def attempt(message: WebhookMessage) -> Outcome:
        return post(session, message, keys.get(message.endpoint_id, []), now)

    with ThreadPoolExecutor(max_workers=min(concurrency, len(messages))) as pool:
        outcomes = list(pool.map(attempt, messages))
    for message, outcome in zip(messages, outcomes, strict=True):
        record_outcome(message=message, token=token, outcome=outcome)
    return len(messages)
