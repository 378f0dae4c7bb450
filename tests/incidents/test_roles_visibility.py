"""Incident roles (members only, one commander with history) and who sees restricted incidents."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Incident, RoleAssignment
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.factories import UserFactory, make_incident, make_membership
from tests.incidents.helpers import BASE, events_of, incident_url, post, user_of

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def assign(client: APIClient, incident: Incident, user_id: str, role: str = "commander") -> object:
    return post(client, incident_url(incident, "assign-role"), {"user": user_id, "role": role})


def test_roles_go_to_members_only(
    org: Organisation, other_org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    stranger = UserFactory()
    member_elsewhere = make_membership(other_org, Role.OWNER).user

    for user in (stranger, member_elsewhere):
        response = assign(admin, incident, str(user.pk))
        assert response.status_code == 404
        assert response.json()["detail"] == "user: no such membership."
    assert not RoleAssignment.all_tenants.filter(incident=incident).exists()
    assert events_of(incident, "incident.role_assigned") == []


def test_a_new_commander_replaces_the_previous_and_history_is_kept(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    first, second = make_membership(org, Role.RESPONDER).user, make_membership(org).user

    one = assign(admin, incident, str(first.pk))
    assert one.status_code == 201, one.content
    assert Incident.all_tenants.get(pk=incident.pk).commander_id == first.pk
    two = assign(admin, incident, str(second.pk))
    assert two.status_code == 201

    roles = admin.get(incident_url(incident, "roles")).json()
    assert [(r["user"]["id"], r["role"]) for r in roles] == [
        (str(first.pk), "commander"),
        (str(second.pk), "commander"),
    ]
    assert roles[0]["unassigned_at"] is not None
    assert roles[1]["unassigned_at"] is None
    detail = admin.get(incident_url(incident)).json()
    assert detail["commander"]["id"] == str(second.pk)
    assert [r["user"]["id"] for r in detail["roles"]] == [str(second.pk)]

    assigned = events_of(incident, "incident.role_assigned")
    assert [e.payload["user"]["id"] for e in assigned] == [str(first.pk), str(second.pk)]
    assert assigned[1].payload["replaced_user_id"] == str(first.pk)
    [ended] = events_of(incident, "incident.role_unassigned")
    assert ended.payload["assignment_id"] == roles[0]["id"]
    assert ended.seq < assigned[1].seq


def test_assigning_the_same_role_twice_is_a_no_op(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    scribe = make_membership(org).user
    first = assign(admin, incident, str(scribe.pk), "scribe").json()
    again = assign(admin, incident, str(scribe.pk), "scribe").json()
    assert again["id"] == first["id"]
    assert len(events_of(incident, "incident.role_assigned")) == 1


def test_unassigning_the_commander_clears_it_and_records_an_event(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    commander = make_membership(org).user
    assignment = assign(admin, incident, str(commander.pk)).json()

    response = post(
        admin, incident_url(incident, "unassign-role"), {"assignment": assignment["id"]}
    )

    assert response.status_code == 200, response.content
    assert response.json()["unassigned_at"] is not None
    assert Incident.all_tenants.get(pk=incident.pk).commander_id is None
    [ended] = events_of(incident, "incident.role_unassigned")
    assert ended.payload["user"]["id"] == str(commander.pk)
    assert ended.payload["role"] == "commander"


def test_unassigning_an_assignment_of_another_incident_is_not_found(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident, other = make_incident(org), make_incident(org)
    assignment = assign(admin, other, str(make_membership(org).user.pk)).json()
    response = post(
        admin, incident_url(incident, "unassign-role"), {"assignment": assignment["id"]}
    )
    assert response.status_code == 404
    assert RoleAssignment.all_tenants.get(pk=assignment["id"]).unassigned_at is None


def test_declaring_with_a_commander_assigns_the_role(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    commander = make_membership(org, Role.RESPONDER).user
    incident = make_incident(org, commander=commander)
    assert incident.commander_id == commander.pk
    [assigned] = events_of(incident, "incident.role_assigned")
    assert assigned.payload["role"] == "commander"


def test_the_commander_may_resolve_their_incident_but_another_responder_may_not(
    org: Organisation, member_client: Callable[..., APIClient], unscoped: None
) -> None:
    commander, bystander = member_client(org, Role.RESPONDER), member_client(org, Role.RESPONDER)
    incident = make_incident(org, commander=user_of(commander))
    elsewhere = make_incident(org)

    assert post(bystander, incident_url(incident, "resolve")).status_code == 403
    assert post(commander, incident_url(elsewhere, "resolve")).status_code == 403
    response = post(commander, incident_url(incident, "resolve"))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved"


def test_a_replaced_commander_loses_the_right_to_command(
    org: Organisation, member_client: Callable[..., APIClient], admin: APIClient, unscoped: None
) -> None:
    old = member_client(org, Role.RESPONDER)
    incident = make_incident(org, commander=user_of(old))
    assign(admin, incident, str(make_membership(org).user.pk))
    assert post(old, incident_url(incident, "contain")).status_code == 403


def test_the_commander_may_assign_roles_on_their_incident(
    org: Organisation, member_client: Callable[..., APIClient], unscoped: None
) -> None:
    commander = member_client(org, Role.RESPONDER)
    incident = make_incident(org, commander=user_of(commander))
    scribe = make_membership(org).user
    assert assign(commander, incident, str(scribe.pk), "scribe").status_code == 201
    assert assign(member_client(org, Role.RESPONDER), incident, str(scribe.pk)).status_code == 403


def test_roles_cannot_change_on_a_final_incident(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    services.incident_transition(incident=incident, action="cancel", actor=SYSTEM, reason="x")
    response = assign(admin, incident, str(make_membership(org).user.pk))
    assert response.status_code == 409


# --- restricted incidents -------------------------------------------------------------------


@pytest.fixture
def restricted(org: Organisation) -> Incident:
    incident = make_incident(org, title="Board member arrested", visibility="restricted")
    services.task_create(incident=incident, actor=SYSTEM, title="Call the lawyers")
    return incident


@pytest.fixture
def public(org: Organisation) -> Incident:
    incident = make_incident(org, title="Checkout slow")
    services.task_create(incident=incident, actor=SYSTEM, title="Post a status update")
    return incident


def listed(client: APIClient) -> tuple[set[str], set[str]]:
    """Titles of the incidents and of the tasks the client sees in the lists."""
    incidents = client.get(f"{BASE}/incidents/")
    tasks = client.get(f"{BASE}/tasks/")
    assert incidents.status_code == tasks.status_code == 200
    return (
        {i["title"] for i in incidents.json()["results"]},
        {t["title"] for t in tasks.json()["results"]},
    )


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER, Role.ANALYST, Role.COMMS_LEAD])
def test_restricted_incidents_are_invisible_to_unassigned_members(
    org: Organisation,
    member_client: Callable[..., APIClient],
    role: str,
    restricted: Incident,
    public: Incident,
    unscoped: None,
) -> None:
    client = member_client(org, role)

    assert listed(client) == ({"Checkout slow"}, {"Post a status update"})
    for suffix in ("", "timeline", "roles"):
        assert client.get(incident_url(restricted, suffix)).status_code == 404
    task = restricted.tasks.get()
    assert client.get(f"{BASE}/tasks/{task.pk}/").status_code == 404
    assert client.get(f"{BASE}/tasks/?incident={restricted.pk}").status_code == 404
    assert client.get(f"{BASE}/tasks/?incident={public.pk}").status_code == 200
    assert client.get(incident_url(public)).status_code == 200


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
def test_restricted_incidents_are_visible_to_assigned_members(
    org: Organisation,
    member_client: Callable[..., APIClient],
    role: str,
    restricted: Incident,
    public: Incident,
    unscoped: None,
) -> None:
    client = member_client(org, role)
    assignment = services.incident_role_assign(
        incident=restricted, user=user_of(client), role="observer", actor=SYSTEM
    )

    assert listed(client) == (
        {"Checkout slow", "Board member arrested"},
        {"Post a status update", "Call the lawyers"},
    )
    assert client.get(incident_url(restricted)).status_code == 200
    tasks = client.get(f"{BASE}/tasks/?incident={restricted.pk}").json()["results"]
    assert [t["title"] for t in tasks] == ["Call the lawyers"]

    services.incident_role_unassign(assignment=assignment, actor=SYSTEM)
    assert client.get(incident_url(restricted)).status_code == 404


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.CRISIS_MANAGER])
def test_restricted_incidents_are_visible_to_owners_admins_and_crisis_managers(
    org: Organisation,
    member_client: Callable[..., APIClient],
    role: str,
    restricted: Incident,
    public: Incident,
    unscoped: None,
) -> None:
    client = member_client(org, role)
    assert listed(client) == (
        {"Checkout slow", "Board member arrested"},
        {"Post a status update", "Call the lawyers"},
    )
    assert client.get(incident_url(restricted, "timeline")).status_code == 200


def test_api_keys_see_only_open_incidents(
    org: Organisation,
    api_key_client: Callable[..., APIClient],
    restricted: Incident,
    public: Incident,
    unscoped: None,
) -> None:
    key = api_key_client(org, ["incidents:read", "incidents:write"])
    assert listed(key) == ({"Checkout slow"}, {"Post a status update"})
    assert key.get(f"{BASE}/tasks/?incident={restricted.pk}").status_code == 404
    assert key.get(incident_url(restricted)).status_code == 404
    assert post(key, incident_url(restricted, "resolve")).status_code == 404
    assert Incident.all_tenants.get(pk=restricted.pk).status == "active"


def test_a_restricted_incident_cannot_be_named_as_a_merge_target_or_task_incident(
    org: Organisation, member_client: Callable[..., APIClient], restricted: Incident, unscoped: None
) -> None:
    responder = member_client(org, Role.RESPONDER)
    body = {"incident": str(restricted.pk), "title": "Sneak in"}
    assert post(responder, f"{BASE}/tasks/", body).status_code == 404
    commander = member_client(org, Role.RESPONDER)
    mine = make_incident(org, commander=user_of(commander))
    merge = post(commander, incident_url(mine, "merge"), {"into": str(restricted.pk)})
    assert merge.status_code == 404


def test_a_responder_who_declares_a_restricted_incident_gets_it_back(
    org: Organisation,
    responder: APIClient,
    member_client: Callable[..., APIClient],
    unscoped: None,
) -> None:
    incident = make_incident(org)
    body = {
        "title": "Leak",
        "crisis_type": str(incident.crisis_type_id),
        "severity": str(incident.severity_id),
        "visibility": "restricted",
    }
    response = post(responder, f"{BASE}/incidents/", body)
    assert response.status_code == 201, response.content
    assert response.json()["visibility"] == "restricted"
    # Whoever declared it keeps seeing it, assigned or not; other responders do not.
    assert responder.get(f"{BASE}/incidents/{response.json()['id']}/").status_code == 200
    other = member_client(org, Role.RESPONDER)
    assert other.get(f"{BASE}/incidents/{response.json()['id']}/").status_code == 404
