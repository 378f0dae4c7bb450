"""Models of notifications: outbound webhooks, and internal channels with escalation."""

from notifications.models.channels import (
    PAID_CHANNELS,
    Channel,
    ChannelUsage,
    ContactMethod,
    Delivery,
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    Notification,
    NotificationRule,
)
from notifications.models.webhooks import (
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
    WebhookSecret,
)

__all__ = [
    "PAID_CHANNELS",
    "Channel",
    "ChannelUsage",
    "ContactMethod",
    "Delivery",
    "Escalation",
    "EscalationLevel",
    "EscalationPolicy",
    "Notification",
    "NotificationRule",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
    "WebhookSecret",
]
