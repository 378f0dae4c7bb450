"""Tasks: create, update, complete, and the overdue sweep that announces each lapse once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from crisis_api.celery import app as celery_app
from incidents import services
from incidents.models import Incident, Task
from organisations.events import Actor
from organisations.models import Event, Organisation, Role
from tests.factories import UserFactory, make_incident, make_membership
from tests.incidents.helpers import BASE, events_of, patch, post

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
NOON = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def overdue_events(task: Task) -> list[Event]:
    return [
        e
        for e in events_of(task.incident, "task.overdue")
        if e.payload["task"]["id"] == str(task.pk)
    ]


def task_due(incident: Incident, due_at: datetime | None, title: str = "Brief the CEO") -> Task:
    return services.task_create(incident=incident, actor=SYSTEM, title=title, due_at=due_at)


# --- create and update ----------------------------------------------------------------------


def test_responder_creates_a_task_with_an_owner(
    org: Organisation, responder: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    owner = make_membership(org).user
    body = {
        "incident": str(incident.pk),
        "title": "Draft the holding statement",
        "owner": str(owner.pk),
        "due_at": "2030-06-01T12:30:00Z",
        "priority": "urgent",
    }

    response = post(responder, f"{BASE}/tasks/", body)

    assert response.status_code == 201, response.content
    task = response.json()
    assert task["incident"] == {"id": str(incident.pk), "reference": incident.reference}
    assert task["owner"]["id"] == str(owner.pk)
    assert (task["status"], task["source"], task["priority"]) == ("open", "manual", "urgent")
    assert task["due_at"] == "2030-06-01T12:30:00Z"
    [created] = events_of(incident, "task.created")
    assert created.payload["task"]["id"] == task["id"]


def test_task_owner_must_be_a_member(
    org: Organisation, other_org: Organisation, responder: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    for outsider in (UserFactory(), make_membership(other_org).user):
        body = {"incident": str(incident.pk), "title": "x", "owner": str(outsider.pk)}
        assert post(responder, f"{BASE}/tasks/", body).status_code == 404
    assert not Task.all_tenants.exists()


def test_task_of_another_organisations_incident_is_not_found(
    other_org: Organisation, responder: APIClient, unscoped: None
) -> None:
    foreign = make_incident(other_org)
    response = post(responder, f"{BASE}/tasks/", {"incident": str(foreign.pk), "title": "x"})
    assert response.status_code == 404
    assert not Task.all_tenants.exists()


def test_viewers_cannot_create_or_change_tasks(
    org: Organisation, viewer: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    task = task_due(incident, None)
    body = {"incident": str(incident.pk), "title": "x"}
    assert post(viewer, f"{BASE}/tasks/", body).status_code == 403
    assert patch(viewer, f"{BASE}/tasks/{task.pk}/", {"status": "done"}).status_code == 403


def test_tasks_cannot_be_added_to_a_final_incident(
    org: Organisation, responder: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    services.incident_transition(incident=incident, action="cancel", actor=SYSTEM, reason="dup")
    response = post(responder, f"{BASE}/tasks/", {"incident": str(incident.pk), "title": "x"})
    assert response.status_code == 409


def test_updating_a_task_records_the_changes(
    org: Organisation, responder: APIClient, unscoped: None
) -> None:
    task = task_due(make_incident(org), None)
    owner = make_membership(org).user

    response = patch(
        responder,
        f"{BASE}/tasks/{task.pk}/",
        {
            "title": "Brief the board",
            "priority": "high",
            "owner": str(owner.pk),
            "status": "in_progress",
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "Brief the board"
    assert (body["priority"], body["status"]) == ("high", "in_progress")
    assert body["owner"]["id"] == str(owner.pk)
    [updated] = events_of(task.incident, "task.updated")
    assert set(updated.payload["changes"]) == {"title", "priority", "owner", "status"}
    assert updated.payload["changes"]["owner"] == {"from": None, "to": str(owner.pk)}
    assert events_of(task.incident, "task.completed") == []


def test_completing_a_task_records_task_completed(
    org: Organisation, responder: APIClient, unscoped: None
) -> None:
    task = task_due(make_incident(org), None)

    body = patch(responder, f"{BASE}/tasks/{task.pk}/", {"status": "done"}).json()

    assert body["status"] == "done"
    assert body["completed_at"] is not None
    [completed] = events_of(task.incident, "task.completed")
    assert completed.payload["task"]["id"] == str(task.pk)
    again = patch(responder, f"{BASE}/tasks/{task.pk}/", {"status": "done"})
    assert again.status_code == 200
    assert len(events_of(task.incident, "task.completed")) == 1

    reopened = patch(responder, f"{BASE}/tasks/{task.pk}/", {"status": "open"}).json()
    assert reopened["completed_at"] is None


def test_tasks_list_filters_by_owner_and_overdue(
    org: Organisation, responder: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    mine = services.task_create(
        incident=incident, actor=SYSTEM, title="Mine", owner=responder.membership.user
    )
    late = task_due(incident, NOON - timedelta(days=3650), title="Late")
    me = responder.membership.user.pk
    assert [t["id"] for t in responder.get(f"{BASE}/tasks/?owner={me}").json()["results"]] == [
        str(mine.pk)
    ]
    overdue = responder.get(f"{BASE}/tasks/?overdue=true").json()["results"]
    assert [t["id"] for t in overdue] == [str(late.pk)]
    assert overdue[0]["overdue"] is True
    stranger = UserFactory()
    assert responder.get(f"{BASE}/tasks/?owner={stranger.pk}").status_code == 404
    assert responder.get(f"{BASE}/tasks/?owner=not-a-uuid").status_code == 404


# --- the overdue sweep ----------------------------------------------------------------------


def test_overdue_sweep_announces_each_lapse_once(org: Organisation, unscoped: None) -> None:
    incident = make_incident(org)
    late = task_due(incident, NOON - timedelta(minutes=5))
    on_time = task_due(incident, NOON + timedelta(minutes=5), title="Not yet")
    undated = task_due(incident, None, title="Whenever")

    assert services.task_overdue_sweep(now=NOON) == 1
    [announced] = overdue_events(late)
    assert announced.payload["overdue_since"] == "2030-06-01T11:55:00Z"
    assert announced.actor_type == "system"

    assert services.task_overdue_sweep(now=NOON) == 0
    assert services.task_overdue_sweep(now=NOON + timedelta(hours=1)) == 1  # on_time lapsed now
    assert len(overdue_events(late)) == 1
    assert len(overdue_events(on_time)) == 1
    assert overdue_events(undated) == []


def test_a_new_due_time_in_the_past_is_a_new_lapse(org: Organisation, unscoped: None) -> None:
    task = task_due(make_incident(org), NOON - timedelta(minutes=5))
    assert services.task_overdue_sweep(now=NOON) == 1

    services.task_update(task=task, actor=SYSTEM, due_at=NOON - timedelta(minutes=1))
    assert services.task_overdue_sweep(now=NOON) == 1
    assert services.task_overdue_sweep(now=NOON) == 0
    assert len(overdue_events(task)) == 2


def test_a_due_time_pushed_out_and_brought_back_is_a_new_lapse(
    org: Organisation, unscoped: None
) -> None:
    first_due = NOON - timedelta(minutes=5)
    task = task_due(make_incident(org), first_due)
    assert services.task_overdue_sweep(now=NOON) == 1

    services.task_update(task=task, actor=SYSTEM, due_at=NOON + timedelta(days=1))
    assert services.task_overdue_sweep(now=NOON) == 0
    services.task_update(task=task, actor=SYSTEM, due_at=first_due)
    assert services.task_overdue_sweep(now=NOON) == 1
    assert [e.payload["overdue_since"] for e in overdue_events(task)] == [
        "2030-06-01T11:55:00Z",
        "2030-06-01T11:55:00Z",
    ]


def test_done_and_cancelled_tasks_are_never_overdue(org: Organisation, unscoped: None) -> None:
    incident = make_incident(org)
    done = task_due(incident, NOON - timedelta(hours=1))
    cancelled = task_due(incident, NOON - timedelta(hours=1))
    services.task_update(task=done, actor=SYSTEM, status=Task.Status.DONE)
    services.task_update(task=cancelled, actor=SYSTEM, status=Task.Status.CANCELLED)

    assert services.task_overdue_sweep(now=NOON) == 0
    assert events_of(incident, "task.overdue") == []


def test_tasks_of_abandoned_incidents_are_not_announced(org: Organisation, unscoped: None) -> None:
    incident = make_incident(org)
    task_due(incident, NOON - timedelta(hours=1))
    services.incident_transition(incident=incident, action="cancel", actor=SYSTEM, reason="dup")
    assert services.task_overdue_sweep(now=NOON) == 0


def test_sweep_covers_every_organisation_in_batches(
    org: Organisation, other_org: Organisation, unscoped: None
) -> None:
    mine, theirs = make_incident(org), make_incident(other_org)
    for n in range(3):
        task_due(mine, NOON - timedelta(minutes=n + 1), title=f"mine {n}")
        task_due(theirs, NOON - timedelta(minutes=n + 1), title=f"theirs {n}")

    assert services.task_overdue_sweep(now=NOON, batch=2) == 6
    assert len(events_of(mine, "task.overdue")) == len(events_of(theirs, "task.overdue")) == 3
    assert services.task_overdue_sweep(now=NOON, batch=2) == 0


def test_the_celery_task_runs_the_sweep(org: Organisation) -> None:
    """Outside any tenant scope, as on a worker."""
    task = task_due(make_incident(org), NOON - timedelta(minutes=1))
    celery_app.loader.import_default_modules()  # what a worker does: autodiscover the tasks
    sweep = celery_app.tasks["incidents.sweep_overdue_tasks"]

    with time_machine.travel(NOON, tick=False):
        assert sweep() == 1
        assert sweep.apply().get() == 0
    assert len(overdue_events(task)) == 1


def test_viewers_see_tasks_of_open_incidents(
    org: Organisation, member_client: Callable[..., APIClient], unscoped: None
) -> None:
    task = task_due(make_incident(org), None)
    viewer = member_client(org, Role.VIEWER)
    assert viewer.get(f"{BASE}/tasks/{task.pk}/").json()["title"] == "Brief the CEO"
