"""Drills: schedule a rehearsal, start it (a drill incident and a run of the playbook), finish
it with an outcome and findings; every participant gets a training record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import OPEN_STATUSES, CrisisType, Incident, IncidentRole, Severity, Task
from incidents.services import (
    incident_declare,
    incident_role_assign,
    incident_transition,
    review_action_item_add,
    task_create,
)
from organisations.events import Actor, event_record
from organisations.models import Membership, Organisation, User
from playbooks.models import Drill, DrillParticipant, Playbook, PlaybookRun, TrainingRecord
from playbooks.selectors import drill_report
from playbooks.services.runs import playbook_run_start, playbook_runs_stop

Participant = tuple[User, str]


class DrillStateError(ConflictError):
    """The drill is not in a state that allows this."""

    code = "drill_conflict"


def drill_ref(drill: Drill) -> dict[str, Any]:
    return {"id": str(drill.pk), "title": drill.title, "playbook_id": str(drill.playbook_id)}


def _record(drill: Drill, actor: Actor, type: str, **payload: Any) -> None:
    incident = drill.incident
    if incident is not None:
        payload["incident"] = {"id": str(incident.pk), "reference": incident.reference}
    event_record(
        organisation=drill.organisation,
        actor=actor,
        type=type,
        subject=("drill", str(drill.pk)),
        payload={"drill": drill_ref(drill), **payload},
    )


def _lock(drill: Drill) -> Drill:
    return (
        Drill.all_tenants.select_for_update(of=("self",))
        .select_related("organisation", "playbook", "incident", "run")
        .get(pk=drill.pk)
    )


def _set_participants(drill: Drill, participants: list[Participant]) -> None:
    members = set(
        Membership.all_tenants.filter(
            organisation_id=drill.organisation_id, user__in=[u for u, _ in participants]
        ).values_list("user_id", flat=True)
    )
    if any(user.pk not in members for user, _ in participants):
        raise DomainError("Participants must be members of the organisation.")
    if sum(role == IncidentRole.COMMANDER for _, role in participants) > 1:
        raise DomainError("A drill has one commander.")
    DrillParticipant.all_tenants.filter(drill=drill).delete()
    DrillParticipant.all_tenants.bulk_create(
        {
            (user.pk, role): DrillParticipant(
                organisation_id=drill.organisation_id, drill=drill, user=user, role=role
            )
            for user, role in participants
        }.values()
    )


def _participants_payload(drill: Drill) -> list[dict[str, str]]:
    return [
        {"user_id": str(p.user_id), "role": p.role}
        for p in DrillParticipant.all_tenants.filter(drill=drill)
    ]


@transaction.atomic
def drill_schedule(
    *,
    organisation: Organisation,
    actor: Actor,
    playbook: Playbook,
    title: str,
    crisis_type: CrisisType,
    severity: Severity,
    scheduled_for: datetime,
    scenario: str = "",
    participants: list[Participant] | None = None,
) -> Drill:
    """Plan a drill of a playbook, with the scenario and who plays which incident role."""
    drill = Drill.all_tenants.create(
        organisation=organisation,
        playbook=playbook,
        title=title,
        scenario=scenario,
        crisis_type=crisis_type,
        severity=severity,
        scheduled_for=scheduled_for,
        created_by_id=actor.user_id,
    )
    _set_participants(drill, participants or [])
    _record(
        drill,
        actor,
        "drill.scheduled",
        scheduled_for=scheduled_for,
        participants=_participants_payload(drill),
    )
    return drill


DRILL_FIELDS = ("title", "scenario", "crisis_type", "severity", "scheduled_for", "participants")


@transaction.atomic
def drill_update(*, drill: Drill, actor: Actor, **fields: Any) -> Drill:
    """Change a drill that has not started yet."""
    unknown = set(fields) - set(DRILL_FIELDS)
    if unknown:
        raise DomainError(f"Not editable: {', '.join(sorted(unknown))}.")
    drill = _lock(drill)
    if drill.status != Drill.Status.SCHEDULED:
        raise DrillStateError(f"A {drill.status} drill can no longer be changed.")
    participants = fields.pop("participants", None)
    changed = [name for name, value in fields.items() if getattr(drill, name) != value]
    for name in changed:
        setattr(drill, name, fields[name])
    drill.save()
    if participants is not None:
        _set_participants(drill, participants)
        changed.append("participants")
    if changed:
        _record(drill, actor, "drill.updated", fields=sorted(changed))
    return drill


@transaction.atomic
def drill_start(*, drill: Drill, actor: Actor) -> Drill:
    """Open the drill incident (is_drill: kept inside the organisation and out of metrics),
    give participants their incident roles, and run the playbook's current version on it."""
    drill = _lock(drill)
    if drill.status != Drill.Status.SCHEDULED:
        raise DrillStateError(f"The drill is {drill.status}; only a scheduled drill starts.")
    playbook = drill.playbook
    if playbook.current_version_id is None:
        raise DrillStateError("Publish the playbook before drilling it.")
    incident = incident_declare(
        organisation=drill.organisation,
        actor=actor,
        title=f"[Drill] {drill.title}"[:200],
        summary=drill.scenario,
        crisis_type=drill.crisis_type,
        severity=drill.severity,
        is_drill=True,
        status=Incident.Status.ACTIVE,
    )
    participants = list(DrillParticipant.all_tenants.filter(drill=drill).select_related("user"))
    for participant in sorted(participants, key=lambda p: p.role != IncidentRole.COMMANDER):
        incident_role_assign(
            incident=incident, user=participant.user, role=participant.role, actor=actor
        )
    run = playbook_run_start(
        incident=incident, playbook=playbook, actor=actor, trigger=PlaybookRun.Trigger.DRILL
    )
    drill.incident, drill.run = incident, run
    drill.version_id = run.version_id
    drill.status, drill.started_at = Drill.Status.RUNNING, timezone.now()
    drill.save()
    _record(drill, actor, "drill.started", run_id=str(run.pk), version_id=str(run.version_id))
    return drill


@transaction.atomic
def drill_finish(
    *,
    drill: Drill,
    actor: Actor,
    outcome: str,
    notes: str = "",
    findings: list[dict[str, Any]] | None = None,
) -> Drill:
    """End a running drill with its outcome. Findings become follow-up tasks on the drill
    incident, which is resolved; each participant gets a training record."""
    drill = _lock(drill)
    if drill.status != Drill.Status.RUNNING or drill.incident is None:
        raise DrillStateError(f"The drill is {drill.status}; only a running drill finishes.")
    if outcome not in Drill.Outcome.values:
        raise DomainError(f"outcome: one of {', '.join(Drill.Outcome.values)}.")
    incident = drill.incident
    incident.refresh_from_db()
    for finding in findings or []:
        if incident.status in OPEN_STATUSES:
            task_create(incident=incident, actor=actor, source=Task.Source.REVIEW, **finding)
        else:
            review_action_item_add(incident=incident, actor=actor, **finding)
    # What was not done stays not done in the report; nothing of the drill goes overdue later.
    playbook_runs_stop(incident=incident, actor=actor, reason="drill finished")
    if incident.status in (Incident.Status.ACTIVE, Incident.Status.CONTAINED):
        incident_transition(incident=incident, action="resolve", actor=actor, reason="Drill over.")
    now = timezone.now()
    drill.status, drill.finished_at = Drill.Status.FINISHED, now
    drill.outcome, drill.outcome_notes = outcome, notes
    drill.save()
    participants = list(DrillParticipant.all_tenants.filter(drill=drill))
    TrainingRecord.all_tenants.bulk_create(
        [
            TrainingRecord(
                organisation_id=drill.organisation_id,
                user_id=p.user_id,
                playbook_id=drill.playbook_id,
                drill=drill,
                role=p.role,
                completed_on=now.date(),
                outcome=outcome,
            )
            for p in participants
        ],
        ignore_conflicts=True,
    )
    report = drill_report(drill=drill)
    _record(
        drill,
        actor,
        "drill.completed",
        outcome=outcome,
        steps=report["summary"],
        participants=_participants_payload(drill),
        findings=len(report["findings"]),
        duration_seconds=(now - drill.started_at).total_seconds() if drill.started_at else None,
    )
    return drill


@transaction.atomic
def drill_cancel(*, drill: Drill, actor: Actor, reason: str) -> Drill:
    """Call off a scheduled or running drill (a running one's incident is cancelled too)."""
    if not reason.strip():
        raise DomainError("Say why the drill is cancelled.")
    drill = _lock(drill)
    if drill.status not in (Drill.Status.SCHEDULED, Drill.Status.RUNNING):
        raise DrillStateError(f"The drill is already {drill.status}.")
    incident = drill.incident
    if incident is not None:
        incident.refresh_from_db()
        if incident.status in OPEN_STATUSES:
            incident_transition(incident=incident, action="cancel", actor=actor, reason=reason)
    drill.status, drill.finished_at = Drill.Status.CANCELLED, timezone.now()
    drill.outcome_notes = reason.strip()
    drill.save()
    _record(drill, actor, "drill.cancelled", reason=reason.strip())
    return drill
