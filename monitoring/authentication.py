"""Signed inbound push: a request carrying Standard Webhooks headers authenticates as the push
source named in its URL when, and only when, the signature verifies with that source's secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from crisis_api.api.errors import PayloadTooLarge
from crisis_api.api.throttling import CredentialRateThrottle
from monitoring.models import Source
from monitoring.services.push import PushSignatureError, push_signature_verify


@dataclass(frozen=True)
class SignedPush:
    """`request.auth` of a verified push: the source whose secret signed it."""

    source: Source


class PushSignatureAuthentication(BaseAuthentication):
    """Used on the ingest action only; requests without `webhook-signature` fall through to the
    bearer/session authentication (API keys with the `mentions:ingest` scope)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        if "webhook-signature" not in request.headers:
            return None
        kwargs = (request.parser_context or {}).get("kwargs", {})
        source = (
            Source.all_tenants.select_related("organisation")
            .filter(pk=kwargs.get("pk"), organisation__slug=kwargs.get("org"))
            .first()
        )
        if source is None:
            raise exceptions.NotFound()
        try:
            body = request._request.body
        except RequestDataTooBig as exc:
            raise PayloadTooLarge("The request body is larger than the limit.") from exc
        try:
            push_signature_verify(source=source, body=body, headers=request.headers)
        except PushSignatureError as exc:
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from exc
        return AnonymousUser(), SignedPush(source)

    def authenticate_header(self, request: Request) -> str:
        return 'Webhook-Signature realm="crisis-api"'


class PushRateThrottle(CredentialRateThrottle):
    """A signed push counts against its source at the credential rate (not the anonymous
    per-address rate: integrators push from few addresses)."""

    def scope_and_key(self, request: Request) -> tuple[str, str]:
        if isinstance(request.auth, SignedPush):
            return "credential", f"push_source:{request.auth.source.pk}"
        return super().scope_and_key(request)


class PushSignatureScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "monitoring.authentication.PushSignatureAuthentication"
    name = "standardWebhooks"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "webhook-signature",
            "description": (
                "Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds, within 5 "
                "minutes) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>` "
                "with the source's `whsec_` secret)."
            ),
        }
