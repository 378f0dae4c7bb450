"""Log-in lockout: after LOGIN_FAILURE_LIMIT failures for one address (from anywhere) within
LOGIN_LOCKOUT_SECONDS, that address cannot log in until the window passes.

Counted in the shared cache (Redis in production). If the cache is down the check fails open
and says so in the log: a cache outage must not lock everyone out.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def _key(email: str) -> str:
    return "login-failures:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _seconds_left(key: str) -> int | None:
    """The counter's remaining TTL, or None when the backend cannot tell. django-redis offers
    `cache.ttl`; Django's own RedisCache (ours) only through its redis-py client."""
    ttl = getattr(cache, "ttl", None)
    if callable(ttl):
        return ttl(key)  # type: ignore[no-any-return]
    client_for = getattr(getattr(cache, "_cache", None), "get_client", None)
    if callable(client_for):
        seconds = client_for(key).ttl(cache.make_and_validate_key(key))
        return int(seconds) if seconds > 0 else None
    return None


def login_locked_for(email: str) -> int:
    """Seconds the address stays locked (0 when it may try)."""
    try:
        failures = cache.get(_key(email), 0)
        if failures < settings.LOGIN_FAILURE_LIMIT:
            return 0
        return int(_seconds_left(_key(email)) or settings.LOGIN_LOCKOUT_SECONDS)
    except Exception:
        logger.warning("lockout cache unavailable; log-in allowed", exc_info=True)
        return 0


def login_failed(email: str) -> None:
    """Count one failure; the window starts at the first failure."""
    key = _key(email)
    try:
        if not cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS):
            cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    except Exception:
        logger.warning("lockout cache unavailable; failure not counted", exc_info=True)


def login_succeeded(email: str) -> None:
    try:
        cache.delete(_key(email))
    except Exception:
        logger.warning("lockout cache unavailable", exc_info=True)
