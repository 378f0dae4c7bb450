"""/healthz (the process answers) and /readyz (database, cache and broker reachable; "degraded"
when the outbox relay lags: still ready to serve requests, but notifications are late)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse

from crisis_api.api.errors import require_get
from crisis_api.celery import app as celery_app

PROBLEM = "application/problem+json"
logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = "readyz:probe"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was stored")


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
}


@require_get
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_get
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"ok": True}
        except Exception as exc:  # the detail goes to the log, not to anonymous callers
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = {"ok": False, "error": type(exc).__name__}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    failing = [name for name, result in results.items() if not result["ok"]]
    if failing:
        body = {
            "type": "urn:crisis-api:problem:not_ready",
            "title": "Service Unavailable",
            "status": 503,
            "detail": f"Not ready: {', '.join(failing)} failing.",
            "instance": request.path,
            "code": "not_ready",
            "checks": results,
        }
        return JsonResponse(body, status=503, content_type=PROBLEM)
    outbox = _outbox_state()
    status = "ok" if outbox["ok"] else "degraded"
    results["outbox"] = outbox
    return JsonResponse({"status": status, "checks": results, "broker": _broker_kind()})


def _outbox_state() -> dict[str, object]:
    """The relay's lag against OUTBOX_LAG_DEGRADED_SECONDS (a worker problem, not a web one)."""
    from notifications.audit import outbox_lag_get

    lag = outbox_lag_get()
    return {
        "ok": lag.oldest_age_seconds <= settings.OUTBOX_LAG_DEGRADED_SECONDS,
        "lag_seconds": round(lag.oldest_age_seconds, 1),
        "undispatched": lag.undispatched,
        "threshold_seconds": settings.OUTBOX_LAG_DEGRADED_SECONDS,
    }


def _broker_kind() -> str:
    return str(settings.CELERY_BROKER_URL).split(":", 1)[0]
