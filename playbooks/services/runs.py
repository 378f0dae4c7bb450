"""Playbook runs: start (by hand or when a matching incident is declared or escalated), advance
steps as their dependencies finish, complete or skip them, and announce overdue steps once per
lapse. Incident tasks carry the work; their completion completes the step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import OPEN_STATUSES, Incident, IncidentRole, RoleAssignment, Task
from incidents.services import task_create, task_update
from incidents.services.common import record
from organisations.events import Actor
from organisations.models import Event, Membership, User
from playbooks.models import Playbook, PlaybookRun, PlaybookRunStep, PlaybookVersion, StepKind
from playbooks.models.runs import DONE_STEP_STATUSES, OPEN_STEP_STATUSES
from playbooks.selectors import playbook_match

STEP = PlaybookRunStep.Status
SYSTEM = Actor.system("playbooks")
ENDED_INCIDENT = (
    Incident.Status.CLOSED,
    Incident.Status.DECLINED,
    Incident.Status.MERGED,
    Incident.Status.CANCELLED,
)


class PlaybookRunError(ConflictError):
    """The run or step is not in a state that allows this."""

    code = "playbook_run_conflict"


# --- the communications hook --------------------------------------------------------------------

DraftMessageHook = Callable[[PlaybookRunStep, Incident, Actor], dict[str, Any] | None]
_draft_message_hooks: list[DraftMessageHook] = []


def register_draft_message_hook(hook: DraftMessageHook) -> None:
    """Let communications create the draft of a `draft_message` step when it becomes active.

    `hook(step, incident, actor)` runs in the run's transaction and returns what to remember
    (e.g. `{"message_id": …}`), or None if it did nothing. `incident.is_drill` tells it the
    draft must never be published outside. Until a hook is registered the step waits for
    `communications`, and its task asks a person to draft the message.
    """
    if hook not in _draft_message_hooks:
        _draft_message_hooks.append(hook)


# --- references in event payloads ---------------------------------------------------------------


def run_ref(run: PlaybookRun) -> dict[str, Any]:
    return {"id": str(run.pk), "playbook_id": str(run.playbook_id), "trigger": run.trigger}


def step_ref(step: PlaybookRunStep) -> dict[str, Any]:
    return {
        "key": step.key,
        "title": step.title,
        "kind": step.kind,
        "role": step.role,
        "status": step.status,
        "due_at": step.due_at,
        "task_id": str(step.task_id) if step.task_id else None,
    }


def _record(run: PlaybookRun, incident: Incident, actor: Actor, type: str, **payload: Any) -> None:
    """A run's events are on its incident's timeline (and hidden with a restricted incident)."""
    record(incident, actor, type, {"run": run_ref(run), **payload})


# --- starting -----------------------------------------------------------------------------------


def _role_holders(incident: Incident) -> dict[str, User]:
    """The current holder of each incident role (the earliest assigned, for shared roles)."""
    holders: dict[str, User] = {}
    for assignment in RoleAssignment.all_tenants.filter(
        incident=incident, unassigned_at__isnull=True
    ).select_related("user"):
        holders.setdefault(assignment.role, assignment.user)
    return holders


@transaction.atomic
def playbook_run_start(
    *,
    incident: Incident,
    playbook: Playbook,
    actor: Actor,
    trigger: str = PlaybookRun.Trigger.MANUAL,
) -> PlaybookRun:
    """Start the playbook's current version on the incident (once per incident and playbook):
    copy its steps with due times from now, and activate those that depend on nothing."""
    incident = (
        Incident.all_tenants.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=incident.pk)
    )
    if incident.status in ENDED_INCIDENT:
        raise PlaybookRunError(f"A {incident.status} incident runs no playbook.")
    version = (
        PlaybookVersion.all_tenants.filter(pk=playbook.current_version_id).first()
        if playbook.current_version_id
        else None
    )
    if version is None:
        raise PlaybookRunError("Publish the playbook before running it.")
    if PlaybookRun.all_tenants.filter(incident=incident, playbook=playbook).exists():
        raise PlaybookRunError("This playbook already ran on this incident.")
    now = timezone.now()
    try:
        with transaction.atomic():
            run = PlaybookRun.all_tenants.create(
                organisation_id=incident.organisation_id,
                incident=incident,
                playbook=playbook,
                version=version,
                trigger=trigger,
                started_by_id=actor.user_id,
                started_at=now,
            )
    except IntegrityError as exc:  # a concurrent start won
        raise PlaybookRunError("This playbook already ran on this incident.") from exc
    steps = PlaybookRunStep.all_tenants.bulk_create(
        PlaybookRunStep(
            organisation_id=incident.organisation_id,
            run=run,
            key=step["key"],
            position=position,
            title=step["title"],
            kind=step["kind"],
            role=step["role"],
            due_offset_minutes=step["due_offset_minutes"],
            depends_on=step.get("depends_on", []),
            config={k: v for k, v in step.items() if k in STEP_CONFIG_FIELDS},
            due_at=now + timedelta(minutes=step["due_offset_minutes"]),
        )
        for position, step in enumerate(version.steps)
    )
    _record(
        run,
        incident,
        actor,
        "playbook_run.started",
        playbook={"id": str(playbook.pk), "name": version.name},
        version={"id": str(version.pk), "number": version.number},
        is_drill=incident.is_drill,
        steps=len(steps),
    )
    _advance(run, incident, steps, actor, now)
    return run


STEP_CONFIG_FIELDS = ("description", "audience", "notify_roles", "template", "message")


def _activate(
    step: PlaybookRunStep,
    incident: Incident,
    holders: dict[str, User],
    actor: Actor,
    now: datetime,
    run: PlaybookRun,
) -> None:
    """Start one step whose dependencies are done, according to its kind."""
    step.activated_at = now
    step.status = STEP.ACTIVE
    owner = holders.get(step.role) or holders.get(IncidentRole.COMMANDER)
    if step.kind in (StepKind.TASK, StepKind.APPROVAL_GATE, StepKind.DRAFT_MESSAGE):
        title = {
            StepKind.APPROVAL_GATE: f"Approve: {step.title}",
            StepKind.DRAFT_MESSAGE: f"Draft: {step.title}",
        }.get(step.kind, step.title)  # type: ignore[call-overload]
        step.task = task_create(
            incident=incident,
            actor=actor,
            title=title[:200],
            description=_task_description(step, run),
            owner=owner,
            due_at=step.due_at,
            priority=Task.Priority.HIGH
            if step.kind == StepKind.APPROVAL_GATE
            else Task.Priority.MEDIUM,
            source=Task.Source.PLAYBOOK,
        )
    if step.kind == StepKind.DRAFT_MESSAGE:
        results = [r for r in (hook(step, incident, actor) for hook in _draft_message_hooks) if r]
        if results:
            step.result = {"draft": results[0]}
        else:
            step.status, step.waiting_for = STEP.WAITING, "communications"
    step.save()
    _record(run, incident, actor, "playbook_run.step_started", step=step_ref(step))
    if step.kind == StepKind.NOTIFY:
        _notify(step, incident, holders, actor, run)
        _finish(step, incident, actor, now, run, STEP.COMPLETED)


def _task_description(step: PlaybookRunStep, run: PlaybookRun) -> str:
    parts = [f"Playbook step `{step.key}` (due {step.due_offset_minutes} min after the start)."]
    for name in ("description", "template", "audience", "message"):
        if step.config.get(name):
            parts.append(f"{name.capitalize()}: {step.config[name]}")
    return "\n".join(parts)


def _notify(
    step: PlaybookRunStep,
    incident: Incident,
    holders: dict[str, User],
    actor: Actor,
    run: PlaybookRun,
) -> None:
    """Record who must be told: the holders of the named incident roles and the members with
    the named organisation roles. The dispatcher reads it from the outbox."""
    roles = step.config.get("notify_roles") or [step.role]
    incident_roles = [r for r in roles if r in IncidentRole.values]
    org_roles = [r for r in roles if r not in IncidentRole.values]
    users = {str(holders[r].pk) for r in incident_roles if r in holders}
    if org_roles:
        users |= {
            str(pk)
            for pk in Membership.all_tenants.filter(
                organisation_id=incident.organisation_id, role__in=org_roles
            ).values_list("user_id", flat=True)
        }
    step.result = {"notified_user_ids": sorted(users)}
    _record(
        run,
        incident,
        actor,
        "playbook_run.notification_requested",
        step=step_ref(step),
        roles=roles,
        user_ids=sorted(users),
        message=step.config.get("message", step.title),
    )


def _finish(
    step: PlaybookRunStep,
    incident: Incident,
    actor: Actor,
    now: datetime,
    run: PlaybookRun,
    status: str,
    reason: str = "",
) -> None:
    step.status = status
    step.completed_at = now
    step.completed_by_id = actor.user_id
    step.skip_reason = reason
    step.waiting_for = ""
    step.save()
    late = max(0.0, (now - step.due_at).total_seconds())
    if status == STEP.COMPLETED:
        _record(
            run,
            incident,
            actor,
            "playbook_run.step_completed",
            step=step_ref(step),
            late_by_seconds=late,
        )
    else:
        _record(
            run, incident, actor, "playbook_run.step_skipped", step=step_ref(step), reason=reason
        )


def _advance(
    run: PlaybookRun,
    incident: Incident,
    steps: list[PlaybookRunStep],
    actor: Actor,
    now: datetime,
) -> None:
    """Activate every pending step whose dependencies are all done (repeatedly: a notify step
    finishes at once and may unblock the next); complete the run when nothing is left."""
    holders: dict[str, User] | None = None
    while True:
        done = {s.key for s in steps if s.status in DONE_STEP_STATUSES}
        ready = [s for s in steps if s.status == STEP.PENDING and set(s.depends_on) <= done]
        if not ready:
            break
        if holders is None:
            holders = _role_holders(incident)
        for step in ready:
            _activate(step, incident, holders, actor, now, run)
    if run.status == PlaybookRun.Status.RUNNING and all(
        s.status in DONE_STEP_STATUSES for s in steps
    ):
        run.status, run.completed_at = PlaybookRun.Status.COMPLETED, now
        run.save(update_fields=("status", "completed_at"))
        skipped = sum(s.status == STEP.SKIPPED for s in steps)
        late = sum(
            s.status == STEP.COMPLETED and s.completed_at is not None and s.completed_at > s.due_at
            for s in steps
        )
        _record(
            run,
            incident,
            actor,
            "playbook_run.completed",
            steps=len(steps),
            skipped=skipped,
            late=late,
            duration_seconds=(now - run.started_at).total_seconds(),
            is_drill=incident.is_drill,
        )


# --- completing and skipping --------------------------------------------------------------------


def _locked(run: PlaybookRun) -> tuple[PlaybookRun, Incident, list[PlaybookRunStep]]:
    run = PlaybookRun.all_tenants.select_for_update(of=("self",)).get(pk=run.pk)
    incident = Incident.all_tenants.select_related("organisation").get(pk=run.incident_id)
    steps = list(PlaybookRunStep.all_tenants.filter(run=run).order_by("position"))
    return run, incident, steps


def _step(steps: list[PlaybookRunStep], key: str) -> PlaybookRunStep:
    for step in steps:
        if step.key == key:
            return step
    raise DomainError(f"step: this run has no step {key!r}.")


def _end_step(run: PlaybookRun, key: str, actor: Actor, status: str, reason: str) -> PlaybookRun:
    run, incident, steps = _locked(run)
    step = _step(steps, key)
    if run.status != PlaybookRun.Status.RUNNING:
        raise PlaybookRunError(f"The run is {run.status}.")
    if step.status in DONE_STEP_STATUSES:
        raise PlaybookRunError(f"Step {key!r} is already {step.status}.")
    if step.status == STEP.PENDING and status == STEP.COMPLETED:
        raise PlaybookRunError(
            f"Step {key!r} waits for {', '.join(step.depends_on)}; finish or skip those first.",
            depends_on=step.depends_on,
        )
    now = timezone.now()
    _finish(step, incident, actor, now, run, status, reason)
    task = step.task
    if task is not None and task.status in (Task.Status.OPEN, Task.Status.IN_PROGRESS):
        # Its task follows; the task's own event comes back here and finds the step done.
        target = Task.Status.DONE if status == STEP.COMPLETED else Task.Status.CANCELLED
        task_update(task=task, actor=actor, status=target)
    _advance(run, incident, steps, actor, now)
    return run


@transaction.atomic
def playbook_run_step_complete(*, run: PlaybookRun, key: str, actor: Actor) -> PlaybookRun:
    """Mark an active or waiting step done (its task too), and start what it unblocks."""
    return _end_step(run, key, actor, STEP.COMPLETED, "")


@transaction.atomic
def playbook_run_step_skip(*, run: PlaybookRun, key: str, actor: Actor, reason: str) -> PlaybookRun:
    """Skip a step that is not done, with a reason (its task is cancelled); steps that depend
    on it may then start."""
    if not reason.strip():
        raise DomainError("Say why the step is skipped.")
    return _end_step(run, key, actor, STEP.SKIPPED, reason.strip())


# --- reacting to incidents (subscribers, in the incident's transaction) -------------------------


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


def playbook_runs_stop(*, incident: Incident, actor: Actor, reason: str) -> None:
    """End the incident's running runs where they stand (cancelled: no more steps start, nothing
    goes overdue) and cancel their open tasks; steps keep their status for the record."""
    now = timezone.now()
    for run in PlaybookRun.all_tenants.select_for_update().filter(
        incident=incident, status=PlaybookRun.Status.RUNNING
    ):
        run.status, run.cancelled_at = PlaybookRun.Status.CANCELLED, now
        run.save(update_fields=("status", "cancelled_at"))
        _record(run, incident, actor, "playbook_run.cancelled", reason=reason)
        open_tasks = Task.all_tenants.filter(
            pk__in=PlaybookRunStep.all_tenants.filter(run=run).values("task_id"),
            status__in=(Task.Status.OPEN, Task.Status.IN_PROGRESS),
        )
        if incident.status not in ENDED_INCIDENT:  # an ended incident's tasks stay as they were
            for task in open_tasks:
                task_update(task=task, actor=actor, status=Task.Status.CANCELLED)


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


# --- sweeps -------------------------------------------------------------------------------------

LAPSED = Q(overdue_notified_for__isnull=True) | ~Q(overdue_notified_for=F("due_at"))


def step_overdue_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Announce `playbook_run.step_overdue` once per lapse of a step's due time, and complete
    `wait` steps whose time has come. Claims rows with a conditional UPDATE, so overlapping
    sweeps never announce one lapse twice; a constant number of queries per batch."""
    now = now or timezone.now()
    announced = 0
    while True:
        with transaction.atomic():
            due = list(
                PlaybookRunStep.all_tenants.select_for_update(skip_locked=True, of=("self",))
                .select_related("run__incident__organisation", "task")
                .filter(status__in=OPEN_STEP_STATUSES, due_at__lt=now)
                .filter(run__status=PlaybookRun.Status.RUNNING)
                .exclude(kind=StepKind.WAIT)
                .exclude(run__incident__status__in=ENDED_INCIDENT)
                .filter(LAPSED)
                .order_by("due_at")[:batch]
            )
            claimed = set(
                PlaybookRunStep.all_tenants.filter(pk__in=[s.pk for s in due])
                .filter(LAPSED)
                .values_list("pk", flat=True)
            )
            PlaybookRunStep.all_tenants.filter(pk__in=claimed).update(
                overdue_notified_for=F("due_at")
            )
            for step in due:
                if step.pk not in claimed:
                    continue
                task = step.task
                _record(
                    step.run,
                    step.run.incident,
                    Actor.system("playbook overdue sweep"),
                    "playbook_run.step_overdue",
                    step=step_ref(step),
                    owner_id=str(task.owner_id) if task and task.owner_id else None,
                    overdue_since=step.due_at,
                    waiting_for=step.waiting_for or None,
                )
                announced += 1
        if len(due) < batch:
            break
    _complete_due_waits(now)
    return announced


def _complete_due_waits(now: datetime) -> None:
    runs = set(
        PlaybookRunStep.all_tenants.filter(
            kind=StepKind.WAIT,
            status=STEP.ACTIVE,
            due_at__lte=now,
            run__status=PlaybookRun.Status.RUNNING,
        ).values_list("run_id", "key")
    )
    for run_id, key in sorted(runs, key=str):
        with transaction.atomic():
            run, incident, steps = _locked(PlaybookRun(pk=run_id))
            step = _step(steps, key)
            if step.status != STEP.ACTIVE or run.status != PlaybookRun.Status.RUNNING:
                continue  # someone else finished it meanwhile
            actor = Actor.system("playbook wait")
            _finish(step, incident, actor, now, run, STEP.COMPLETED)
            _advance(run, incident, steps, actor, now)
