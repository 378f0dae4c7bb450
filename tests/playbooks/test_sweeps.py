"""The beat sweeps under a frozen clock: overdue steps announced exactly once per lapse, waits
that end on time, and owners reminded when a playbook's review is due."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services as incident_services
from incidents.models import Task
from organisations.events import Actor
from organisations.models import Organisation
from playbooks import services, tasks
from playbooks.models import Playbook, PlaybookRun, PlaybookRunStep
from tests.factories import make_incident, make_membership, make_playbook
from tests.playbooks.conftest import T0
from tests.playbooks.helpers import PLAN, events, steps_of

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
STEP = PlaybookRunStep.Status


def start(org: Organisation, steps: list[dict[str, object]] | None = None) -> PlaybookRun:
    playbook = make_playbook(org, steps=steps or PLAN["steps"])
    return services.playbook_run_start(incident=make_incident(org), playbook=playbook, actor=SYSTEM)


def overdue_keys() -> list[str]:
    return [e.payload["step"]["key"] for e in events("playbook_run.step_overdue")]


def test_an_overdue_step_is_announced_once_per_lapse(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    run = start(org, PLAN["steps"][:1])

    clock.shift(timedelta(minutes=14, seconds=59))
    assert services.step_overdue_sweep() == 0
    clock.shift(timedelta(seconds=2))
    assert services.step_overdue_sweep() == 1
    assert services.step_overdue_sweep() == 0  # same lapse: never twice
    clock.shift(timedelta(hours=3))
    assert tasks.step_overdue_sweep_task() == 0  # the beat task, later: still the same lapse

    [event] = events("playbook_run.step_overdue")
    assert event.payload["step"]["key"] == "assess"
    assert event.payload["overdue_since"] == "2030-03-01T09:15:00Z"
    assert event.payload["run"]["id"] == str(run.pk)
    assert event.subject_type == "incident"


def test_blocked_steps_past_due_are_overdue_too_and_completed_ones_are_not(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    run = start(org)
    clock.shift(timedelta(minutes=10))
    services.playbook_run_step_complete(run=run, key="assess", actor=SYSTEM)  # on time
    clock.shift(timedelta(minutes=40))  # 50 min: holding (30) late, legal-ok (45) blocked & late

    assert services.step_overdue_sweep() == 2
    assert sorted(overdue_keys()) == ["holding", "legal-ok"]
    [holding] = [
        e for e in events("playbook_run.step_overdue") if e.payload["step"]["key"] == "holding"
    ]
    assert holding.payload["waiting_for"] == "communications"


def test_no_overdue_for_finished_runs_or_ended_incidents(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    run = start(org)
    incident_services.incident_transition(
        incident=run.incident, action="cancel", actor=SYSTEM, reason="Drill by mistake"
    )
    clock.shift(timedelta(days=1))
    assert services.step_overdue_sweep() == 0


def test_a_wait_step_ends_at_its_time_and_releases_the_next(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    steps = [
        {
            "key": "pause",
            "title": "Let the dust settle",
            "kind": "wait",
            "role": "commander",
            "due_offset_minutes": 60,
        },
        {
            "key": "update",
            "title": "Customer update",
            "kind": "task",
            "role": "comms_lead",
            "due_offset_minutes": 90,
            "depends_on": ["pause"],
        },
    ]
    run = start(org, steps)
    clock.shift(timedelta(minutes=59))
    services.step_overdue_sweep()
    assert steps_of(run)["pause"].status == STEP.ACTIVE

    clock.shift(timedelta(minutes=2))
    assert services.step_overdue_sweep() == 0  # a wait is never "overdue"

    current = steps_of(run)
    assert current["pause"].status == STEP.COMPLETED
    assert current["update"].status == STEP.ACTIVE
    assert current["update"].task is not None
    assert current["update"].task.due_at == T0 + timedelta(minutes=90)


def test_the_overdue_sweep_costs_the_same_for_1_or_20_lapsed_steps(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    counts = []
    for n in (1, 20):
        for _ in range(n):
            start(org, PLAN["steps"][:1])
        clock.shift(timedelta(hours=1))
        with CaptureQueriesContext(connection) as captured:
            assert services.step_overdue_sweep() == n
        # Apart from the event log's own writes (one append per announcement, hash-chained).
        own = [q for q in captured if "organisations_event" not in q["sql"]]
        counts.append(len(own))
    assert counts[0] == counts[1]


def test_review_reminders_once_per_lapse_until_reviewed(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    owner = make_membership(org, "crisis_manager").user
    playbook = make_playbook(org, owner=owner, review_period_days=90)
    assert playbook.next_review_at == T0 + timedelta(days=90)

    clock.shift(timedelta(days=89))
    assert services.playbook_review_due_sweep() == 0
    clock.shift(timedelta(days=2))
    assert tasks.playbook_review_due_sweep_task() == 1
    assert services.playbook_review_due_sweep() == 0
    [due] = events("playbook.review_due")
    assert due.payload["owner_id"] == str(owner.pk)

    services.playbook_mark_reviewed(playbook=playbook, actor=SYSTEM)
    playbook = Playbook.all_tenants.get(pk=playbook.pk)
    assert playbook.next_review_at == T0 + timedelta(days=91 + 90)
    clock.shift(timedelta(days=91))
    assert services.playbook_review_due_sweep() == 1  # a new lapse, a new reminder


def test_drafts_never_published_get_no_review_reminder(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    services.playbook_create(organisation=org, actor=SYSTEM, name="Draft", steps=PLAN["steps"])
    clock.shift(timedelta(days=4000))
    assert services.playbook_review_due_sweep() == 0


def test_playbook_tasks_also_go_overdue_through_the_incident_sweep(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    """The task of a step carries the same deadline, so the owner's own overdue notification
    (task.overdue, personal in the dispatcher) fires too."""
    run = start(org)
    clock.shift(timedelta(minutes=16))
    assert incident_services.task_overdue_sweep() == 1
    task = steps_of(run)["assess"].task
    assert task is not None
    assert task.source == Task.Source.PLAYBOOK
    assert events("task.overdue")[0].payload["task"]["id"] == str(task.pk)
