"""HTTP side of operations: request metrics middleware and the /metrics endpoint."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from crisis_api.api.errors import PROBLEM_CONTENT_TYPE, problem, require_get
from crisis_api.ops import state  # noqa: F401  (registers the broker's state source)
from crisis_api.ops.metrics import REQUEST_SECONDS, REQUESTS, metrics_exposition

Handler = Callable[[HttpRequest], HttpResponse]


class RequestMetricsMiddleware:
    """Count and time every request by its route pattern (bounded label values, no ids)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.route if match is not None and match.route else "unmatched"
        REQUEST_SECONDS.labels(request.method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response


@require_get
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. With METRICS_TOKEN set a bearer token is required; in production
    without one the endpoint does not exist (metrics name queues and volumes)."""
    token = settings.METRICS_TOKEN
    if not token and settings.PRODUCTION:
        body = problem(404, "not_found", "Not found.", instance=request.path)
        return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            detail = "A valid metrics token is required."
            body = problem(401, "not_authenticated", detail, instance=request.path)
            response = JsonResponse(body, status=401, content_type=PROBLEM_CONTENT_TYPE)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
