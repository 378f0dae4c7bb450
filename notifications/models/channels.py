"""Internal notifications: members' contact methods and rules, escalation policies and their
runs, and one notification per (event or escalation step, recipient, contact method) with one
delivery row per attempt."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from incidents.models import CrisisType, Incident
from organisations.models import Event, Organisation, TenantModel, User


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"
    WEBHOOK = "webhook", "Webhook"


PAID_CHANNELS = (Channel.EMAIL, Channel.SMS)


class ContactMethod(TenantModel):  # type: ignore[django-manager-missing]
    """Where one member can be reached. Unverified methods are never used: a code is sent
    through the method itself and must come back. The target is encrypted at rest (Slack and
    Teams URLs are credentials; addresses are personal data)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="contact_methods")
    kind = models.CharField(max_length=16, choices=Channel.choices)
    label = models.CharField(max_length=100, blank=True)
    target_ciphertext = models.TextField()
    target_hint = models.CharField(max_length=64)
    target_digest = models.CharField(max_length=64, help_text="Finds duplicates; not reversible.")
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_code_hash = models.CharField(max_length=64, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    verification_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "user", "kind", "target_digest"),
                name="contact_method_unique",
            ),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.target_hint}"


class NotificationRule(TenantModel):
    """What a member wants to hear about, through which methods in which order, after what
    delay, and when to stay quiet (critical incidents may override quiet hours)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notification_rules")
    name = models.CharField(max_length=100, blank=True)
    event_types = models.JSONField(default=list, help_text="Empty: every notifiable type.")
    max_severity_rank = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Only incidents of this rank or worse (1 = worst)."
    )
    contact_methods = models.JSONField(default=list, help_text="Contact method ids, in order.")
    delay_minutes = models.PositiveIntegerField(default=0)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    critical_overrides_quiet = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.name or f"rule {self.pk}"


class EscalationPolicy(TenantModel):  # type: ignore[django-manager-missing]
    """Who is paged for a declared incident, level after level, until someone acknowledges."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    max_severity_rank = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Applies to incidents of this rank or worse."
    )
    crisis_types = models.ManyToManyField(CrisisType, blank=True, related_name="+")
    repeat_count = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name", "id")
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationLevel(TenantModel):
    """One step: whom to notify (members, holders of incident roles, everyone with an
    organisation role), and how long to wait before the next step."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="levels")
    position = models.PositiveSmallIntegerField()
    delay_minutes = models.PositiveIntegerField(
        default=5, help_text="Wait after this level before the next one."
    )
    users = models.ManyToManyField(User, blank=True, related_name="+")
    incident_roles = models.JSONField(default=list)
    organisation_roles = models.JSONField(default=list)

    class Meta:
        ordering = ("position",)
        constraints = (
            models.UniqueConstraint(fields=("policy", "position"), name="escalation_level_pos"),
        )

    def __str__(self) -> str:
        return f"{self.policy_id} level {self.position}"


class Escalation(TenantModel):  # type: ignore[django-manager-missing]
    """A policy running for one incident. `token` changes on every step and on
    acknowledgement, so a stale scheduled step sees a different token and exits."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        EXHAUSTED = "exhausted", "Exhausted"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="escalations")
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.PROTECT, related_name="+")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    level = models.PositiveSmallIntegerField(default=0)
    repeat = models.PositiveSmallIntegerField(default=0)
    next_step_at = models.DateTimeField(null=True, blank=True)
    token = models.UUIDField(default=uuid.uuid4)
    acknowledged_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at",)
        constraints = (
            models.UniqueConstraint(fields=("incident", "policy", "event"), name="escalation_once"),
        )
        indexes = (
            models.Index(
                fields=("next_step_at",),
                condition=models.Q(status="active"),
                name="escalation_due",
            ),
        )

    def __str__(self) -> str:
        return f"escalation {self.pk} of {self.incident_id}"


class Notification(TenantModel):  # type: ignore[django-manager-missing]
    """One message to one member through one contact method, for one event or escalation step.

    Unique per (event, step, recipient, contact method): the relay or a retry can never send
    it twice. `status` is final once sent (or delivered, per the provider's receipt) or failed.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=80, default="rule", help_text="rule, or esc:<id>:<n>")
    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    escalation = models.ForeignKey(
        Escalation, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    position = models.PositiveSmallIntegerField(
        default=0, help_text="The method's place in its rule: first methods are sent first."
    )
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    lost_claims = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker died holding it; at the limit it fails for good."
    )
    provider_message_id = models.CharField(max_length=128, blank=True)
    error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("event", "step", "recipient", "contact_method"),
                name="notification_once",
            ),
        )
        indexes = (
            models.Index(
                fields=("next_attempt_at", "position"),
                condition=models.Q(status="pending"),
                name="notification_due",
            ),
            models.Index(
                fields=("claimed_until",),
                condition=models.Q(status="sending"),
                name="notification_sending",
            ),
            models.Index(fields=("provider_message_id",), name="notification_provider_id"),
        )

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient_id} for {self.event_id}"


class Delivery(TenantModel):
    """One attempt to hand a notification to its provider: outcome, provider id, error."""

    class Status(models.TextChoices):
        SENT = "sent", "Handed to the provider"
        DELIVERED = "delivered", "Delivered (receipt)"
        TRANSIENT_FAILURE = "transient", "Failed, will retry"
        PERMANENT_FAILURE = "permanent", "Failed for good"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices)
    provider_message_id = models.CharField(max_length=128, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("attempted_at", "number")
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"delivery {self.number} of {self.notification_id}"


class ChannelUsage(models.Model):
    """Paid messages sent per organisation, channel and month, counted against the plan cap
    with a conditional UPDATE so concurrent senders can never exceed it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    period = models.CharField(max_length=7, help_text="YYYY-MM")
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "channel", "period"), name="channel_usage_unique"
            ),
        )

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.channel} {self.period}: {self.used}"
