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


class BodySizeLimitMiddleware:
    """Bound every request body to API_MAX_BODY_BYTES (413 beyond), before anything reads it.

    A declared Content-Length is checked as is. A body streamed without one (chunked) is read
    here up to the limit + 1 byte and handed on with its real length, since Django and DRF
    would otherwise treat it as empty and silently ignore it.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.API_MAX_BODY_BYTES
        if request.path.startswith("/admin/"):
            return self.get_response(request)
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
            request._stream = io.BytesIO(raw)
            request.META["CONTENT_LENGTH"] = str(len(raw))
        return self.get_response(request)


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
