"""Crisis incidents: per-organisation configuration (types, severities), the incident record
with its lifecycle timestamps, role assignments, tasks, notes and the post-incident review."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

from organisations.models import Organisation, TenantModel, User


class CrisisType(TenantModel):
    """A kind of crisis the organisation plans for (product recall, data breach, …)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=64)
    description = models.TextField(blank=True)
    exclude_from_metrics = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name", "id")
        constraints = (
            models.UniqueConstraint(fields=("organisation", "slug"), name="crisistype_unique_slug"),
        )

    def __str__(self) -> str:
        return self.name


class Severity(TenantModel):
    """How bad a crisis is: rank 1 is the worst. Sets the public-update cadence, whether a review
    is required before closing, and how strict message approval is."""

    class Strictness(models.TextChoices):
        STANDARD = "standard", "Standard"
        ELEVATED = "elevated", "Elevated"
        STRICT = "strict", "Strict"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    rank = models.PositiveSmallIntegerField(help_text="1 is the most severe.")
    description = models.TextField(blank=True)
    public_update_interval_minutes = models.PositiveIntegerField()
    review_required = models.BooleanField(default=True)
    approval_strictness = models.CharField(
        max_length=16, choices=Strictness.choices, default=Strictness.STANDARD
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("rank", "id")
        verbose_name_plural = "severities"
        constraints = (
            models.UniqueConstraint(fields=("organisation", "rank"), name="severity_unique_rank"),
            models.UniqueConstraint(fields=("organisation", "name"), name="severity_unique_name"),
        )

    def __str__(self) -> str:
        return self.name

    @property
    def public_update_interval(self) -> timedelta:
        return timedelta(minutes=self.public_update_interval_minutes)


class IncidentCounter(models.Model):
    """The last incident number of an organisation; locked to hand out INC-1, INC-2, …"""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.organisation_id}: INC-{self.last_number}"


class Incident(TenantModel):  # type: ignore[django-manager-missing]
    """One crisis, from triage to closure. Transitions happen only through services, which keep
    every timestamp monotonic and bump `version` (the ETag) on each change."""

    class Status(models.TextChoices):
        TRIAGE = "triage", "Triage"
        ACTIVE = "active", "Active"
        CONTAINED = "contained", "Contained"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"
        DECLINED = "declined", "Declined"
        MERGED = "merged", "Merged"
        CANCELLED = "cancelled", "Cancelled"

    class Visibility(models.TextChoices):
        OPEN = "open", "Everyone in the organisation"
        RESTRICTED = "restricted", "Assigned people and managers"

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        SIGNAL = "signal", "Signal"
        API = "api", "API"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    impact = models.TextField(blank=True)
    crisis_type = models.ForeignKey(CrisisType, on_delete=models.PROTECT, related_name="+")
    severity = models.ForeignKey(Severity, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIAGE)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.OPEN
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    is_drill = models.BooleanField(default=False)
    commander = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged_from"
    )
    status_reason = models.TextField(blank=True, help_text="Why it was declined or cancelled.")
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    declared_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    last_public_update_at = models.DateTimeField(null=True, blank=True)
    next_public_update_due_at = models.DateTimeField(null=True, blank=True)
    public_update_overdue_for = models.DateTimeField(
        null=True, blank=True, help_text="The due time whose lapse was already announced."
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ("-number",)
        constraints = (
            models.UniqueConstraint(fields=("organisation", "number"), name="incident_unique_no"),
        )
        indexes = (
            models.Index(fields=("organisation", "status", "-created_at"), name="incident_status"),
            models.Index(
                fields=("next_public_update_due_at",),
                condition=models.Q(status__in=("active", "contained")),
                name="incident_update_due",
            ),
        )

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"


OPEN_STATUSES = (Incident.Status.TRIAGE, Incident.Status.ACTIVE, Incident.Status.CONTAINED)
DECLARED_STATUSES = (Incident.Status.ACTIVE, Incident.Status.CONTAINED)


class IncidentRole(models.TextChoices):
    """What someone does in one incident (distinct from their role in the organisation)."""

    COMMANDER = "commander", "Commander"
    COMMS_LEAD = "comms_lead", "Communications lead"
    APPROVER = "approver", "Approver"
    LEGAL = "legal", "Legal"
    LIAISON = "liaison", "Liaison"
    SCRIBE = "scribe", "Scribe"
    RESPONDER = "responder", "Responder"
    OBSERVER = "observer", "Observer"


class RoleAssignment(TenantModel):
    """Someone holding an incident role for a while; rows are never deleted (the history)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=16, choices=IncidentRole.choices)
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unassigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("assigned_at", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("incident", "role", "user"),
                condition=models.Q(unassigned_at__isnull=True),
                name="assignment_unique_active",
            ),
            models.UniqueConstraint(
                fields=("incident",),
                condition=models.Q(unassigned_at__isnull=True, role="commander"),
                name="assignment_one_commander",
            ),
        )

    def __str__(self) -> str:
        return f"{self.role} {self.user_id} on {self.incident_id}"


class Task(TenantModel):
    """Work to do for an incident; an overdue task is announced once per lapse of its due time."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        PLAYBOOK = "playbook", "Playbook"
        REVIEW = "review", "Post-incident review"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    overdue_notified_for = models.DateTimeField(
        null=True, blank=True, help_text="The due time whose lapse was already announced."
    )

    class Meta:
        ordering = ("due_at", "created_at", "id")
        indexes = (
            models.Index(
                fields=("due_at",),
                condition=models.Q(status__in=("open", "in_progress")),
                name="task_due_open",
            ),
        )

    def __str__(self) -> str:
        return self.title


class Note(TenantModel):
    """A free-text entry on an incident's timeline; immutable once written."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.body[:50]


class Review(TenantModel):
    """The post-incident review; completing it allows the incident to be closed."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        COMPLETED = "completed", "Completed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="review")
    summary = models.TextField(blank=True)
    went_well = models.TextField(blank=True)
    went_badly = models.TextField(blank=True)
    contributing_factors = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"review of {self.incident_id}"
