"""Inbound push: verify a Standard Webhooks signature against the source's secret(s), and
store a batch of already-validated items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crisis_api.api.errors import DomainError
from monitoring.connectors import MentionIn
from monitoring.models import Source
from monitoring.services.ingest import IngestResult, mentions_ingest
from monitoring.services.sources import SourceStateError, push_secrets
from organisations.events import Actor

MAX_BATCH = 1000
TOLERANCE = timedelta(minutes=5)  # the Standard Webhooks reference tolerance
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class PushSignatureError(DomainError):
    """The push is not signed by this source's secret, or the signature is stale (401)."""

    status_code = HTTPStatus.UNAUTHORIZED
    code = "invalid_signature"


class PushStaleError(PushSignatureError):
    code = "stale_timestamp"


class PushBatchTooLargeError(DomainError):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "batch_too_large"


def push_signature_verify(*, source: Source, body: bytes, headers: Mapping[str, str]) -> None:
    """Accept only a body signed (`v1,` HMAC-SHA256 over `id.timestamp.body`) with one of the
    source's current secrets, with a timestamp within 5 minutes of now."""
    missing = [name for name in HEADERS if not headers.get(name)]
    if missing:
        raise PushSignatureError(f"Missing Standard Webhooks headers: {', '.join(missing)}.")
    raw_ts = headers["webhook-timestamp"].strip()
    if not raw_ts.isdigit():
        raise PushSignatureError("webhook-timestamp must be Unix seconds.")
    sent_at = datetime.fromtimestamp(int(raw_ts), tz=UTC)
    if abs(timezone.now() - sent_at) > TOLERANCE:
        raise PushStaleError(
            "webhook-timestamp is more than 5 minutes from our clock; sign each request anew."
        )
    signed = {name: headers[name] for name in HEADERS}
    for key in push_secrets(source):
        try:
            Webhook(key).verify(body, signed)
        except WebhookVerificationError:
            continue
        return
    raise PushSignatureError("The webhook-signature does not match this source's secret.")


def mentions_push(*, source: Source, mentions: Sequence[MentionIn], actor: Actor) -> IngestResult:
    """Store a pushed batch (items validated by the caller) into an active push source."""
    if source.kind != Source.Kind.PUSH:
        raise SourceStateError("Only push sources accept pushed mentions.")
    if source.status != Source.Status.ACTIVE:
        raise SourceStateError("The source is paused; pushed mentions are refused.")
    if len(mentions) > MAX_BATCH:
        raise PushBatchTooLargeError(f"At most {MAX_BATCH} mentions per batch.")
    return mentions_ingest(source=source, mentions=mentions, actor=actor)
