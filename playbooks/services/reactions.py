"""How runs react to incidents and tasks: subscribers of their events, run in the incident's
own transaction (registered in PlaybooksConfig.ready). Incidents never import playbooks."""

from __future__ import annotations

from incidents.models import OPEN_STATUSES, Incident, IncidentRole, Task
from incidents.services import task_update
from organisations.events import Actor
from organisations.models import Event
from playbooks.models import PlaybookRun, PlaybookRunStep
from playbooks.models.runs import OPEN_STEP_STATUSES
from playbooks.selectors import playbook_match
from playbooks.services.runs import (
    ENDED_INCIDENT,
    STEP,
    SYSTEM,
    _end_step,
    _role_holders,
    playbook_run_start,
    playbook_runs_stop,
)


def _incident_of(event: Event) -> Incident | None:
    ref = event.payload.get("incident")
    if not isinstance(ref, dict) or "id" not in ref:
        return None
    return (
        Incident.all_tenants.select_related("organisation", "severity", "crisis_type")
        .filter(pk=ref["id"])
        .first()
    )


def _autostart(event: Event, trigger: str) -> None:
    incident = _incident_of(event)
    if incident is None or incident.is_drill or incident.status not in OPEN_STATUSES:
        return  # a drill runs the playbook its drill names, nothing else
    playbook = playbook_match(incident=incident)
    if playbook is None:
        return
    if PlaybookRun.all_tenants.filter(incident=incident, playbook=playbook).exists():
        return
    playbook_run_start(incident=incident, playbook=playbook, actor=SYSTEM, trigger=trigger)


def on_incident_declared(event: Event, actor: Actor) -> None:
    """`incident.declared`: start the most specific matching published playbook."""
    _autostart(event, PlaybookRun.Trigger.DECLARED)


def on_severity_changed(event: Event, actor: Actor) -> None:
    """`incident.severity_changed` upwards: a more specific playbook may now match."""
    if event.payload.get("escalated"):
        _autostart(event, PlaybookRun.Trigger.SEVERITY_RAISED)


def on_status_changed(event: Event, actor: Actor) -> None:
    """Confirming a triaged incident may start its playbook; ending it cancels its runs."""
    if event.payload.get("action") == "declare":
        _autostart(event, PlaybookRun.Trigger.DECLARED)
    elif event.payload.get("to") in ENDED_INCIDENT:
        incident = _incident_of(event)
        if incident is not None:
            playbook_runs_stop(
                incident=incident, actor=actor, reason=f"incident {event.payload['to']}"
            )


def _step_of_task(event: Event) -> PlaybookRunStep | None:
    task_id = (event.payload.get("task") or {}).get("id")
    if not task_id:
        return None
    return (
        PlaybookRunStep.all_tenants.filter(task_id=task_id, status__in=OPEN_STEP_STATUSES)
        .select_related("run")
        .first()
    )


def on_task_completed(event: Event, actor: Actor) -> None:
    """A playbook task done completes its step (and unblocks the next ones)."""
    step = _step_of_task(event)
    if step is not None and step.run.status == PlaybookRun.Status.RUNNING:
        _end_step(step.run, step.key, actor, STEP.COMPLETED, "")


def on_task_updated(event: Event, actor: Actor) -> None:
    """A playbook task cancelled skips its step."""
    status = (event.payload.get("changes") or {}).get("status") or {}
    if status.get("to") != Task.Status.CANCELLED:
        return
    step = _step_of_task(event)
    if step is not None and step.run.status == PlaybookRun.Status.RUNNING:
        _end_step(step.run, step.key, actor, STEP.SKIPPED, "Its task was cancelled.")


def on_role_assigned(event: Event, actor: Actor) -> None:
    """Playbook tasks without an owner get one as soon as someone holds their role (or, as
    when they were created, the commander stands in)."""
    incident = _incident_of(event)
    if incident is None:
        return
    steps = list(
        PlaybookRunStep.all_tenants.filter(
            run__incident=incident,
            run__status=PlaybookRun.Status.RUNNING,
            status__in=(STEP.ACTIVE, STEP.WAITING),
            task__owner__isnull=True,
            task__status__in=(Task.Status.OPEN, Task.Status.IN_PROGRESS),
        ).select_related("task")
    )
    if not steps:
        return
    holders = _role_holders(incident)
    for step in steps:
        owner = holders.get(step.role) or holders.get(IncidentRole.COMMANDER)
        if owner is not None and step.task is not None:
            task_update(task=step.task, actor=actor, owner=owner)
