"""Rate limits per credential (user, app token or API key), counted in the shared cache (Redis).

Throttles are for fairness, not security (DRF admits races); they fail open if Redis is down so
an outage of the cache does not take the API down with it. Hard quotas live in the database.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rest_framework.throttling import SimpleRateThrottle

from organisations.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


def credential_of(request: Request) -> str | None:
    """A stable name for the credential behind a request, or None when anonymous."""
    if isinstance(request.auth, ApiKey):
        return f"api_key:{request.auth.pk}"
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return None


class CredentialRateThrottle(SimpleRateThrottle):
    """`credential` rate for authenticated callers, `anon` rate per client address otherwise."""

    scope = "credential"

    def __init__(self) -> None:  # rate is chosen per request in allow_request
        pass

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        credential = credential_of(request)
        return f"throttle:{self.scope}:{credential or self.get_ident(request)}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = "credential" if credential_of(request) else "anon"
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
