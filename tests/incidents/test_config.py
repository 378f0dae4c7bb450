"""Per-organisation configuration: seeded crisis types and severities, edited by admins only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from incidents.models import CrisisType, Severity
from organisations import services as organisation_services
from organisations.models import Event, Organisation, Role
from tests.conftest import client_for
from tests.factories import UserFactory, make_incident, severity_of
from tests.incidents.helpers import BASE, crisis_type_of, patch, post

pytestmark = pytest.mark.django_db

NEW_TYPE = {"name": "Supplier fraud", "slug": "supplier-fraud", "description": "A supplier lied."}
NEW_SEVERITY = {"name": "SEV0 Existential", "rank": 5, "public_update_interval_minutes": 15}


def config_events(subject_type: str) -> list[Event]:
    return list(Event.all_tenants.filter(subject_type=subject_type).order_by("seq"))


def test_new_organisation_is_seeded_with_nine_crisis_types_and_four_severities() -> None:
    owner = UserFactory()
    organisation = organisation_services.organisation_create(name="Acme", owner=owner)

    types = CrisisType.all_tenants.filter(organisation=organisation)
    severities = Severity.all_tenants.filter(organisation=organisation).order_by("rank")
    assert types.count() == 9
    assert {"data-breach", "service-outage", "product-defect"} <= {t.slug for t in types}
    assert [s.rank for s in severities] == [1, 2, 3, 4]
    assert [s.review_required for s in severities] == [True, True, False, False]
    assert [s.public_update_interval_minutes for s in severities] == [30, 60, 240, 1440]

    client = client_for(owner)
    listed = client.get(f"/api/v1/orgs/{organisation.slug}/crisis-types/")
    assert listed.status_code == 200
    assert len(listed.json()) == 9
    assert len(client.get(f"/api/v1/orgs/{organisation.slug}/severities/").json()) == 4


def test_seeding_is_per_organisation(org: Organisation, other_org: Organisation) -> None:
    mine = set(CrisisType.all_tenants.filter(organisation=org).values_list("pk", flat=True))
    theirs = set(CrisisType.all_tenants.filter(organisation=other_org).values_list("pk", flat=True))
    assert len(mine) == len(theirs) == 9
    assert not mine & theirs


def test_admin_creates_edits_and_deletes_a_crisis_type(admin: APIClient, unscoped: None) -> None:
    created = post(admin, f"{BASE}/crisis-types/", NEW_TYPE)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["slug"] == "supplier-fraud"
    assert body["is_active"] is True

    url = f"{BASE}/crisis-types/{body['id']}/"
    edited = patch(admin, url, {"name": "Supplier fraud or theft", "is_active": False})
    assert edited.status_code == 200
    assert edited.json()["name"] == "Supplier fraud or theft"
    assert CrisisType.all_tenants.get(pk=body["id"]).is_active is False

    assert admin.delete(url).status_code == 204
    assert not CrisisType.all_tenants.filter(pk=body["id"]).exists()
    events = config_events("crisis_type")
    assert [e.type for e in events] == [
        "crisis_type.created",
        "crisis_type.updated",
        "crisis_type.deleted",
    ]
    assert {e.subject_id for e in events} == {body["id"]}
    assert events[1].payload["changes"]["is_active"] == {"from": True, "to": False}


def test_admin_creates_edits_and_deletes_a_severity(admin: APIClient, unscoped: None) -> None:
    created = post(admin, f"{BASE}/severities/", NEW_SEVERITY)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["review_required"] is True
    assert body["approval_strictness"] == "standard"

    url = f"{BASE}/severities/{body['id']}/"
    edited = patch(admin, url, {"public_update_interval_minutes": 20, "review_required": False})
    assert edited.status_code == 200
    stored = Severity.all_tenants.get(pk=body["id"])
    assert (stored.public_update_interval_minutes, stored.review_required) == (20, False)

    assert admin.delete(url).status_code == 204
    assert not Severity.all_tenants.filter(pk=body["id"]).exists()
    events = config_events("severity")
    assert [e.type for e in events] == ["severity.created", "severity.updated", "severity.deleted"]
    assert {e.subject_id for e in events} == {body["id"]}


def test_duplicate_slug_or_rank_is_a_conflict(admin: APIClient) -> None:
    taken_slug = post(admin, f"{BASE}/crisis-types/", {**NEW_TYPE, "slug": "data-breach"})
    assert taken_slug.status_code == 409
    taken_rank = post(admin, f"{BASE}/severities/", {**NEW_SEVERITY, "rank": 1})
    assert taken_rank.status_code == 409


def test_deleting_a_crisis_type_or_severity_in_use_is_a_conflict(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org, crisis_type=crisis_type_of(org), severity=severity_of(org, 3))

    used_type = admin.delete(f"{BASE}/crisis-types/{incident.crisis_type_id}/")
    assert used_type.status_code == 409
    assert used_type["Content-Type"] == "application/problem+json"
    used_severity = admin.delete(f"{BASE}/severities/{incident.severity_id}/")
    assert used_severity.status_code == 409
    assert CrisisType.all_tenants.filter(pk=incident.crisis_type_id).exists()
    assert Severity.all_tenants.filter(pk=incident.severity_id).exists()
    assert config_events("crisis_type") == config_events("severity") == []


@pytest.mark.parametrize(
    "role", [Role.CRISIS_MANAGER, Role.COMMS_LEAD, Role.RESPONDER, Role.ANALYST, Role.VIEWER]
)
def test_non_admins_read_but_cannot_edit_configuration(
    org: Organisation, member_client: Callable[..., APIClient], role: str, unscoped: None
) -> None:
    client = member_client(org, role)
    crisis_type, severity = crisis_type_of(org), severity_of(org, 4)

    assert client.get(f"{BASE}/crisis-types/").status_code == 200
    assert client.get(f"{BASE}/severities/{severity.pk}/").status_code == 200
    assert post(client, f"{BASE}/crisis-types/", NEW_TYPE).status_code == 403
    assert post(client, f"{BASE}/severities/", NEW_SEVERITY).status_code == 403
    assert patch(client, f"{BASE}/crisis-types/{crisis_type.pk}/", {"name": "x"}).status_code == 403
    assert patch(client, f"{BASE}/severities/{severity.pk}/", {"rank": 9}).status_code == 403
    assert client.delete(f"{BASE}/crisis-types/{crisis_type.pk}/").status_code == 403
    assert client.delete(f"{BASE}/severities/{severity.pk}/").status_code == 403
    assert CrisisType.all_tenants.get(pk=crisis_type.pk).name == crisis_type.name


def test_api_keys_read_but_cannot_edit_configuration(
    org: Organisation, api_key_client: Callable[..., APIClient]
) -> None:
    key = api_key_client(org, ["incidents:read", "incidents:write"])
    assert len(key.get(f"{BASE}/crisis-types/").json()) == 9
    assert post(key, f"{BASE}/crisis-types/", NEW_TYPE).status_code == 403


def test_configuration_of_another_organisation_is_not_found(
    other_org: Organisation, admin: APIClient, unscoped: None
) -> None:
    foreign = crisis_type_of(other_org)
    assert admin.get(f"{BASE}/crisis-types/{foreign.pk}/").status_code == 404
    assert patch(admin, f"{BASE}/crisis-types/{foreign.pk}/", {"name": "x"}).status_code == 404
    assert admin.delete(f"{BASE}/severities/{severity_of(other_org).pk}/").status_code == 404
