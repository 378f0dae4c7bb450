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


def login_locked_for(email: str) -> int:
    """Seconds the address stays locked (0 when it may try)."""
    try:
        failures = cache.get(_key(email), 0)
        if failures < settings.LOGIN_FAILURE_LIMIT:
            return 0
        ttl = getattr(cache, "ttl", None)
        remaining = ttl(_key(email)) if callable(ttl) else None
        return int(remaining or settings.LOGIN_LOCKOUT_SECONDS)
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
