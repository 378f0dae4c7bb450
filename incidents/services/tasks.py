"""Incident tasks: create, change, complete, and the overdue sweep (once per lapse)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import Incident, Task
from incidents.services.common import lock, record
from incidents.services.people import FINAL_STATUSES, _ensure_member
from organisations.events import Actor
from organisations.models import User

ACTIVE_TASK = (Task.Status.OPEN, Task.Status.IN_PROGRESS)
ABANDONED = (Incident.Status.DECLINED, Incident.Status.MERGED, Incident.Status.CANCELLED)


def task_ref(task: Task) -> dict[str, Any]:
    return {
        "id": str(task.pk),
        "title": task.title,
        "owner_id": str(task.owner_id) if task.owner_id else None,
        "due_at": task.due_at,
        "priority": task.priority,
        "status": task.status,
        "source": task.source,
    }


@transaction.atomic
def task_create(
    *,
    incident: Incident,
    actor: Actor,
    title: str,
    description: str = "",
    owner: User | None = None,
    due_at: datetime | None = None,
    priority: str = Task.Priority.MEDIUM,
    source: str = Task.Source.MANUAL,
) -> Task:
    """Add a task to an incident that is not final; its owner must be a member."""
    incident = lock(incident)  # not closed or cancelled between our check and our insert
    follow_up = source == Task.Source.REVIEW and incident.status == Incident.Status.CLOSED
    if incident.status in FINAL_STATUSES and not follow_up:
        raise ConflictError(f"Tasks cannot be added to a {incident.status} incident.")
    if owner is not None:
        _ensure_member(incident, owner)
    task = Task.all_tenants.create(
        organisation_id=incident.organisation_id,
        incident=incident,
        title=title,
        description=description,
        owner=owner,
        due_at=due_at,
        priority=priority,
        source=source,
        created_by_id=actor.user_id,
    )
    record(incident, actor, "task.created", {"task": task_ref(task)})
    return task


def _plain(value: Any) -> Any:
    return str(value.pk) if isinstance(value, User) else value


TASK_FIELDS = ("title", "description", "owner", "due_at", "priority", "status")


@transaction.atomic
def task_update(*, task: Task, actor: Actor, **fields: Any) -> Task:
    """Change a task. Becoming done records `task.completed`; a new due time starts a new lapse."""
    unknown = set(fields) - set(TASK_FIELDS)
    if unknown:
        raise DomainError(f"Not editable: {', '.join(sorted(unknown))}.")
    task = (
        Task.all_tenants.select_for_update()
        .select_related("incident__organisation")
        .get(pk=task.pk)
    )
    if fields.get("owner") is not None:
        _ensure_member(task.incident, fields["owner"])
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        old = getattr(task, name)
        if old != value:
            changes[name] = {"from": _plain(old), "to": _plain(value)}
            setattr(task, name, value)
    if not changes:
        return task
    now = timezone.now()
    if "status" in changes:
        task.completed_at = now if task.status == Task.Status.DONE else None
    if "due_at" in changes:
        # A new due time is a new lapse, even one equal to a due time announced before
        # (pushed out, then brought back).
        task.overdue_notified_for = None
    task.updated_at = now
    task.save()
    incident = task.incident
    record(incident, actor, "task.updated", {"task": task_ref(task), "changes": changes})
    if changes.get("status", {}).get("to") == Task.Status.DONE:
        record(incident, actor, "task.completed", {"task": task_ref(task)})
    return task


def task_overdue_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Announce `task.overdue` for each open task past due, once per lapse of its due time.

    Claims rows with a conditional UPDATE (`overdue_notified_for` set to the due time), so
    overlapping sweeps or workers never announce one lapse twice.
    """
    now = now or timezone.now()
    announced = 0
    while True:
        with transaction.atomic():
            due = list(
                Task.all_tenants.select_for_update(skip_locked=True, of=("self",))
                .select_related("incident__organisation")
                .filter(status__in=ACTIVE_TASK, due_at__lt=now)
                .filter(Q(overdue_notified_for__isnull=True) | ~Q(overdue_notified_for=F("due_at")))
                .exclude(incident__status__in=ABANDONED)
                .order_by("due_at")[:batch]
            )
            for task in due:
                claimed = (
                    Task.all_tenants.filter(pk=task.pk)
                    .filter(
                        Q(overdue_notified_for__isnull=True) | ~Q(overdue_notified_for=F("due_at"))
                    )
                    .update(overdue_notified_for=F("due_at"))
                )
                if claimed:
                    record(
                        task.incident,
                        Actor.system("overdue sweep"),
                        "task.overdue",
                        {"task": task_ref(task), "overdue_since": task.due_at},
                    )
                    announced += 1
        if len(due) < batch:
            return announced
