"""The public-update cadence: when the next public update is due, and its overdue sweep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from crisis_api.celery import app as celery_app
from incidents import services
from incidents.models import Incident
from organisations.events import Actor
from organisations.models import Organisation
from tests.factories import make_incident, severity_of
from tests.incidents.helpers import events_of, incident_url, post

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
T0 = datetime(2030, 1, 15, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Frozen at T0; request it before any client, whose token must not be from the past."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def reload(incident: Incident) -> Incident:
    return Incident.all_tenants.select_related("severity").get(pk=incident.pk)


def test_declaring_active_schedules_the_first_update_one_interval_later(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    incident = make_incident(org, severity=severity_of(org, 1))
    assert incident.declared_at == T0
    assert incident.next_public_update_due_at == T0 + timedelta(minutes=30)


def test_triage_has_no_cadence_until_declared(
    org: Organisation, clock: time_machine.Traveller, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org, status="triage", severity=severity_of(org, 2))
    assert incident.next_public_update_due_at is None

    clock.shift(timedelta(minutes=20))
    body = post(admin, incident_url(incident, "declare")).json()

    assert body["declared_at"] == "2030-01-15T08:20:00Z"
    assert body["next_public_update_due_at"] == "2030-01-15T09:20:00Z"


def test_changing_severity_recomputes_the_next_update(
    org: Organisation, clock: time_machine.Traveller, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org, severity=severity_of(org, 3))
    assert incident.next_public_update_due_at == T0 + timedelta(hours=4)

    clock.shift(timedelta(minutes=10))
    response = post(
        admin, incident_url(incident, "severity"), {"severity": str(severity_of(org, 1).pk)}
    )

    assert response.status_code == 200, response.content
    assert response.json()["next_public_update_due_at"] == "2030-01-15T08:30:00Z"
    [changed] = events_of(incident, "incident.severity_changed")
    assert changed.payload["escalated"] is True
    assert (changed.payload["from"]["rank"], changed.payload["to"]["rank"]) == (3, 1)


def test_severity_change_counts_from_the_last_public_update(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    incident = make_incident(org, severity=severity_of(org, 4))
    clock.shift(timedelta(hours=2))
    services.incident_public_update_record(incident=incident, actor=SYSTEM)
    clock.shift(timedelta(minutes=5))

    services.incident_change_severity(incident=incident, severity=severity_of(org, 2), actor=SYSTEM)

    assert reload(incident).next_public_update_due_at == T0 + timedelta(hours=3)


def test_severity_change_after_a_reopen_counts_from_the_reopening(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    incident = make_incident(org, severity=severity_of(org, 2))
    clock.shift(timedelta(hours=5))
    services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)
    clock.shift(timedelta(hours=5))
    services.incident_transition(incident=incident, action="reopen", actor=SYSTEM)
    reopened_at = T0 + timedelta(hours=10)
    assert reload(incident).next_public_update_due_at == reopened_at + timedelta(hours=1)

    clock.shift(timedelta(minutes=5))
    services.incident_change_severity(incident=incident, severity=severity_of(org, 1), actor=SYSTEM)

    # Not declared_at + 30 min (ten hours ago): that would be overdue the moment it changed.
    assert reload(incident).next_public_update_due_at == reopened_at + timedelta(minutes=30)


def test_severity_cannot_change_once_resolved(
    org: Organisation, clock: time_machine.Traveller, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)
    body = {"severity": str(severity_of(org, 1).pk)}
    response = post(admin, incident_url(incident, "severity"), body)
    assert response.status_code == 409
    assert response.json()["allowed"] == ["close", "reopen"]


def test_severity_of_another_organisation_is_not_found(
    org: Organisation, other_org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    body = {"severity": str(severity_of(other_org, 1).pk)}
    assert post(admin, incident_url(incident, "severity"), body).status_code == 404


def test_overdue_sweep_announces_each_lapse_once(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    incident = make_incident(org, severity=severity_of(org, 1))
    due = T0 + timedelta(minutes=30)

    assert services.public_update_overdue_sweep(now=due) == 0  # due, not yet overdue
    assert services.public_update_overdue_sweep(now=due + timedelta(seconds=1)) == 1
    assert services.public_update_overdue_sweep(now=due + timedelta(minutes=20)) == 0

    [overdue] = events_of(incident, "incident.public_update_overdue")
    assert overdue.payload["due_at"] == "2030-01-15T08:30:00Z"
    assert overdue.payload["last_public_update_at"] is None
    assert overdue.payload["severity"] == {"name": "SEV1 Critical"}


def test_a_public_update_moves_the_due_time_and_a_later_lapse_is_announced_again(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    incident = make_incident(org, severity=severity_of(org, 1))
    clock.shift(timedelta(minutes=45))
    assert services.public_update_overdue_sweep(now=T0 + timedelta(minutes=45)) == 1

    services.incident_public_update_record(incident=incident, actor=SYSTEM)

    stored = reload(incident)
    assert stored.last_public_update_at == T0 + timedelta(minutes=45)
    assert stored.next_public_update_due_at == T0 + timedelta(minutes=75)
    [recorded] = events_of(incident, "incident.public_update_recorded")
    assert recorded.payload["next_due_at"] == "2030-01-15T09:15:00Z"
    assert recorded.payload["due_at"] == "2030-01-15T08:30:00Z"
    assert recorded.payload["on_time"] is False  # 15 minutes late
    assert services.public_update_overdue_sweep(now=T0 + timedelta(minutes=60)) == 0
    assert services.public_update_overdue_sweep(now=T0 + timedelta(minutes=80)) == 1
    assert services.public_update_overdue_sweep(now=T0 + timedelta(minutes=90)) == 0
    lapses = events_of(incident, "incident.public_update_overdue")
    assert [e.payload["due_at"] for e in lapses] == ["2030-01-15T08:30:00Z", "2030-01-15T09:15:00Z"]


def test_only_declared_incidents_are_swept(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    contained = make_incident(org, severity=severity_of(org, 1))
    services.incident_transition(incident=contained, action="contain", actor=SYSTEM)
    resolved = make_incident(org, severity=severity_of(org, 1))
    services.incident_transition(incident=resolved, action="resolve", actor=SYSTEM)
    make_incident(org, status="triage", severity=severity_of(org, 1))

    assert services.public_update_overdue_sweep(now=T0 + timedelta(days=1)) == 1
    assert len(events_of(contained, "incident.public_update_overdue")) == 1
    assert events_of(resolved, "incident.public_update_overdue") == []


def test_the_celery_task_runs_the_public_update_sweep(
    org: Organisation, clock: time_machine.Traveller
) -> None:
    """Outside any tenant scope, as on a worker."""
    incident = make_incident(org, severity=severity_of(org, 1))
    celery_app.loader.import_default_modules()
    sweep = celery_app.tasks["incidents.sweep_public_updates"]
    clock.shift(timedelta(hours=1))
    assert sweep() == 1
    assert sweep() == 0
    assert len(events_of(incident, "incident.public_update_overdue")) == 1
