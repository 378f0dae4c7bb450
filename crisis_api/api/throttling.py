"""Rate limits per principal (a user across their credentials, or an API key), counted in
the shared cache (Redis): a fixed-window counter, one INCR+EXPIRE round trip per request.

Throttles are for fairness, not security (they allow a burst of up to twice the rate across a
window boundary); they fail open if Redis is down so an outage of the cache does not take the
API down with it. Hard quotas (paid channels) live in the database.
"""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from organisations.models import ApiKey, AuthToken

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)
DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def principal_of(request: Request) -> str | None:
    """Who is calling, for rate limits: an API key, or a user whatever their credential (so
    minting more app tokens does not buy more requests). None when anonymous."""
    if isinstance(request.auth, ApiKey):
        return f"api_key:{request.auth.pk}"
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return None


def credential_of(request: Request) -> str | None:
    """The credential itself, for idempotency keys: an API key, an app token, or the user's
    browser session. None when anonymous."""
    if isinstance(request.auth, AuthToken):
        return f"token:{request.auth.pk}"
    return principal_of(request)


@cache
def _redis() -> redis.Redis | None:
    url: str | None = settings.REDIS_URL
    if not url:
        return None
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def _count(key: str, window: int) -> int:
    """Increment the window's counter and return it (one round trip on Redis)."""
    client = _redis()
    prefixed = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{key}"
    if client is None:
        if django_cache.add(prefixed, 1, timeout=window):
            return 1
        return int(django_cache.incr(prefixed))
    pipe = client.pipeline(transaction=False)
    pipe.incr(prefixed)
    pipe.expire(prefixed, window, nx=True)
    count, _ = pipe.execute()
    return int(count)


def parse_rate(rate: str) -> tuple[int, int]:
    number, period = rate.split("/")
    return int(number), DURATIONS[period[0]]


class CredentialRateThrottle(BaseThrottle):
    """`credential` rate for authenticated callers, `anon` rate per client address otherwise."""

    THROTTLE_RATES: ClassVar[dict[str, Any]] = api_settings.DEFAULT_THROTTLE_RATES

    def scope_and_key(self, request: Request) -> tuple[str, str]:
        principal = principal_of(request)
        if principal is not None:
            return "credential", principal
        return "anon", self.get_ident(request)

    def allow_request(self, request: Request, view: APIView) -> bool:
        scope, who = self.scope_and_key(request)
        limit, window = parse_rate(self.THROTTLE_RATES[scope])
        now = time.time()
        bucket = int(now // window)
        try:
            count = _count(f"throttle:{scope}:{who}:{bucket}", window)
        except Exception:  # cache unreachable: fail open, loudly
            logger.warning("throttle cache unavailable; request allowed", exc_info=True)
            return True
        self._wait = (bucket + 1) * window - now
        return count <= limit

    def wait(self) -> float | None:
        return max(getattr(self, "_wait", 0.0), 1.0)


class LoginRateThrottle(CredentialRateThrottle):
    """Log-in and password-reset attempts per client address."""

    def scope_and_key(self, request: Request) -> tuple[str, str]:
        return "login", self.get_ident(request)
