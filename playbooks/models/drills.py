"""Drills rehearse a playbook on a simulated incident; training records remember who took part."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from incidents.models import CrisisType, Incident, IncidentRole, Severity
from organisations.models import TenantModel, User
from playbooks.models.playbooks import Playbook, PlaybookVersion
from playbooks.models.runs import PlaybookRun


class Drill(TenantModel):  # type: ignore[django-manager-missing]
    """A rehearsal: scheduled, then started (a drill incident and a run of the playbook), then
    finished with an outcome. Drill incidents never reach customers unless the organisation
    opted in, and are left out of metrics."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"

    class Outcome(models.TextChoices):
        PASSED = "passed", "Passed"
        PARTIAL = "partial", "Passed with findings"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="drills")
    version = models.ForeignKey(
        PlaybookVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    scenario = models.TextField(blank=True)
    crisis_type = models.ForeignKey(CrisisType, on_delete=models.PROTECT, related_name="+")
    severity = models.ForeignKey(Severity, on_delete=models.PROTECT, related_name="+")
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    incident = models.OneToOneField(
        Incident, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    run = models.OneToOneField(
        PlaybookRun, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    outcome_notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-scheduled_for", "id")

    def __str__(self) -> str:
        return self.title


class DrillParticipant(TenantModel):
    """Someone taking part in a drill, in the incident role they rehearse."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    drill = models.ForeignKey(Drill, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=16, choices=IncidentRole.choices)

    class Meta:
        ordering = ("drill", "role", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("drill", "user", "role"), name="drillparticipant_unique"
            ),
        )

    def __str__(self) -> str:
        return f"{self.user_id} as {self.role}"


class TrainingRecord(TenantModel):
    """A member rehearsed a playbook in a role on a date (written when a drill finishes)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="+")
    drill = models.ForeignKey(Drill, on_delete=models.PROTECT, related_name="training_records")
    role = models.CharField(max_length=16, choices=IncidentRole.choices)
    completed_on = models.DateField()
    outcome = models.CharField(max_length=16, choices=Drill.Outcome.choices)

    class Meta:
        ordering = ("-completed_on", "id")
        constraints = (
            models.UniqueConstraint(fields=("drill", "user", "role"), name="trainingrecord_unique"),
        )
        indexes = (
            models.Index(fields=("organisation", "user", "-completed_on"), name="training_user"),
            models.Index(
                fields=("organisation", "playbook", "-completed_on"), name="training_playbook"
            ),
        )

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} {self.completed_on}"
