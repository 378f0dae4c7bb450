"""Inputs (strict) and outputs of the playbook endpoints. Inputs check each field's shape;
the rules spanning fields (unique keys, earlier dependencies, one Accountable per activity)
are the service's (`playbooks.contents`). Outputs are plain dicts (no per-row queries)."""

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
from organisations.models import Role
from organisations.serializers import UserOutput
from playbooks.models import (
    AUDIENCES,
    CHANNELS,
    RACI_LETTERS,
    Drill,
    Playbook,
    PlaybookRun,
    PlaybookRunStep,
    PlaybookVersion,
    StepKind,
    TrainingRecord,
)

MAX_OFFSET_MINUTES = 60 * 24 * 30
NOTIFY_ROLES = sorted({*IncidentRole.values, *Role.values})


# --- contents -----------------------------------------------------------------------------------


class StepInput(StrictInput):
    """One step. `depends_on` names earlier steps by key; `due_offset_minutes` counts from the
    run's start. notify: `notify_roles` (incident or organisation roles) and `message`;
    draft_message: `template` (a template reference) and `audience`."""

    key = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    kind = serializers.ChoiceField(choices=StepKind.choices)
    role = serializers.ChoiceField(choices=IncidentRole.choices, help_text="Who is responsible.")
    due_offset_minutes = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET_MINUTES)
    depends_on = serializers.ListField(
        child=serializers.SlugField(max_length=64), required=False, max_length=50
    )
    notify_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=NOTIFY_ROLES), required=False, max_length=20
    )
    message = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    template = serializers.CharField(required=False, max_length=200)
    audience = serializers.ChoiceField(choices=AUDIENCES, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs["kind"]
        if kind == StepKind.DRAFT_MESSAGE and not (attrs.get("template") and attrs.get("audience")):
            raise serializers.ValidationError("A draft_message step names a template and audience.")
        if kind != StepKind.DRAFT_MESSAGE and ("template" in attrs or "audience" in attrs):
            raise serializers.ValidationError("template and audience are for draft_message steps.")
        if kind != StepKind.NOTIFY and ("notify_roles" in attrs or "message" in attrs):
            raise serializers.ValidationError("notify_roles and message are for notify steps.")
        return attrs


class RaciInput(StrictInput):
    """One activity and, per incident role, R(esponsible), A(ccountable), C(onsulted) or
    I(nformed); exactly one A."""

    activity = serializers.CharField(max_length=200)
    assignments = serializers.DictField(child=serializers.ChoiceField(choices=RACI_LETTERS))

    def validate_assignments(self, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(IncidentRole.values))
        if unknown:
            raise serializers.ValidationError(f"Not incident roles: {', '.join(unknown)}.")
        return value


class CommsMatrixInput(StrictInput):
    """Who hears from us (audience), how (channel), how often, and who approves it."""

    audience = serializers.ChoiceField(choices=AUDIENCES)
    channel = serializers.ChoiceField(choices=CHANNELS)
    cadence_minutes = serializers.IntegerField(min_value=5, max_value=MAX_OFFSET_MINUTES)
    approver_role = serializers.ChoiceField(choices=IncidentRole.choices)


class HoldingStatementInput(StrictInput):
    """A pre-approved text to publish before the facts are in; approval lapses after
    `approved_until`."""

    key = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200)
    text = serializers.CharField(max_length=5000)
    language = serializers.RegexField(r"^[a-z]{2,3}(-[A-Z]{2})?$", max_length=8)
    audience = serializers.ChoiceField(choices=AUDIENCES, required=False)
    approved_until = serializers.DateTimeField(required=False, allow_null=True)


class PlaybookInput(StrictInput):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    owner = MemberField(required=False, allow_null=True)
    crisis_types = serializers.ListField(
        child=TenantRelatedField(CrisisType), required=False, max_length=50
    )
    min_severity_rank = serializers.IntegerField(
        min_value=1, max_value=20, required=False, allow_null=True
    )
    auto_start = serializers.BooleanField(required=False)
    review_period_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    steps = serializers.ListField(child=StepInput(), required=False, max_length=100)
    raci = serializers.ListField(child=RaciInput(), required=False, max_length=100)
    comms_matrix = serializers.ListField(child=CommsMatrixInput(), required=False, max_length=100)
    holding_statements = serializers.ListField(
        child=HoldingStatementInput(), required=False, max_length=50
    )


class PublishInput(StrictInput):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DiffQuery(serializers.Serializer[Any]):
    base = serializers.IntegerField(min_value=1, help_text="A version number.")
    head = serializers.CharField(help_text='A version number, or "draft".')

    def validate_head(self, value: str) -> str:
        if value != "draft" and not value.isdigit():
            raise serializers.ValidationError('A version number or "draft".')
        return value


# --- playbooks and versions ---------------------------------------------------------------------


class StepOutput(serializers.Serializer[Any]):
    key = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=StepKind.choices)
    role = serializers.CharField()
    due_offset_minutes = serializers.IntegerField()
    depends_on = serializers.ListField(child=serializers.CharField())


class ContentsOutput(serializers.Serializer[Any]):
    steps = serializers.ListField(child=serializers.DictField(), help_text="StepInput items.")
    raci = serializers.ListField(child=serializers.DictField())
    comms_matrix = serializers.ListField(child=serializers.DictField())
    holding_statements = serializers.ListField(child=serializers.DictField())


class VersionBrief(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    published_at = serializers.DateTimeField()


class PlaybookOutput(ContentsOutput):
    """A playbook: its draft (editable) and which version is published."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    owner = UserOutput(allow_null=True)
    crisis_type_ids = serializers.ListField(child=serializers.UUIDField())
    min_severity_rank = serializers.IntegerField(allow_null=True)
    auto_start = serializers.BooleanField()
    review_period_days = serializers.IntegerField()
    next_review_at = serializers.DateTimeField(allow_null=True)
    current_version = VersionBrief(allow_null=True)
    has_draft_changes = serializers.BooleanField(
        help_text="The draft differs from the published version (publish to make it current)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, playbook: Playbook) -> dict[str, Any]:
        version = playbook.current_version
        return {
            "id": str(playbook.pk),
            "name": playbook.name,
            "description": playbook.description,
            "owner": _user(playbook.owner),
            "crisis_type_ids": sorted(str(t.pk) for t in playbook.crisis_types.all()),
            "min_severity_rank": playbook.min_severity_rank,
            "auto_start": playbook.auto_start,
            "review_period_days": playbook.review_period_days,
            "next_review_at": _iso(playbook.next_review_at),
            "current_version": {
                "id": str(version.pk),
                "number": version.number,
                "published_at": _iso(version.published_at),
            }
            if version
            else None,
            "has_draft_changes": playbook.has_draft_changes,
            "steps": playbook.steps,
            "raci": playbook.raci,
            "comms_matrix": playbook.comms_matrix,
            "holding_statements": playbook.holding_statements,
            "created_at": _iso(playbook.created_at),
            "updated_at": _iso(playbook.updated_at),
        }


class PlaybookStatsOutput(serializers.Serializer[Any]):
    runs = serializers.IntegerField(help_text="Runs on real incidents (drills excluded).")
    runs_completed = serializers.IntegerField()
    steps_completed = serializers.IntegerField()
    steps_on_time = serializers.IntegerField()
    drills_finished = serializers.IntegerField()


class PlaybookDetailOutput(PlaybookOutput):
    stats = PlaybookStatsOutput()

    def to_representation(self, playbook: Playbook) -> dict[str, Any]:
        return {**super().to_representation(playbook), "stats": self.context["stats"]}


class VersionOutput(ContentsOutput):
    """A published version: frozen conditions and contents."""

    id = serializers.UUIDField()
    number = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    crisis_type_ids = serializers.ListField(child=serializers.UUIDField())
    min_severity_rank = serializers.IntegerField(allow_null=True)
    content_hash = serializers.CharField()
    note = serializers.CharField()
    published_by = serializers.UUIDField(allow_null=True)
    published_at = serializers.DateTimeField()

    def to_representation(self, version: PlaybookVersion) -> dict[str, Any]:
        return {
            "id": str(version.pk),
            "number": version.number,
            "name": version.name,
            "description": version.description,
            "crisis_type_ids": version.crisis_type_ids,
            "min_severity_rank": version.min_severity_rank,
            "content_hash": version.content_hash,
            "note": version.note,
            "published_by": str(version.published_by_id) if version.published_by_id else None,
            "published_at": _iso(version.published_at),
            "steps": version.steps,
            "raci": version.raci,
            "comms_matrix": version.comms_matrix,
            "holding_statements": version.holding_statements,
        }


class KeyedDiffOutput(serializers.Serializer[Any]):
    added = serializers.ListField(child=serializers.DictField())
    removed = serializers.ListField(child=serializers.DictField())
    changed = serializers.ListField(child=serializers.DictField())


class StepsDiffOutput(KeyedDiffOutput):
    reordered = serializers.BooleanField()


class DiffOutput(serializers.Serializer[Any]):
    base = serializers.IntegerField()
    head = serializers.CharField()
    conditions = serializers.DictField()
    steps = StepsDiffOutput()
    raci = serializers.ListField(
        child=serializers.DictField(), help_text="Cells changed: activity, role, from, to."
    )
    comms_matrix = KeyedDiffOutput()
    holding_statements = KeyedDiffOutput()


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
