"""Outgoing messages, their content checks, and the organisation's banned terms."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from communications.models.templates import Language, MessageKind, MessageTemplate
from incidents.models import Incident
from organisations.models import TenantModel, User


class Message(TenantModel):  # type: ignore[django-manager-missing]
    """A statement, update, reply or e-mail on its way out. Changes only through services.

    `content_hash` covers everything that is published; an approval counts only for the hash it
    was given to, so any edit after submission voids earlier approvals. Publishing requires
    `approved_hash == content_hash`."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        REJECTED = "rejected", "Rejected"
        APPROVED = "approved", "Approved"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHING = "publishing", "Publishing"
        PUBLISHED = "published", "Published"
        FAILED = "failed", "Failed"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"

    class StatusLabel(models.TextChoices):
        """Statuspage's incident stages, shown on the public timeline."""

        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=24, choices=MessageKind.choices)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    renditions = models.JSONField(default=dict, help_text="Per-channel text replacing the body.")
    channels = models.JSONField(default=list, help_text="Where it will be published.")
    status_label = models.CharField(max_length=16, choices=StatusLabel.choices, blank=True)
    recipients = models.JSONField(default=list, help_text="E-mail addresses (stakeholder e-mail).")
    reply_to = models.JSONField(
        default=dict, help_text="Per platform, the post this replies to (mastodon/bluesky)."
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    case = models.ForeignKey(
        "monitoring.Case",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The complaint case replied to.",
    )
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.DRAFT)
    content_hash = models.CharField(max_length=64)
    approved_hash = models.CharField(max_length=64, blank=True)
    policy = models.ForeignKey(
        "communications.ApprovalPolicy",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    policy_snapshot = models.JSONField(default=dict, help_text="The policy as chosen at submit.")
    publish_on_approval = models.BooleanField(default=False)
    author = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_label = models.CharField(max_length=254, blank=True)
    submitted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    review_due_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    closed_reason = models.TextField(blank=True, help_text="Why rejected, withdrawn or expired.")
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(fields=("organisation", "status", "-created_at"), name="message_status"),
            models.Index(fields=("organisation", "incident"), name="message_incident"),
            models.Index(
                fields=("scheduled_for",),
                condition=models.Q(status="scheduled"),
                name="message_due",
            ),
            models.Index(
                fields=("review_due_at",),
                condition=models.Q(status="in_review"),
                name="message_review_due",
            ),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.title or self.body[:40]}"


class ContentCheck(TenantModel):
    """One run of the content checker over one content hash; a block stops approval until an
    admin overrides it with a recorded reason."""

    class Result(models.TextChoices):
        PASS = "pass", "Pass"
        WARN = "warn", "Warn"
        BLOCK = "block", "Block"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="checks")
    content_hash = models.CharField(max_length=64)
    engine_version = models.CharField(max_length=64)
    result = models.CharField(max_length=8, choices=Result.choices)
    findings = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    overridden_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True)
    override_reason = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (models.Index(fields=("message", "content_hash"), name="check_message_hash"),)

    def __str__(self) -> str:
        return f"{self.result} check of {self.message_id}"

    @property
    def blocks(self) -> bool:
        return self.result == self.Result.BLOCK and self.overridden_at is None


class BannedTerm(TenantModel):
    """A word or phrase the organisation never wants in its messages (any inflection)."""

    class Severity(models.TextChoices):
        BLOCK = "block", "Block"
        WARN = "warn", "Warn"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    term = models.CharField(max_length=100)
    language = models.CharField(
        max_length=8, choices=Language.choices, blank=True, help_text="Blank: every language."
    )
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.BLOCK)
    reason = models.CharField(max_length=300, blank=True)
    match_inflections = models.BooleanField(
        default=True, help_text="Also match words that start with the term (inflected forms)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("term", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "term", "language"), name="banned_term_unique"
            ),
        )

    def __str__(self) -> str:
        return self.term
