"""The beat sweep of runs: overdue steps announced once per lapse, elapsed waits finished."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from organisations.events import Actor
from playbooks.models import PlaybookRun, PlaybookRunStep, StepKind
from playbooks.models.runs import OPEN_STEP_STATUSES
from playbooks.services.runs import (
    ENDED_INCIDENT,
    STEP,
    _advance,
    _finish,
    _locked,
    _record,
    _step,
    step_ref,
)

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
