"""Approval policies and the decisions approvers give to one content hash."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from incidents.models import Severity
from organisations.models import TenantModel, User


class ApprovalPolicy(TenantModel):
    """Who must approve which messages: ordered steps, each with eligible organisation roles,
    incident roles or named members, and `any` (one approval) or `all` (one per named role
    and member). Chosen at submit time by kind, channel and the strictness of open incidents."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    kinds = models.JSONField(default=list, help_text="Message kinds; empty: every kind.")
    channels = models.JSONField(
        default=list, help_text="Applies if the message targets any of these; empty: any."
    )
    min_strictness = models.CharField(
        max_length=16,
        choices=Severity.Strictness.choices,
        default=Severity.Strictness.STANDARD,
        help_text="Applies while an open incident's severity is at least this strict.",
    )
    priority = models.IntegerField(default=0, help_text="Breaks ties; higher wins.")
    steps = models.JSONField(default=list)
    approval_ttl_minutes = models.PositiveIntegerField(
        default=24 * 60, help_text="How long an approval stays valid."
    )
    review_timeout_minutes = models.PositiveIntegerField(
        default=7 * 24 * 60, help_text="How long a message may wait in review."
    )
    require_apology = models.BooleanField(default=False)
    require_next_step = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-priority", "name", "id")
        verbose_name_plural = "approval policies"

    def __str__(self) -> str:
        return self.name


class ApprovalDecision(TenantModel):
    """One approver's decision on one step for one content hash; never edited, and an edit of
    the message leaves it behind (it names the old hash)."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        REQUEST_CHANGES = "request_changes", "Request changes"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(
        "communications.Message", on_delete=models.CASCADE, related_name="decisions"
    )
    step = models.PositiveSmallIntegerField()
    approver = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    content_hash = models.CharField(max_length=64)
    round_started_at = models.DateTimeField(
        help_text="The submission this decision belongs to (a new submission starts a round)."
    )
    capacity = models.JSONField(default=list, help_text="The roles this approval counted for.")
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("decided_at", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("message", "round_started_at", "content_hash", "step", "approver"),
                condition=models.Q(decision="approve"),
                name="decision_one_approval_each",
            ),
        )

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id} on {self.message_id}"
