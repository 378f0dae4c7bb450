"""The incident record: per-organisation numbers, idempotent declaration, source, ETag/If-Match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from incidents.models import Incident
from organisations.models import Event, Organisation
from tests.factories import make_incident, severity_of
from tests.incidents.helpers import BASE, crisis_type_of, events_of, incident_url, patch, post

pytestmark = pytest.mark.django_db


def declaration(organisation: Organisation, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Checkout is down",
        "crisis_type": str(crisis_type_of(organisation).pk),
        "severity": str(severity_of(organisation, 2).pk),
        **extra,
    }


def test_numbers_count_up_per_organisation_independently(
    org: Organisation, other_org: Organisation, unscoped: None
) -> None:
    first, second = make_incident(org), make_incident(org)
    elsewhere = make_incident(other_org)
    third = make_incident(org)

    assert [first.reference, second.reference, third.reference] == ["INC-1", "INC-2", "INC-3"]
    assert elsewhere.reference == "INC-1"


def test_declaring_via_the_api_returns_the_incident_with_its_etag(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    response = post(admin, f"{BASE}/incidents/", declaration(org, status="active"))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["reference"] == "INC-1"
    assert body["status"] == "active"
    assert body["declared_at"] == body["created_at"]
    assert body["roles"] == []
    assert response["ETag"] == f'"{body["version"]}"'
    assert Incident.all_tenants.get(pk=body["id"]).created_by_id == admin.membership.user.pk


def test_replaying_an_idempotency_key_returns_the_same_incident_and_one_event(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    body = declaration(org)
    first = post(admin, f"{BASE}/incidents/", body, HTTP_IDEMPOTENCY_KEY="declare-1")
    replay = post(admin, f"{BASE}/incidents/", body, HTTP_IDEMPOTENCY_KEY="declare-1")

    assert first.status_code == replay.status_code == 201
    assert replay["Idempotency-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert Incident.all_tenants.filter(organisation=org).count() == 1
    assert Event.all_tenants.filter(organisation=org, type="incident.declared").count() == 1

    other = post(admin, f"{BASE}/incidents/", body, HTTP_IDEMPOTENCY_KEY="declare-2")
    assert other.json()["reference"] == "INC-2"


def test_source_is_manual_for_members_and_api_for_api_keys(
    org: Organisation, responder: APIClient, api_key_client: Callable[..., APIClient]
) -> None:
    key = api_key_client(org, ["incidents:write", "incidents:read"])

    by_member = post(responder, f"{BASE}/incidents/", declaration(org))
    by_key = post(key, f"{BASE}/incidents/", declaration(org))

    assert by_member.status_code == by_key.status_code == 201
    assert by_member.json()["source"] == "manual"
    assert by_key.json()["source"] == "api"


def test_viewers_and_read_only_keys_cannot_declare(
    org: Organisation, viewer: APIClient, api_key_client: Callable[..., APIClient]
) -> None:
    assert post(viewer, f"{BASE}/incidents/", declaration(org)).status_code == 403
    key = api_key_client(org, ["incidents:read"])
    assert post(key, f"{BASE}/incidents/", declaration(org)).status_code == 403


def test_configuration_of_another_organisation_cannot_be_used(
    org: Organisation, other_org: Organisation, admin: APIClient, unscoped: None
) -> None:
    foreign = declaration(org, severity=str(severity_of(other_org).pk))
    assert post(admin, f"{BASE}/incidents/", foreign).status_code == 404
    assert not Incident.all_tenants.exists()


def test_patch_with_the_current_etag_succeeds_and_bumps_the_version(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    etag = admin.get(incident_url(incident))["ETag"]
    assert etag == f'"{incident.version}"'

    response = patch(admin, incident_url(incident), {"title": "Worse"}, HTTP_IF_MATCH=etag)

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Worse"
    assert response.json()["version"] == incident.version + 1
    assert response["ETag"] == f'"{incident.version + 1}"'
    [updated] = events_of(incident, "incident.updated")
    assert updated.payload["changes"]["title"]["to"] == "Worse"


def test_patch_with_a_stale_etag_is_412_and_changes_nothing(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    stale = admin.get(incident_url(incident))["ETag"]
    assert patch(admin, incident_url(incident), {"summary": "first"}).status_code == 200

    response = patch(admin, incident_url(incident), {"title": "Lost update"}, HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "version_mismatch"
    assert response.json()["current_version"] == incident.version + 1
    assert Incident.all_tenants.get(pk=incident.pk).title == incident.title


@pytest.mark.parametrize("header", ["3", "'3'", '"three"', "W/3"])
def test_malformed_if_match_is_400(
    org: Organisation, admin: APIClient, header: str, unscoped: None
) -> None:
    incident = make_incident(org)
    response = patch(admin, incident_url(incident), {"title": "x"}, HTTP_IF_MATCH=header)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "If-Match"
    assert Incident.all_tenants.get(pk=incident.pk).version == incident.version


def test_weak_and_wildcard_if_match_are_accepted(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    weak = f'W/"{incident.version}"'
    assert (
        patch(admin, incident_url(incident), {"title": "a"}, HTTP_IF_MATCH=weak).status_code == 200
    )
    assert (
        patch(admin, incident_url(incident), {"title": "b"}, HTTP_IF_MATCH="*").status_code == 200
    )


def test_stale_if_match_also_guards_transitions(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    stale = f'"{incident.version}"'
    assert patch(admin, incident_url(incident), {"summary": "moved on"}).status_code == 200

    response = post(admin, incident_url(incident, "resolve"), HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert Incident.all_tenants.get(pk=incident.pk).status == "active"


def test_unknown_fields_and_status_are_not_editable_by_patch(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    response = patch(admin, incident_url(incident), {"status": "closed"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "unknown_field"


def test_a_deactivated_crisis_type_cannot_be_chosen(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    retired = crisis_type_of(org, "misinformation")
    retired.is_active = False
    retired.save()
    incident = make_incident(org)

    declared = post(admin, f"{BASE}/incidents/", declaration(org, crisis_type=str(retired.pk)))
    edited = patch(admin, incident_url(incident), {"crisis_type": str(retired.pk)})

    assert declared.status_code == edited.status_code == 400
    assert Incident.all_tenants.get(pk=incident.pk).crisis_type_id != retired.pk


def test_editing_is_refused_once_the_incident_is_final(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    post(admin, incident_url(incident, "cancel"), {"reason": "Duplicate"})
    response = patch(admin, incident_url(incident), {"title": "Too late"})
    assert response.status_code == 409
    assert Incident.all_tenants.get(pk=incident.pk).title == incident.title
