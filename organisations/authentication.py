"""DRF authentication: `Authorization: Bearer` with an API key (integrators) or an app token
(first-party apps), and Django sessions with CSRF (browsers)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.authentication import SessionAuthentication as DRFSessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request

from organisations.models import ApiKey, AuthToken, User
from organisations.secrets import API_KEY, APP_TOKEN, secret_matches, split_secret

LAST_USED_RESOLUTION = timedelta(minutes=1)


def _touch(credential: ApiKey | AuthToken) -> None:
    """Record use at most once a minute per credential, so reads don't all become writes: the
    row is already loaded, so a fresh `last_used_at` costs no query at all."""
    now = timezone.now()
    last = credential.last_used_at
    if last is not None and last >= now - LAST_USED_RESOLUTION:
        return
    manager = ApiKey.all_tenants if isinstance(credential, ApiKey) else AuthToken.objects
    manager.filter(pk=credential.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)


def api_key_authenticate(raw: str, prefix: str) -> ApiKey:
    key = ApiKey.all_tenants.select_related("organisation").filter(prefix=prefix).first()
    if key is None or not secret_matches(raw, key.key_hash):
        raise AuthenticationFailed("Invalid API key.", code="invalid_api_key")
    if key.revoked_at is not None:
        raise AuthenticationFailed("This API key has been revoked.", code="api_key_revoked")
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise AuthenticationFailed("This API key has expired.", code="api_key_expired")
    _touch(key)
    return key


def app_token_authenticate(raw: str, prefix: str) -> AuthToken:
    token = AuthToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not secret_matches(raw, token.key_hash):
        raise AuthenticationFailed("Invalid token.", code="invalid_token")
    if token.revoked_at is not None or token.expires_at <= timezone.now():
        raise AuthenticationFailed("This token has expired or was revoked.", code="token_expired")
    if not token.user.is_active:
        raise AuthenticationFailed("This account is disabled.", code="user_inactive")
    _touch(token)
    return token


class BearerAuthentication(BaseAuthentication):
    """`Authorization: Bearer cak_…` (API key) or `Bearer crt_…` (a user's app token)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Use `Authorization: Bearer <secret>`.", code="malformed")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("Malformed credential.", code="malformed") from exc
        kind_prefix = split_secret(raw)
        if kind_prefix is None:
            raise AuthenticationFailed("Malformed credential.", code="malformed")
        kind, prefix = kind_prefix
        if kind == API_KEY:
            return AnonymousUser(), api_key_authenticate(raw, prefix)
        if kind == APP_TOKEN:
            token = app_token_authenticate(raw, prefix)
            user: User = token.user
            return user, token
        raise AuthenticationFailed("Unknown kind of credential.", code="malformed")

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="crisis-api"'


class SessionAuthentication(DRFSessionAuthentication):
    """Django session cookie; unsafe methods need the CSRF token (X-CSRFToken header)."""

    def enforce_csrf(self, request: Request) -> None:
        try:
            super().enforce_csrf(request)
        except PermissionDenied as exc:
            raise PermissionDenied(str(exc.detail), code="csrf_failed") from exc
