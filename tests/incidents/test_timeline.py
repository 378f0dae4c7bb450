"""Notes and the incident timeline: the incident's events in order, cursor-paginated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Note
from organisations.events import Actor
from organisations.models import Event, Organisation, Role
from tests.factories import make_incident
from tests.incidents.helpers import incident_url, post, user_of

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def walk(client: APIClient, url: str) -> list[list[dict[str, Any]]]:
    """Every page of a cursor-paginated list, following `next`."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.json()["results"])
        url = response.json()["next"]
    return pages


def test_a_note_appears_on_the_timeline_with_its_body(
    org: Organisation, responder: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)

    response = post(responder, incident_url(incident, "notes"), {"body": "Legal is on the call."})

    assert response.status_code == 201, response.content
    entry = response.json()
    assert entry["type"] == "incident.note_added"
    assert entry["note"]["body"] == "Legal is on the call."
    assert entry["note"]["author"] == str(user_of(responder).pk)
    timeline = responder.get(incident_url(incident, "timeline")).json()["results"]
    [note_entry] = [e for e in timeline if e["type"] == "incident.note_added"]
    assert note_entry["note"]["body"] == "Legal is on the call."
    assert note_entry["id"] == entry["id"]
    assert all(e["note"] is None for e in timeline if e is not note_entry)


@pytest.mark.parametrize("body", ["", "   "])
def test_an_empty_note_is_refused(
    org: Organisation, responder: APIClient, body: str, unscoped: None
) -> None:
    incident = make_incident(org)
    assert post(responder, incident_url(incident, "notes"), {"body": body}).status_code == 400
    assert not Note.all_tenants.exists()


def test_viewers_add_notes_only_on_incidents_they_hold_a_role_in(
    org: Organisation, member_client: Callable[..., APIClient], unscoped: None
) -> None:
    viewer = member_client(org, Role.VIEWER)
    incident = make_incident(org)
    assert post(viewer, incident_url(incident, "notes"), {"body": "hi"}).status_code == 403
    services.incident_role_assign(
        incident=incident, user=user_of(viewer), role="observer", actor=SYSTEM
    )
    assert post(viewer, incident_url(incident, "notes"), {"body": "hi"}).status_code == 201


def test_timeline_lists_the_incidents_events_in_order_across_pages(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org, status="triage")
    other = make_incident(org, title="Unrelated")
    for n in range(3):
        post(admin, incident_url(incident, "notes"), {"body": f"note {n}"})
        post(admin, incident_url(other, "notes"), {"body": "elsewhere"})
    post(admin, incident_url(incident, "declare"))
    services.task_create(incident=incident, actor=SYSTEM, title="Call the press office")
    post(admin, incident_url(incident, "resolve"))

    pages = walk(admin, incident_url(incident, "timeline") + "?limit=3")

    entries = [entry for page in pages for entry in page]
    assert [len(page) for page in pages] == [3, 3, 1]
    expected = Event.all_tenants.filter(
        subject_type="incident", subject_id=str(incident.pk)
    ).order_by("seq")
    assert [e["id"] for e in entries] == [str(e.pk) for e in expected]
    assert [e["type"] for e in entries] == [
        "incident.declared",
        "incident.note_added",
        "incident.note_added",
        "incident.note_added",
        "incident.status_changed",
        "task.created",
        "incident.status_changed",
    ]
    assert [e["note"]["body"] for e in entries if e["note"]] == ["note 0", "note 1", "note 2"]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert {e["subject"]["id"] for e in entries} == {str(incident.pk)}


def test_timeline_of_another_organisations_incident_is_not_found(
    other_org: Organisation, admin: APIClient, unscoped: None
) -> None:
    foreign = make_incident(other_org)
    assert admin.get(incident_url(foreign, "timeline")).status_code == 404
    assert post(admin, incident_url(foreign, "notes"), {"body": "x"}).status_code == 404


def test_timeline_refuses_a_bad_limit_or_cursor(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    assert admin.get(incident_url(incident, "timeline") + "?limit=0").status_code == 400
    assert admin.get(incident_url(incident, "timeline") + "?cursor=bogus").status_code == 400
