"""Playbook runs: start (by hand or when a matching incident is declared or escalated), advance
steps as their dependencies finish, complete or skip them, and announce overdue steps once per
lapse. Incident tasks carry the work; their completion completes the step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import Incident, IncidentRole, RoleAssignment, Task
from incidents.services import task_create, task_update
from incidents.services.common import record
from organisations.events import Actor
from organisations.models import Membership, User
from playbooks.models import Playbook, PlaybookRun, PlaybookRunStep, PlaybookVersion, StepKind
from playbooks.models.runs import DONE_STEP_STATUSES

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
