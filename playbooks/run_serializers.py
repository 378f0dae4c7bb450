"""Inputs (strict) and outputs of the run, drill and training-record endpoints. Outputs are
plain dicts built from prefetched rows (no per-step queries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from crisis_api.api.serializers import MemberField, StrictInput, TenantRelatedField
from incidents.models import CrisisType, Incident, IncidentRole, Severity
from incidents.serializers import (
    ActionItemInput,
    IncidentRef,
    _iso,
    _user,
    task_output,
    visible_incidents,
)
from organisations.serializers import UserOutput
from playbooks.models import (
    Drill,
    Playbook,
    PlaybookRun,
    PlaybookRunStep,
    StepKind,
    TrainingRecord,
)
from playbooks.serializers import VersionBrief

# --- runs ---------------------------------------------------------------------------------------


class RunInput(StrictInput):
    incident = TenantRelatedField(Incident, limit=visible_incidents)
    playbook = TenantRelatedField(Playbook)


class StepActionInput(StrictInput):
    step = serializers.SlugField(max_length=64, help_text="The step's key.")


class StepSkipInput(StepActionInput):
    reason = serializers.CharField(max_length=2000)


class RunStepOutput(serializers.Serializer[Any]):
    key = serializers.CharField()
    position = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=StepKind.choices)
    role = serializers.ChoiceField(choices=IncidentRole.choices)
    status = serializers.ChoiceField(choices=PlaybookRunStep.Status.choices)
    depends_on = serializers.ListField(child=serializers.CharField())
    config = serializers.DictField()
    due_offset_minutes = serializers.IntegerField()
    due_at = serializers.DateTimeField()
    overdue = serializers.BooleanField()
    activated_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    completed_by = UserOutput(allow_null=True)
    skip_reason = serializers.CharField()
    waiting_for = serializers.CharField(help_text='e.g. "communications" for draft_message.')
    result = serializers.DictField()
    task = serializers.DictField(allow_null=True, help_text="The incident task (TaskOutput).")


def run_step_output(step: PlaybookRunStep, run: PlaybookRun, now: datetime) -> dict[str, Any]:
    task = step.task
    if task is not None:
        task.incident = run.incident  # already loaded with the run: no query per step
    return {
        "key": step.key,
        "position": step.position,
        "title": step.title,
        "kind": step.kind,
        "role": step.role,
        "status": step.status,
        "depends_on": step.depends_on,
        "config": step.config,
        "due_offset_minutes": step.due_offset_minutes,
        "due_at": _iso(step.due_at),
        "overdue": step.is_open and step.kind != StepKind.WAIT and step.due_at < now,
        "activated_at": _iso(step.activated_at),
        "completed_at": _iso(step.completed_at),
        "completed_by": _user(step.completed_by),
        "skip_reason": step.skip_reason,
        "waiting_for": step.waiting_for,
        "result": step.result,
        "task": task_output(task) if task is not None else None,
    }


class PlaybookBrief(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class RunOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    incident = IncidentRef()
    playbook = PlaybookBrief()
    version = VersionBrief()
    status = serializers.ChoiceField(choices=PlaybookRun.Status.choices)
    trigger = serializers.ChoiceField(choices=PlaybookRun.Trigger.choices)
    is_drill = serializers.BooleanField()
    started_by = serializers.UUIDField(allow_null=True)
    started_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, run: PlaybookRun) -> dict[str, Any]:
        incident, version = run.incident, run.version
        return {
            "id": str(run.pk),
            "incident": {"id": str(incident.pk), "reference": incident.reference},
            "playbook": {"id": str(run.playbook_id), "name": version.name},
            "version": {
                "id": str(version.pk),
                "number": version.number,
                "published_at": _iso(version.published_at),
            },
            "status": run.status,
            "trigger": run.trigger,
            "is_drill": incident.is_drill,
            "started_by": str(run.started_by_id) if run.started_by_id else None,
            "started_at": _iso(run.started_at),
            "completed_at": _iso(run.completed_at),
            "cancelled_at": _iso(run.cancelled_at),
        }


class RunDetailOutput(RunOutput):
    steps = RunStepOutput(many=True)

    def to_representation(self, run: PlaybookRun) -> dict[str, Any]:
        from django.utils import timezone

        now = timezone.now()
        steps = [run_step_output(s, run, now) for s in run.steps.all()]
        return {**super().to_representation(run), "steps": steps}


# --- drills and training ------------------------------------------------------------------------


class ParticipantInput(StrictInput):
    user = MemberField()
    role = serializers.ChoiceField(choices=IncidentRole.choices)


class DrillInput(StrictInput):
    playbook = TenantRelatedField(Playbook)
    title = serializers.CharField(max_length=200)
    scenario = serializers.CharField(required=False, allow_blank=True, default="")
    crisis_type = TenantRelatedField(CrisisType)
    severity = TenantRelatedField(Severity)
    scheduled_for = serializers.DateTimeField()
    participants = serializers.ListField(child=ParticipantInput(), required=False, max_length=100)


class DrillUpdateInput(StrictInput):
    title = serializers.CharField(max_length=200, required=False)
    scenario = serializers.CharField(required=False, allow_blank=True)
    crisis_type = TenantRelatedField(CrisisType, required=False)
    severity = TenantRelatedField(Severity, required=False)
    scheduled_for = serializers.DateTimeField(required=False)
    participants = serializers.ListField(child=ParticipantInput(), required=False, max_length=100)


class DrillFinishInput(StrictInput):
    outcome = serializers.ChoiceField(choices=Drill.Outcome.choices)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    findings = serializers.ListField(child=ActionItemInput(), required=False, max_length=50)


class DrillCancelInput(StrictInput):
    reason = serializers.CharField(max_length=2000)


class ParticipantOutput(serializers.Serializer[Any]):
    user = UserOutput()
    role = serializers.ChoiceField(choices=IncidentRole.choices)


class DrillOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    playbook = PlaybookBrief()
    version_number = serializers.IntegerField(allow_null=True)
    title = serializers.CharField()
    scenario = serializers.CharField()
    crisis_type_id = serializers.UUIDField()
    severity_id = serializers.UUIDField()
    scheduled_for = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Drill.Status.choices)
    incident = IncidentRef(allow_null=True)
    run_id = serializers.UUIDField(allow_null=True)
    participants = ParticipantOutput(many=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(help_text="passed, partial or failed; empty until finished.")
    outcome_notes = serializers.CharField()

    def to_representation(self, drill: Drill) -> dict[str, Any]:
        incident = drill.incident
        return {
            "id": str(drill.pk),
            "playbook": {"id": str(drill.playbook_id), "name": drill.playbook.name},
            "version_number": drill.version.number if drill.version else None,
            "title": drill.title,
            "scenario": drill.scenario,
            "crisis_type_id": str(drill.crisis_type_id),
            "severity_id": str(drill.severity_id),
            "scheduled_for": _iso(drill.scheduled_for),
            "status": drill.status,
            "incident": {"id": str(incident.pk), "reference": incident.reference}
            if incident
            else None,
            "run_id": str(drill.run_id) if drill.run_id else None,
            "participants": [
                {"user": _user(p.user), "role": p.role} for p in drill.participants.all()
            ],
            "started_at": _iso(drill.started_at),
            "finished_at": _iso(drill.finished_at),
            "outcome": drill.outcome,
            "outcome_notes": drill.outcome_notes,
        }


class StepTimingOutput(serializers.Serializer[Any]):
    key = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.CharField()
    role = serializers.CharField()
    status = serializers.CharField()
    due_offset_seconds = serializers.IntegerField()
    elapsed_seconds = serializers.FloatField(allow_null=True)
    late_by_seconds = serializers.FloatField(allow_null=True)
    verdict = serializers.ChoiceField(choices=("on_time", "late", "skipped", "not_done"))
    skip_reason = serializers.CharField()


class DrillReportOutput(serializers.Serializer[Any]):
    drill = DrillOutput()
    steps = StepTimingOutput(many=True)
    summary = serializers.DictField(child=serializers.IntegerField())
    participants = ParticipantOutput(many=True)
    findings = serializers.ListField(child=serializers.DictField(), help_text="TaskOutput items.")

    def to_representation(self, report: dict[str, Any]) -> dict[str, Any]:
        return {
            "drill": DrillOutput(report["drill"]).data,
            "steps": report["steps"],
            "summary": report["summary"],
            "participants": [
                {"user": _user(p.user), "role": p.role} for p in report["participants"]
            ],
            "findings": [task_output(t) for t in report["findings"]],
        }


class TrainingRecordOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    user = UserOutput()
    playbook = PlaybookBrief()
    drill_id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=IncidentRole.choices)
    completed_on = serializers.DateField()
    outcome = serializers.ChoiceField(choices=Drill.Outcome.choices)

    def to_representation(self, record: TrainingRecord) -> dict[str, Any]:
        return {
            "id": str(record.pk),
            "user": _user(record.user),
            "playbook": {"id": str(record.playbook_id), "name": record.playbook.name},
            "drill_id": str(record.drill_id),
            "role": record.role,
            "completed_on": record.completed_on.isoformat(),
            "outcome": record.outcome,
        }
