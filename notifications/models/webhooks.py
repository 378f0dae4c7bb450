"""Outbound webhooks (Standard Webhooks): endpoints, their signing secrets, one message per
event and endpoint, and one row per delivery attempt."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from organisations.models import Event, TenantModel, User


class WebhookEndpoint(TenantModel):  # type: ignore[django-manager-missing]
    """A customer URL that receives the organisation's events, signed per Standard Webhooks.

    Health counters drive the 5-day auto-disable and the admin's view of the endpoint.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        DISABLED = "disabled", "Disabled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    event_types = models.JSONField(default=list, help_text="Empty: every public event type.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    success_count = models.PositiveBigIntegerField(default=0)
    failure_count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ("-created_at", "id")

    def __str__(self) -> str:
        return self.url

    @property
    def success_rate(self) -> float | None:
        total = self.success_count + self.failure_count
        return round(self.success_count / total, 4) if total else None


class WebhookSecret(TenantModel):
    """A `whsec_` signing key, encrypted at rest. During a rotation the old key keeps signing
    (both signatures are sent) until `expires_at`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="secrets")
    ciphertext = models.TextField()
    hint = models.CharField(max_length=16, help_text="The first characters, to recognise it.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.hint}… of {self.endpoint_id}"


class WebhookMessage(TenantModel):  # type: ignore[django-manager-missing]
    """One event for one endpoint: the exact body signed on every attempt and the retry state.

    `webhook-id` is stable across retries (receivers deduplicate on it); the claim token makes a
    stale or duplicate worker's result count for nothing.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        EXHAUSTED = "exhausted", "Exhausted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    lost_claims = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker died holding it; at the limit it fails for good."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = (
            models.UniqueConstraint(fields=("endpoint", "event"), name="webhook_message_once"),
        )
        indexes = (
            models.Index(
                fields=("next_attempt_at",),
                condition=models.Q(status="pending"),
                name="webhook_message_due",
            ),
            models.Index(
                fields=("claimed_until",),
                condition=models.Q(status="sending"),
                name="webhook_message_sending",
            ),
            models.Index(fields=("endpoint", "status", "created_at"), name="webhook_by_endpoint"),
        )

    def __str__(self) -> str:
        return f"{self.webhook_id} {self.event_type}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id.hex}"


class WebhookAttempt(TenantModel):
    """One HTTP attempt to deliver a message: what came back (code, excerpt) or what failed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ("attempted_at", "number")

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}"
