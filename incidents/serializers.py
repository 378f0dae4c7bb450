"""Inputs (strict) and outputs of the incidents endpoints. Outputs that appear in lists build
plain dicts (declared fields document the schema), so a page costs no per-object queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from crisis_api.api.serializers import MemberField, StrictInput, TenantRelatedField
from incidents.models import (
    CrisisType,
    Incident,
    IncidentRole,
    Review,
    RoleAssignment,
    Severity,
    Task,
)
from incidents.selectors import incident_metrics, incident_visible
from incidents.services import allowed_actions
from organisations.models import User
from organisations.serializers import EventOutput, UserOutput


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _user(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": str(user.pk), "email": user.email, "full_name": user.full_name}


def visible_incidents(queryset: Any, context: Any) -> Any:
    return incident_visible(queryset, user=context.get("user"), role=context.get("role"))


# --- configuration ------------------------------------------------------------------------------


class CrisisTypeOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    description = serializers.CharField()
    exclude_from_metrics = serializers.BooleanField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class CrisisTypeInput(StrictInput):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    exclude_from_metrics = serializers.BooleanField(required=False, default=False)
    is_active = serializers.BooleanField(required=False, default=True)


class SeverityOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    rank = serializers.IntegerField(help_text="1 is the most severe.")
    description = serializers.CharField()
    public_update_interval_minutes = serializers.IntegerField()
    review_required = serializers.BooleanField()
    approval_strictness = serializers.ChoiceField(choices=Severity.Strictness.choices)
    created_at = serializers.DateTimeField()


class SeverityInput(StrictInput):
    name = serializers.CharField(max_length=100)
    rank = serializers.IntegerField(min_value=1, max_value=20)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    public_update_interval_minutes = serializers.IntegerField(min_value=5, max_value=10080)
    review_required = serializers.BooleanField(required=False, default=True)
    approval_strictness = serializers.ChoiceField(
        choices=Severity.Strictness.choices, required=False, default=Severity.Strictness.STANDARD
    )


# --- incidents ----------------------------------------------------------------------------------


class SeverityBrief(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    rank = serializers.IntegerField()


class CrisisTypeBrief(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.SlugField()


class IncidentRef(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    reference = serializers.CharField()


class IncidentOutput(serializers.Serializer[Any]):
    """An incident as listed."""

    id = serializers.UUIDField()
    number = serializers.IntegerField()
    reference = serializers.CharField(help_text="INC-<number>, unique in the organisation.")
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=Incident.Status.choices)
    severity = SeverityBrief()
    crisis_type = CrisisTypeBrief()
    visibility = serializers.ChoiceField(choices=Incident.Visibility.choices)
    source = serializers.ChoiceField(choices=Incident.Source.choices)  # type: ignore[assignment]
    is_drill = serializers.BooleanField()
    commander = UserOutput(allow_null=True)
    created_at = serializers.DateTimeField()
    declared_at = serializers.DateTimeField(allow_null=True)
    contained_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    last_public_update_at = serializers.DateTimeField(allow_null=True)
    next_public_update_due_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()
    allowed_actions = serializers.ListField(child=serializers.CharField())

    def to_representation(self, incident: Incident) -> dict[str, Any]:
        severity, crisis_type = incident.severity, incident.crisis_type
        return {
            "id": str(incident.pk),
            "number": incident.number,
            "reference": incident.reference,
            "title": incident.title,
            "status": incident.status,
            "severity": {"id": str(severity.pk), "name": severity.name, "rank": severity.rank},
            "crisis_type": {
                "id": str(crisis_type.pk),
                "name": crisis_type.name,
                "slug": crisis_type.slug,
            },
            "visibility": incident.visibility,
            "source": incident.source,
            "is_drill": incident.is_drill,
            "commander": _user(incident.commander),
            "created_at": _iso(incident.created_at),
            "declared_at": _iso(incident.declared_at),
            "contained_at": _iso(incident.contained_at),
            "resolved_at": _iso(incident.resolved_at),
            "closed_at": _iso(incident.closed_at),
            "updated_at": _iso(incident.updated_at),
            "last_public_update_at": _iso(incident.last_public_update_at),
            "next_public_update_due_at": _iso(incident.next_public_update_due_at),
            "version": incident.version,
            "allowed_actions": allowed_actions(incident.status),
        }


class AssignmentOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=IncidentRole.choices)
    user = UserOutput()
    assigned_at = serializers.DateTimeField()
    assigned_by = serializers.UUIDField(source="assigned_by_id", allow_null=True)
    unassigned_at = serializers.DateTimeField(allow_null=True)


class MetricsOutput(serializers.Serializer[Any]):
    time_to_declare = serializers.FloatField(allow_null=True, help_text="Seconds.")
    time_to_contain = serializers.FloatField(allow_null=True, help_text="Seconds.")
    time_to_resolve = serializers.FloatField(allow_null=True, help_text="Seconds.")
    time_to_first_statement = serializers.FloatField(allow_null=True, help_text="Seconds.")


class IncidentDetailOutput(IncidentOutput):
    """An incident with everything about it that is not a list of its own."""

    summary = serializers.CharField()
    impact = serializers.CharField()
    status_reason = serializers.CharField()
    merged_into = IncidentRef(allow_null=True)
    declined_at = serializers.DateTimeField(allow_null=True)
    merged_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    reopened_at = serializers.DateTimeField(allow_null=True)
    roles = AssignmentOutput(many=True, help_text="Current role holders.")
    review_status = serializers.ChoiceField(choices=Review.Status.choices, allow_null=True)
    metrics = MetricsOutput()

    def to_representation(self, incident: Incident) -> dict[str, Any]:
        body = super().to_representation(incident)
        merged = incident.merged_into
        review = getattr(incident, "review", None) if _has_review(incident) else None
        body.update(
            summary=incident.summary,
            impact=incident.impact,
            status_reason=incident.status_reason,
            merged_into={"id": str(merged.pk), "reference": merged.reference} if merged else None,
            declined_at=_iso(incident.declined_at),
            merged_at=_iso(incident.merged_at),
            cancelled_at=_iso(incident.cancelled_at),
            reopened_at=_iso(incident.reopened_at),
            roles=[assignment_output(a) for a in incident.current_assignments],  # type: ignore[attr-defined]
            review_status=review.status if review else None,
            metrics=incident_metrics(incident),
        )
        return body


def _has_review(incident: Incident) -> bool:
    try:
        incident.review  # noqa: B018 - select_related made this free
    except Review.DoesNotExist:
        return False
    return True


def assignment_output(assignment: RoleAssignment) -> dict[str, Any]:
    return {
        "id": str(assignment.pk),
        "role": assignment.role,
        "user": _user(assignment.user),
        "assigned_at": _iso(assignment.assigned_at),
        "assigned_by": str(assignment.assigned_by_id) if assignment.assigned_by_id else None,
        "unassigned_at": _iso(assignment.unassigned_at),
    }


class IncidentCreateInput(StrictInput):
    title = serializers.CharField(max_length=200)
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    impact = serializers.CharField(required=False, allow_blank=True, default="")
    crisis_type = TenantRelatedField(CrisisType)
    severity = TenantRelatedField(Severity)
    visibility = serializers.ChoiceField(
        choices=Incident.Visibility.choices, required=False, default=Incident.Visibility.OPEN
    )
    is_drill = serializers.BooleanField(required=False, default=False)
    status = serializers.ChoiceField(
        choices=[Incident.Status.TRIAGE, Incident.Status.ACTIVE],
        required=False,
        default=Incident.Status.TRIAGE,
        help_text="Start in triage (to be confirmed) or active (declared at once).",
    )
    commander = MemberField(required=False, allow_null=True, default=None)


class IncidentUpdateInput(StrictInput):
    title = serializers.CharField(max_length=200, required=False)
    summary = serializers.CharField(required=False, allow_blank=True)
    impact = serializers.CharField(required=False, allow_blank=True)
    crisis_type = TenantRelatedField(CrisisType, required=False)
    visibility = serializers.ChoiceField(choices=Incident.Visibility.choices, required=False)


class ReasonInput(StrictInput):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CancelInput(StrictInput):
    reason = serializers.CharField(max_length=2000)


class MergeInput(StrictInput):
    into = TenantRelatedField(Incident, limit=visible_incidents)


class SeverityChangeInput(StrictInput):
    severity = TenantRelatedField(Severity)


class RoleAssignInput(StrictInput):
    user = MemberField()
    role = serializers.ChoiceField(choices=IncidentRole.choices)


class RoleUnassignInput(StrictInput):
    assignment = TenantRelatedField(RoleAssignment)


class NoteInput(StrictInput):
    body = serializers.CharField(max_length=20_000)


class ReviewInput(StrictInput):
    summary = serializers.CharField(required=False, allow_blank=True)
    went_well = serializers.CharField(required=False, allow_blank=True)
    went_badly = serializers.CharField(required=False, allow_blank=True)
    contributing_factors = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, max_length=50
    )


class ReviewOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    summary = serializers.CharField()
    went_well = serializers.CharField()
    went_badly = serializers.CharField()
    contributing_factors = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=Review.Status.choices)
    completed_at = serializers.DateTimeField(allow_null=True)
    completed_by = serializers.UUIDField(source="completed_by_id", allow_null=True)
    updated_at = serializers.DateTimeField()
    action_items = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()

    def get_action_items(self, review: Review) -> list[dict[str, Any]]:
        """Tasks created from this review."""
        return [task_output(t) for t in self.context.get("action_items", [])]

    def get_metrics(self, review: Review) -> dict[str, Any]:
        """The incident's durations (seconds)."""
        return incident_metrics(review.incident)


class TaskOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    incident = IncidentRef()
    title = serializers.CharField()
    description = serializers.CharField()
    owner = UserOutput(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    priority = serializers.ChoiceField(choices=Task.Priority.choices)
    status = serializers.ChoiceField(choices=Task.Status.choices)
    source = serializers.ChoiceField(choices=Task.Source.choices)  # type: ignore[assignment]
    overdue = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, task: Task) -> dict[str, Any]:
        return task_output(task)


def task_output(task: Task) -> dict[str, Any]:
    from django.utils import timezone

    incident = task.incident
    return {
        "id": str(task.pk),
        "incident": {"id": str(incident.pk), "reference": incident.reference},
        "title": task.title,
        "description": task.description,
        "owner": _user(task.owner),
        "due_at": _iso(task.due_at),
        "priority": task.priority,
        "status": task.status,
        "source": task.source,
        "overdue": bool(
            task.due_at
            and task.due_at < timezone.now()
            and task.status in (Task.Status.OPEN, Task.Status.IN_PROGRESS)
        ),
        "created_at": _iso(task.created_at),
        "updated_at": _iso(task.updated_at),
        "completed_at": _iso(task.completed_at),
    }


class ActionItemInput(StrictInput):
    """A task of a review (the incident is the one in the URL)."""

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    owner = MemberField(required=False, allow_null=True, default=None)
    due_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    priority = serializers.ChoiceField(
        choices=Task.Priority.choices, required=False, default=Task.Priority.MEDIUM
    )


class TaskCreateInput(ActionItemInput):
    """A task of any incident the caller can see."""

    incident = TenantRelatedField(Incident, limit=visible_incidents)


class TaskUpdateInput(StrictInput):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    owner = MemberField(required=False, allow_null=True)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False)
    status = serializers.ChoiceField(choices=Task.Status.choices, required=False)


class NoteOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    body = serializers.CharField()
    author = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()


class TimelineEntryOutput(EventOutput):
    """An event of the incident; notes carry their text."""

    note = NoteOutput(allow_null=True)

    def to_representation(self, event: Any) -> dict[str, Any]:
        body = super().to_representation(event)
        note = self.context.get("notes", {}).get(event.payload.get("note_id"))
        body["note"] = (
            {
                "id": str(note.pk),
                "body": note.body,
                "author": str(note.author_id) if note.author_id else None,
                "created_at": _iso(note.created_at),
            }
            if note
            else None
        )
        return body
