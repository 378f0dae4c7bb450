"""Inputs and outputs of the webhook endpoints and their delivery log."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crisis_api.api.serializers import StrictInput
from notifications.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from notifications.webhooks import WEBHOOK_EVENT_TYPES


class EndpointHealthOutput(serializers.Serializer[Any]):
    consecutive_failures = serializers.IntegerField()
    failing_since = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)
    success_rate = serializers.FloatField(allow_null=True, help_text="Of all attempts, 0..1.")


class SecretHintOutput(serializers.Serializer[Any]):
    hint = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


class WebhookEndpointOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    url = serializers.URLField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=WebhookEndpoint.Status.choices)
    disabled_reason = serializers.CharField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    health = EndpointHealthOutput(source="*")
    secrets = serializers.SerializerMethodField()

    def get_secrets(self, endpoint: WebhookEndpoint) -> list[dict[str, Any]]:
        """Hints of the keys that may sign (never the keys)."""
        rows = getattr(endpoint, "secret_rows", None)
        if rows is None:
            rows = list(endpoint.secrets.all())
        return [SecretHintOutput(row).data for row in rows]


class WebhookEndpointIssuedOutput(WebhookEndpointOutput):
    secret = serializers.CharField(help_text="The signing secret. Shown in this response only.")


class SecretOutput(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text="The new signing secret, shown once.")


class WebhookEndpointCreateInput(StrictInput):
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENT_TYPES), required=False, default=list
    )


class WebhookEndpointUpdateInput(StrictInput):
    url = serializers.URLField(max_length=2000, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENT_TYPES), required=False
    )


class ReplayInput(StrictInput):
    since = serializers.DateTimeField(help_text="Replay failed and exhausted messages since.")


class ReplayOutput(serializers.Serializer[Any]):
    replayed = serializers.IntegerField()


class AttemptOutput(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    succeeded = serializers.BooleanField()
    response_excerpt = serializers.CharField()
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()


class WebhookMessageOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    webhook_id = serializers.CharField(help_text="The `webhook-id` header, stable across retries.")
    endpoint = serializers.UUIDField(source="endpoint_id")
    event_id = serializers.UUIDField()
    event_type = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookMessage.Status.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookMessageDetailOutput(WebhookMessageOutput):
    body = serializers.CharField(help_text="The exact body that is signed and sent.")
    log = serializers.SerializerMethodField()

    def get_log(self, message: WebhookMessage) -> list[dict[str, Any]]:
        """Every attempt, oldest first."""
        attempts: list[WebhookAttempt] = list(message.log.all())
        return [AttemptOutput(a).data for a in attempts]
