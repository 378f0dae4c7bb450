"""Models of notifications: outbound webhooks, and internal channels with escalation."""

from notifications.models.webhooks import (
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
    WebhookSecret,
)

__all__ = ["WebhookAttempt", "WebhookEndpoint", "WebhookMessage", "WebhookSecret"]
