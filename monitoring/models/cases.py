"""Complaint cases: one author's thread of mentions on one platform, worked like a ticket."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from incidents.models import Incident
from organisations.models import TenantModel, User

OPEN_CASE_STATUSES = ("new", "assigned", "responded", "awaiting_customer")


class Case(TenantModel):  # type: ignore[django-manager-missing]
    """A complainant's thread: their mentions on one platform while the case is open.

    A negative mention from an author without an open case opens one, due for a first response
    by the organisation's SLA; later mentions of that author join it. At most one open case per
    (platform, author), enforced by a unique constraint, so concurrent batches cannot split one.
    """

    class Status(models.TextChoices):
        NEW = "new", "New"
        ASSIGNED = "assigned", "Assigned"
        RESPONDED = "responded", "Responded"
        AWAITING_CUSTOMER = "awaiting_customer", "Awaiting customer"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.CharField(max_length=16, help_text="The source kind the author posts on.")
    author_key = models.CharField(max_length=255, help_text="Author id, else handle.")
    author_handle = models.CharField(max_length=255, blank=True)
    author_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    mention_count = models.PositiveIntegerField(default=0)
    first_mention_at = models.DateTimeField(null=True, blank=True)
    last_mention_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "platform", "author_key"),
                condition=models.Q(status__in=OPEN_CASE_STATUSES),
                name="case_one_open_per_author",
            ),
        )
        indexes = (
            models.Index(fields=("organisation", "status", "-created_at"), name="case_status"),
            models.Index(
                fields=("organisation", "first_response_due_at"),
                condition=models.Q(first_responded_at__isnull=True),
                name="case_awaiting_first_response",
            ),
        )

    def __str__(self) -> str:
        return f"case of {self.author_handle or self.author_key} on {self.platform}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_CASE_STATUSES
