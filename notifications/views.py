"""Endpoints for outbound webhooks: endpoints (secret shown once, rotate, pause, resume, test,
replay) and the delivery log (attempts, replay one)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis_api.api.access import ADMINS, allow
from crisis_api.api.viewsets import TenantViewSet
from notifications import webhooks
from notifications.filters import WebhookMessageFilter
from notifications.models import WebhookEndpoint, WebhookMessage, WebhookSecret
from notifications.serializers import (
    ReplayInput,
    ReplayOutput,
    SecretOutput,
    WebhookEndpointCreateInput,
    WebhookEndpointIssuedOutput,
    WebhookEndpointOutput,
    WebhookEndpointUpdateInput,
    WebhookMessageDetailOutput,
    WebhookMessageOutput,
)

READ = allow(ADMINS, "webhooks:read")
WRITE = allow(ADMINS, "webhooks:write")


class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Customer endpoints receiving signed events (Standard Webhooks; see docs/webhooks.md)."""

    model = WebhookEndpoint
    serializer_class = WebhookEndpointOutput
    idempotency_secret_fields = ("secret",)
    access = {
        "list": READ,
        "retrieve": READ,
        "create": WRITE,
        "partial_update": WRITE,
        "destroy": WRITE,
        "rotate_secret": WRITE,
        "pause": WRITE,
        "resume": WRITE,
        "test": WRITE,
        "replay": WRITE,
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        signing = WebhookSecret.all_tenants.exclude(expires_at__lte=now).order_by("-created_at")
        return queryset.prefetch_related(Prefetch("secrets", signing, to_attr="secret_rows"))

    def _output(self, endpoint: WebhookEndpoint) -> dict[str, Any]:
        return dict(WebhookEndpointOutput(self.get_queryset().get(pk=endpoint.pk)).data)

    @extend_schema(request=WebhookEndpointCreateInput, responses={201: WebhookEndpointIssuedOutput})
    def create(self, request: Request, org: str) -> Response:
        data = WebhookEndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = webhooks.webhook_endpoint_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        body = {**self._output(issued.endpoint), "secret": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookEndpointUpdateInput, responses=WebhookEndpointOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        endpoint = self.get_object()
        data = WebhookEndpointUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        webhooks.webhook_endpoint_update(endpoint=endpoint, actor=self.actor, **data.validated_data)
        return Response(self._output(endpoint))

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        webhooks.webhook_endpoint_delete(endpoint=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=SecretOutput)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, org: str, pk: str) -> Response:
        """New secret now; the old one keeps signing for 24 h (both signatures are sent)."""
        secret = webhooks.webhook_secret_rotate(endpoint=self.get_object(), actor=self.actor)
        return Response({"secret": secret})

    def _set_status(self, new_status: str) -> Response:
        endpoint = webhooks.webhook_endpoint_set_status(
            endpoint=self.get_object(), actor=self.actor, status=new_status
        )
        return Response(self._output(endpoint))

    @extend_schema(request=None, responses=WebhookEndpointOutput)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, org: str, pk: str) -> Response:
        """Stop sending; events keep queueing and are sent on resume."""
        return self._set_status(WebhookEndpoint.Status.PAUSED)

    @extend_schema(request=None, responses=WebhookEndpointOutput)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, org: str, pk: str) -> Response:
        """Send again (also re-enables a disabled endpoint)."""
        return self._set_status(WebhookEndpoint.Status.ACTIVE)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, org: str, pk: str) -> Response:
        """Send a `webhook.test` event to this endpoint."""
        webhooks.webhook_endpoint_test(endpoint=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ReplayInput, responses=ReplayOutput)
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, org: str, pk: str) -> Response:
        """Replay every failed or exhausted message since a time."""
        endpoint = self.get_object()
        data = ReplayInput(data=request.data)
        data.is_valid(raise_exception=True)
        count = webhooks.webhook_replay_failed(
            endpoint=endpoint, actor=self.actor, since=data.validated_data["since"]
        )
        return Response({"replayed": count})


class WebhookMessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The delivery log: one message per event and endpoint, with every attempt."""

    model = WebhookMessage
    serializer_class = WebhookMessageOutput
    filterset_class = WebhookMessageFilter
    access = {"list": READ, "retrieve": READ, "replay": WRITE}

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.defer("body") if self.action == "list" else queryset

    @extend_schema(responses=WebhookMessageDetailOutput)
    def retrieve(self, request: Request, org: str, pk: str) -> Response:
        return Response(WebhookMessageDetailOutput(self.get_object()).data)

    @extend_schema(request=None, responses=WebhookMessageOutput)
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, org: str, pk: str) -> Response:
        """Deliver this message again now (same webhook-id)."""
        message = webhooks.webhook_message_replay(message=self.get_object(), actor=self.actor)
        return Response(WebhookMessageOutput(message).data)
