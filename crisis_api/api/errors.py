"""RFC 9457 problem documents for every error, from DRF, Django or our domain services."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = getattr(settings, "PROBLEM_TYPE_BASE", "urn:crisis-api:problem:")

_CODE_FOR_DRF = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "malformed_request",
}


class DomainError(Exception):
    """Base of errors raised by services; views turn them into problem documents."""

    status_code = HTTPStatus.BAD_REQUEST
    code = "domain_error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ConflictError(DomainError):
    """The request is valid but the resource's state does not allow it (e.g. a transition)."""

    status_code = HTTPStatus.CONFLICT
    code = "conflict"


class LimitExceededError(DomainError):
    """A plan limit of the organisation would be exceeded."""

    status_code = HTTPStatus.CONFLICT
    code = "plan_limit_exceeded"


class PermissionDeniedError(DomainError):
    """The caller is known and in the tenant, but this operation is not theirs to do."""

    status_code = HTTPStatus.FORBIDDEN
    code = "permission_denied"


class PayloadTooLarge(exceptions.APIException):
    status_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the limit."
    default_code = "payload_too_large"


class IdempotencyError(exceptions.APIException):
    """Idempotency-Key misuse: reused with another body (422) or still in flight (409)."""

    default_code = "idempotency_error"

    def __init__(self, detail: str, status: int, code: str) -> None:
        super().__init__(detail, code)
        self.status_code = status


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str = "",
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_BASE}{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return body


def flatten_errors(detail: Any, path: str = "") -> list[dict[str, Any]]:
    """Turn DRF's nested error structure into `[{attr, code, detail}]` with dotted paths."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            out.extend(flatten_errors(value, f"{path}.{name}" if path and name else path or name))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in detail):
            return [_error_item(item, path) for item in detail]
        out = []
        for index, item in enumerate(detail):
            out.extend(flatten_errors(item, f"{path}.{index}" if path else str(index)))
        return out
    return [_error_item(detail, path)]


def _error_item(item: Any, path: str) -> dict[str, Any]:
    return {"attr": path or None, "code": getattr(item, "code", "invalid"), "detail": str(item)}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every handled error leaves as application/problem+json."""
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, DomainError):
        body = problem(int(exc.status_code), exc.code, exc.detail, instance=instance, **exc.extra)
        return Response(body, status=exc.status_code, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))
    code = _CODE_FOR_DRF.get(type(exc)) or exc.default_code
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        noun = "problem" if len(errors) == 1 else "problems"
        body = problem(
            exc.status_code,
            code,
            f"The request is invalid: {len(errors)} {noun}, listed in `errors`.",
            instance=instance,
            errors=errors,
        )
    else:
        detail = exc.detail
        if isinstance(detail, exceptions.ErrorDetail):
            code = detail.code if detail.code not in (None, exc.default_code) else code
        body = problem(exc.status_code, str(code), str(detail), instance=instance)
    return Response(
        body, status=exc.status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def _problem_response(request: HttpRequest, status: int, code: str, detail: str) -> JsonResponse:
    body = problem(status, code, detail, instance=request.path)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def require_get(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Plain Django views outside DRF (probes, /metrics): other methods get a 405 problem."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            detail = f'Method "{request.method}" not allowed.'
            response = _problem_response(request, 405, "method_not_allowed", detail)
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper


def _is_admin(request: HttpRequest) -> bool:
    return request.path.startswith("/admin/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin(request):
        return defaults.page_not_found(request, exception or Http404())
    return _problem_response(request, 404, "not_found", "No such resource.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin(request):
        return defaults.bad_request(request, exception or Exception())
    return _problem_response(request, 400, "bad_request", "The request could not be understood.")


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_admin(request):
        return defaults.permission_denied(request, exception or DjangoPermissionDenied())
    return _problem_response(request, 403, "permission_denied", "Not allowed.")


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_admin(request):
        return defaults.server_error(request)
    return _problem_response(
        request, 500, "server_error", "Something went wrong on our side; it has been logged."
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_admin(request):
        from django.views.csrf import csrf_failure as django_csrf_failure

        return django_csrf_failure(request, reason)
    return _problem_response(request, 403, "csrf_failed", f"CSRF verification failed: {reason}")
