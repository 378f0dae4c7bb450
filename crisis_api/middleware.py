"""Request-wide plumbing: request id, body size limit, and the fail-closed tenant scope."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_scopes import scope, scopes_disabled

from crisis_api.api.errors import PROBLEM_CONTENT_TYPE, problem
from crisis_api.context import request_id_var

Handler = Callable[[HttpRequest], HttpResponse]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Take a caller's X-Request-ID (if sane) or make one; echo it and expose it to events."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class BodySizeLimitMiddleware:
    """Refuse a declared body larger than API_MAX_BODY_BYTES before anything reads it (413)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.API_MAX_BODY_BYTES
        if not declared.isdigit():
            body = problem(400, "bad_request", "Content-Length is not a number.")
            return JsonResponse(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
        if int(declared) > limit and not request.path.startswith("/admin/"):
            body = problem(
                413,
                "payload_too_large",
                f"The request body is larger than {limit} bytes.",
                instance=request.path,
            )
            return JsonResponse(body, status=413, content_type=PROBLEM_CONTENT_TYPE)
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
