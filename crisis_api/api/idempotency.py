"""Idempotency-Key on POST: same key and body replays the first response; other body 422;
still running 409. Keys are scoped to the credential and kept IDEMPOTENCY_TTL_HOURS (≥ 24 h)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crisis_api.api.errors import PROBLEM_CONTENT_TYPE, IdempotencyError, problem
from crisis_api.api.models import IdempotencyRecord
from crisis_api.api.renderers import JSONRenderer
from crisis_api.api.throttling import credential_of

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
LOCK_SECONDS = 60


def _ttl() -> timedelta:
    return timedelta(hours=max(24, getattr(settings, "IDEMPOTENCY_TTL_HOURS", 48)))


class Replay(Exception):
    """Raised during `initial` to short-circuit the handler with the stored response."""

    def __init__(self, record: IdempotencyRecord) -> None:
        self.record = record


def idempotency_claim(*, request: Request) -> IdempotencyRecord | None:
    """Claim the request's key before its handler runs; None when the request carries none."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return None
    if not KEY_PATTERN.match(key):
        raise ValidationError({HEADER: ["Must be 1 to 255 visible ASCII characters."]})
    credential = credential_of(request)
    if credential is None:
        return None
    body = request._request.body
    fingerprint = hashlib.sha256(f"POST {request.path}\n".encode() + body).hexdigest()
    now = timezone.now()
    locked_until = now + timedelta(seconds=LOCK_SECONDS)
    fields: dict[str, Any] = {
        "method": "POST",
        "path": request.path[:500],
        "fingerprint": fingerprint,
        "created_at": now,
        "locked_until": locked_until,
        "expires_at": now + _ttl(),
    }
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(credential=credential, key=key, **fields)
        except IntegrityError:
            pass
        with transaction.atomic():
            record = (
                IdempotencyRecord.objects.select_for_update()
                .filter(credential=credential, key=key)
                .first()
            )
            if record is None:
                continue  # purged between our insert and our read: try again
            if record.expires_at <= now:
                record.delete()
                continue
            if record.fingerprint != fingerprint:
                raise IdempotencyError(
                    "This Idempotency-Key was used with a different request body or path.",
                    status=422,
                    code="idempotency_key_reused",
                )
            if record.completed_at is not None:
                raise Replay(record)
            if record.locked_until > now:
                raise IdempotencyError(
                    "A request with this Idempotency-Key is still being processed; retry later.",
                    status=409,
                    code="idempotency_key_in_flight",
                )
            # The first attempt died mid-flight (its transaction rolled back): take it over.
            record.locked_until = locked_until
            record.save(update_fields=("locked_until",))
            return record
    raise IdempotencyError("Could not claim the Idempotency-Key.", status=409, code="conflict")


def idempotency_complete(
    *, record: IdempotencyRecord, response: Response, secret_fields: tuple[str, ...] = ()
) -> None:
    """Store the response, in the handler's transaction, so replays return the same bytes.

    One-time secrets (e.g. a new API key) are never stored: such a response is kept without
    them and its replay explains that instead of repeating it.
    """
    data = response.data
    withheld = isinstance(data, dict) and any(name in data for name in secret_fields)
    if withheld:
        data = {k: v for k, v in data.items() if k not in secret_fields}
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        completed_at=timezone.now(),
        status_code=response.status_code,
        content=JSONRenderer().render(data),
        location=response.headers.get("Location", ""),
        secret_withheld=withheld,
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forget a claim whose request failed, so the client may retry with the same key."""
    IdempotencyRecord.objects.filter(pk=record.pk, completed_at__isnull=True).delete()


def replay_response(record: IdempotencyRecord) -> HttpResponse:
    if record.secret_withheld:
        body = problem(
            409,
            "idempotent_replay_withheld",
            "The first request with this Idempotency-Key succeeded and its response carried a "
            "one-time secret, which is not kept. The resource is listed in `resource`; if the "
            "secret was lost, revoke it and create another.",
            instance=record.path,
            resource=json.loads(bytes(record.content or b"{}")),
        )
        return JsonResponse(body, status=409, content_type=PROBLEM_CONTENT_TYPE)
    response = HttpResponse(
        bytes(record.content or b""),
        status=record.status_code or 200,
        content_type="application/json",
    )
    response["Idempotency-Replayed"] = "true"
    if record.location:
        response["Location"] = record.location
    return response


class IdempotentDispatchMixin(APIView):
    """DRF's dispatch with an Idempotency-Key claim after authentication and permissions, and
    the handler run in one transaction together with storing its response.

    Also checks throttles before permissions, so refused requests (401/403/404) count against
    the caller's rate too and cannot probe for free.
    """

    idempotency_secret_fields: tuple[str, ...] = ()

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        self.perform_authentication(request)
        self.check_throttles(request)
        self.check_permissions(request)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        record: IdempotencyRecord | None = None
        try:
            self.initial(request, *args, **kwargs)
            method = (request.method or "").lower()
            if method in self.http_method_names:
                handler = getattr(self, method, self.http_method_not_allowed)
            else:
                handler = self.http_method_not_allowed
            record = idempotency_claim(request=request)
            if record is None:
                response = handler(request, *args, **kwargs)
            else:
                with transaction.atomic():
                    response = handler(request, *args, **kwargs)
                    if 200 <= response.status_code < 300:
                        idempotency_complete(
                            record=record,
                            response=response,
                            secret_fields=self.idempotency_secret_fields,
                        )
                        record = None
                    else:
                        transaction.set_rollback(True)
        except Replay as replay:
            return replay_response(replay.record)
        except Exception as exc:
            response = self.handle_exception(exc)
        if record is not None:
            idempotency_release(record=record)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response


def idempotency_purge(*, now: Any = None) -> int:
    """Delete records past their expiry; returns how many went."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
