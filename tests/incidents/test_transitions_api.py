"""Every lifecycle transition through its action endpoint, refusals as 409 problems, and merge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from crisis_api.api.errors import DomainError
from incidents import services
from incidents.models import Incident
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.factories import make_incident, severity_of
from tests.incidents.helpers import events_of, incident_url, post

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
# How to reach each status from a new (triage) incident.
PATHS: dict[str, tuple[str, ...]] = {
    "triage": (),
    "active": ("declare",),
    "contained": ("declare", "contain"),
    "resolved": ("declare", "resolve"),
    "closed": ("declare", "resolve", "close"),
}


def incident_in(organisation: Organisation, status: str, rank: int = 3, **kw: Any) -> Incident:
    """An incident brought to `status` through the services (SEV3 by default: no review)."""
    incident = make_incident(
        organisation, status="triage", severity=severity_of(organisation, rank), **kw
    )
    for action in PATHS[status]:
        incident = services.incident_transition(incident=incident, action=action, actor=SYSTEM)
    return incident


@pytest.mark.parametrize(
    ("start", "action", "body", "target"),
    [
        ("triage", "declare", {}, "active"),
        ("triage", "decline", {"reason": "Not a crisis"}, "declined"),
        ("triage", "cancel", {"reason": "Raised by mistake"}, "cancelled"),
        ("active", "contain", {}, "contained"),
        ("active", "resolve", {}, "resolved"),
        ("active", "cancel", {"reason": "Drill misfired"}, "cancelled"),
        ("contained", "resolve", {}, "resolved"),
        ("contained", "cancel", {"reason": "Wrong company"}, "cancelled"),
        ("resolved", "close", {}, "closed"),
        ("resolved", "reopen", {}, "active"),
    ],
)
def test_each_allowed_transition_moves_to_its_target(
    org: Organisation,
    admin: APIClient,
    start: str,
    action: str,
    body: dict[str, str],
    target: str,
    unscoped: None,
) -> None:
    incident = incident_in(org, start)
    changes = len(events_of(incident, "incident.status_changed"))

    response = post(admin, incident_url(incident, action), body)

    assert response.status_code == 200, response.content
    result = response.json()
    assert result["status"] == target
    assert result["version"] == incident.version + 1
    assert response["ETag"] == f'"{result["version"]}"'
    assert result["allowed_actions"] == services.allowed_actions(target)
    events = events_of(incident, "incident.status_changed")
    assert len(events) == changes + 1
    payload = events[-1].payload
    assert (payload["from"], payload["to"], payload["action"]) == (start, target, action)
    assert events[-1].actor_id == str(admin.membership.user.pk)
    if "reason" in body:
        assert result["status_reason"] == body["reason"]


def test_declaring_stamps_declared_at_and_starts_the_cadence(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = incident_in(org, "triage")
    body = post(admin, incident_url(incident, "declare")).json()
    assert body["declared_at"] is not None
    assert body["next_public_update_due_at"] is not None


def test_resolving_an_active_incident_also_stamps_contained_at(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    body = post(admin, incident_url(incident_in(org, "active"), "resolve")).json()
    assert body["contained_at"] == body["resolved_at"]
    assert body["next_public_update_due_at"] is None


def test_reopening_clears_resolved_at_and_sets_reopened_at(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = incident_in(org, "resolved")
    body = post(admin, incident_url(incident, "reopen")).json()
    assert body["resolved_at"] is None
    assert body["reopened_at"] is not None
    assert incident.resolved_at is not None
    assert datetime.fromisoformat(body["reopened_at"]) >= incident.resolved_at


def test_cancelling_without_a_reason_is_refused(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = incident_in(org, "active")
    for body in ({}, {"reason": ""}):
        response = post(admin, incident_url(incident, "cancel"), body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == "reason"
    response = post(admin, incident_url(incident, "cancel"), {"reason": "   "})
    assert response.status_code == 400
    assert Incident.all_tenants.get(pk=incident.pk).status == "active"


@pytest.mark.parametrize(
    ("start", "action", "allowed"),
    [
        ("triage", "contain", ["cancel", "declare", "decline", "merge"]),
        ("active", "close", ["cancel", "contain", "merge", "resolve"]),
        ("contained", "reopen", ["cancel", "merge", "resolve"]),
        ("resolved", "cancel", ["close", "reopen"]),
        ("closed", "reopen", []),
    ],
)
def test_disallowed_transition_is_a_409_naming_the_allowed_actions(
    org: Organisation, admin: APIClient, start: str, action: str, allowed: list[str], unscoped: None
) -> None:
    incident = incident_in(org, start)
    changes = len(events_of(incident, "incident.status_changed"))

    response = post(admin, incident_url(incident, action), {"reason": "because"})

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_transition"
    assert problem["allowed"] == allowed
    assert problem["current_status"] == start
    stored = Incident.all_tenants.get(pk=incident.pk)
    assert (stored.status, stored.version) == (start, incident.version)
    assert len(events_of(incident, "incident.status_changed")) == changes


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST, Role.RESPONDER, Role.COMMS_LEAD])
def test_members_who_do_not_run_incidents_cannot_transition_them(
    org: Organisation, member_client: Callable[..., APIClient], role: str, unscoped: None
) -> None:
    incident = incident_in(org, "active")
    assert post(member_client(org, role), incident_url(incident, "resolve")).status_code == 403
    assert Incident.all_tenants.get(pk=incident.pk).status == "active"


def test_crisis_managers_and_write_keys_transition_incidents(
    org: Organisation,
    member_client: Callable[..., APIClient],
    api_key_client: Callable[..., APIClient],
    unscoped: None,
) -> None:
    incident = incident_in(org, "active")
    manager = member_client(org, Role.CRISIS_MANAGER)
    assert post(manager, incident_url(incident, "contain")).status_code == 200
    key = api_key_client(org, ["incidents:read", "incidents:write"])
    assert post(key, incident_url(incident, "resolve")).status_code == 200
    reader = api_key_client(org, ["incidents:read"])
    assert post(reader, incident_url(incident, "close")).status_code == 403


# --- merge ----------------------------------------------------------------------------------


def test_merge_moves_the_duplicate_and_tells_the_target(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    duplicate, target = incident_in(org, "triage"), incident_in(org, "active")

    response = post(admin, incident_url(duplicate, "merge"), {"into": str(target.pk)})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "merged"
    assert body["merged_into"] == {"id": str(target.pk), "reference": target.reference}
    assert body["merged_at"] is not None
    assert body["allowed_actions"] == []
    [received] = events_of(target, "incident.merge_received")
    assert received.payload["merged"] == {"id": str(duplicate.pk), "reference": duplicate.reference}
    [changed] = events_of(duplicate, "incident.status_changed")[-1:]
    assert changed.payload["merged_into"]["id"] == str(target.pk)
    assert Incident.all_tenants.get(pk=target.pk).status == "active"


def test_merging_into_itself_is_a_conflict(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = incident_in(org, "active")
    response = post(admin, incident_url(incident, "merge"), {"into": str(incident.pk)})
    assert response.status_code == 409
    assert Incident.all_tenants.get(pk=incident.pk).status == "active"
    assert events_of(incident, "incident.merge_received") == []


@pytest.mark.parametrize("target_status", ["closed", "resolved"])
def test_merging_into_an_incident_that_is_not_open_is_a_conflict(
    org: Organisation, admin: APIClient, target_status: str, unscoped: None
) -> None:
    duplicate, target = incident_in(org, "active"), incident_in(org, target_status)
    response = post(admin, incident_url(duplicate, "merge"), {"into": str(target.pk)})
    assert response.status_code == 409
    assert target.reference in response.json()["detail"]
    assert Incident.all_tenants.get(pk=duplicate.pk).status == "active"


def test_merging_into_another_organisations_incident_is_not_found(
    org: Organisation, other_org: Organisation, admin: APIClient, unscoped: None
) -> None:
    duplicate, foreign = incident_in(org, "active"), make_incident(other_org)
    response = post(admin, incident_url(duplicate, "merge"), {"into": str(foreign.pk)})
    assert response.status_code == 404
    assert Incident.all_tenants.get(pk=duplicate.pk).status == "active"
    assert events_of(foreign, "incident.merge_received") == []


def test_service_refuses_a_merge_target_of_another_organisation(
    org: Organisation, other_org: Organisation, unscoped: None
) -> None:
    duplicate, foreign = incident_in(org, "active"), make_incident(other_org)
    with pytest.raises(DomainError, match="same organisation"):
        services.incident_transition(
            incident=duplicate, action="merge", actor=SYSTEM, target=foreign
        )
    assert Incident.all_tenants.get(pk=duplicate.pk).status == "active"


def test_merging_a_final_incident_is_refused(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    closed, target = incident_in(org, "closed"), incident_in(org, "active")
    response = post(admin, incident_url(closed, "merge"), {"into": str(target.pk)})
    assert response.status_code == 409
    assert response.json()["allowed"] == []


def test_transitions_of_another_organisations_incident_are_not_found(
    other_org: Organisation, admin: APIClient, unscoped: None
) -> None:
    foreign = make_incident(other_org)
    assert post(admin, incident_url(foreign, "resolve")).status_code == 404
    assert Incident.all_tenants.get(pk=foreign.pk).status == "active"
