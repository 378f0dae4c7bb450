"""A playbook run: one pinned version carried out on one incident, step by step."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from incidents.models import Incident, IncidentRole, Task
from organisations.models import TenantModel, User
from playbooks.models.playbooks import Playbook, PlaybookVersion, StepKind


class PlaybookRun(TenantModel):  # type: ignore[django-manager-missing]
    """A version of a playbook carried out on an incident; at most one run per incident and
    playbook. Its steps are copied from the pinned version, so later edits never touch it."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        DECLARED = "declared", "Incident declared"
        SEVERITY_RAISED = "severity_raised", "Severity raised"
        MANUAL = "manual", "Started by hand"
        DRILL = "drill", "Drill"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="runs")
    version = models.ForeignKey(PlaybookVersion, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    started_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at", "id")
        constraints = (
            models.UniqueConstraint(fields=("incident", "playbook"), name="playbookrun_once"),
        )

    def __str__(self) -> str:
        return f"{self.playbook_id} on {self.incident_id}"


class PlaybookRunStep(TenantModel):
    """One step of a run: pending until the steps it depends on are done, then active (its
    task exists) or waiting (on another app); completed or skipped at the end. Overdue is
    announced once per lapse of `due_at`."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for earlier steps"
        ACTIVE = "active", "Active"
        WAITING = "waiting", "Waiting for another component"
        COMPLETED = "completed", "Completed"
        SKIPPED = "skipped", "Skipped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="steps")
    key = models.SlugField(max_length=64)
    position = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    role = models.CharField(max_length=16, choices=IncidentRole.choices)
    due_offset_minutes = models.PositiveIntegerField()
    depends_on = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    skip_reason = models.TextField(blank=True)
    waiting_for = models.CharField(max_length=64, blank=True)
    result = models.JSONField(default=dict, blank=True)
    task = models.ForeignKey(
        Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    overdue_notified_for = models.DateTimeField(
        null=True, blank=True, help_text="The due time whose lapse was already announced."
    )

    class Meta:
        ordering = ("run", "position")
        constraints = (models.UniqueConstraint(fields=("run", "key"), name="runstep_unique_key"),)
        indexes = (
            models.Index(
                fields=("due_at",),
                condition=models.Q(status__in=("pending", "active", "waiting")),
                name="runstep_due_open",
            ),
            models.Index(fields=("task",), name="runstep_task"),
        )

    def __str__(self) -> str:
        return f"{self.key} of {self.run_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STEP_STATUSES

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STEP_STATUSES


OPEN_STEP_STATUSES = (
    PlaybookRunStep.Status.PENDING,
    PlaybookRunStep.Status.ACTIVE,
    PlaybookRunStep.Status.WAITING,
)
DONE_STEP_STATUSES = (PlaybookRunStep.Status.COMPLETED, PlaybookRunStep.Status.SKIPPED)
