"""Rate limits per principal (a user across their credentials, or an API key), counted in
the shared cache (Redis).

Throttles are for fairness, not security (DRF admits races); they fail open if Redis is down so
an outage of the cache does not take the API down with it. Hard quotas live in the database.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rest_framework.throttling import SimpleRateThrottle

from organisations.models import ApiKey, AuthToken

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


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


class CredentialRateThrottle(SimpleRateThrottle):
    """`credential` rate for authenticated callers, `anon` rate per client address otherwise."""

    scope = "credential"

    def __init__(self) -> None:  # rate is chosen per request in allow_request
        pass

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        principal = principal_of(request)
        return f"throttle:{self.scope}:{principal or self.get_ident(request)}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = "credential" if principal_of(request) else "anon"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception:  # cache unreachable: fail open, loudly
            logger.warning("throttle cache unavailable; request allowed", exc_info=True)
            return True


class LoginRateThrottle(CredentialRateThrottle):
    """Log-in and password-reset attempts per client address."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = "login"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return SimpleRateThrottle.allow_request(self, request, view)
        except Exception:
            logger.warning("throttle cache unavailable; request allowed", exc_info=True)
            return True

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return f"throttle:login:{self.get_ident(request)}"
