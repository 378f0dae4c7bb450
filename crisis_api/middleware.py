"""Request-wide plumbing: request id, body size limit, and the fail-closed tenant scope."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_scopes import scope, scopes_disabled

from crisis_api.api.errors import PROBLEM_CONTENT_TYPE, problem
from crisis_api.context import context_scope

Handler = Callable[[HttpRequest], HttpResponse]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Take a caller's X-Request-ID (if sane) or make one; echo it and expose it to events."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        with context_scope({"request_id": request_id}):  # a clean context for every request
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _too_large(request: HttpRequest, limit: int) -> JsonResponse:
    body = problem(
        413,
        "payload_too_large",
        f"The request body is larger than {limit} bytes.",
        instance=request.path,
    )
    return JsonResponse(body, status=413, content_type=PROBLEM_CONTENT_TYPE)


# The inbound push takes batches of up to 1,000 mentions (monitoring/views.py `ingest`).
_INGEST_PATH = re.compile(r"^/api/v1/orgs/[^/]+/sources/[^/]+/ingest/$")


def body_limit(path_info: str) -> int:
    """The largest request body a route accepts: API_INGEST_MAX_BODY_BYTES for the inbound
    push, API_MAX_BODY_BYTES for everything else."""
    if _INGEST_PATH.match(path_info):
        return int(settings.API_INGEST_MAX_BODY_BYTES)
    return int(settings.API_MAX_BODY_BYTES)


class BodySizeLimitMiddleware:
    """Bound every request body to its route's limit (`body_limit`; 413 beyond), before
    anything reads it.

    A declared Content-Length is checked as is. A body streamed without one (chunked) is read
    here up to the limit + 1 byte and handed on with its real length, since Django and DRF
    would otherwise treat it as empty and silently ignore it. A route allowed more than
    Django's own in-memory bound (DATA_UPLOAD_MAX_MEMORY_SIZE, kept at API_MAX_BODY_BYTES for
    every other path, the admin included) has its body read here too, within its limit, so
    `request.body` (which the push signature check needs byte for byte) does not refuse it.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/admin/"):
            return self.get_response(request)
        limit = body_limit(request.path_info)
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared and not declared.isdigit():
            body = problem(400, "bad_request", "Content-Length is not a number.")
            return JsonResponse(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
        if declared and int(declared) > limit:
            return _too_large(request, limit)
        if not declared and "HTTP_TRANSFER_ENCODING" in request.META:
            source = request.META.get("wsgi.input") or getattr(request, "_stream", None)
            raw = source.read(limit + 1) if source is not None else b""
            if len(raw) > limit:
                return _too_large(request, limit)
            _hand_on(request, raw)
        elif declared and int(declared) > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or limit):
            _hand_on(request, request.read())
        return self.get_response(request)


def _hand_on(request: HttpRequest, raw: bytes) -> None:
    """The body, read here, as Django and DRF will read it: `request.body` and the stream."""
    request._body = raw
    request._stream = io.BytesIO(raw)
    request.META["CONTENT_LENGTH"] = str(len(raw))


class TenantScopeMiddleware:
    """Every request runs in an enabled, empty tenant scope; the admin runs unscoped."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/admin/"):
            with scopes_disabled():
                return self.get_response(request)
        with scope():
            return self.get_response(request)
