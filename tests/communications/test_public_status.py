"""The public status timeline (JSON and Atom): only published updates, never drills or
restricted incidents or anything internal; cache-friendly with ETag and 304."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from rest_framework.test import APIClient

from communications import services
from communications.models import Message, StatusPage
from incidents.models import Incident
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.communications.helpers import BASE, deliver
from tests.factories import make_incident, make_membership
from tests.problems import assert_problem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("unscoped")]
PUBLIC = "/api/v1/public/xyz/status/"
FEED = "/api/v1/public/xyz/status/feed.atom"
ATOM = "{http://www.w3.org/2005/Atom}"


def statement(
    organisation: Organisation,
    *,
    publish: bool = True,
    incident: Incident | None = None,
    label: str = "investigating",
    title: str = "Checkout errors",
    body: str = "We are sorry. Some payments fail; we will post an update by 15:00.",
) -> Message:
    author = make_membership(organisation, Role.COMMS_LEAD).user
    approver = make_membership(organisation, Role.APPROVER).user
    message = services.message_create(
        organisation=organisation,
        actor=Actor.of_user(author),
        kind="status_update",
        title=title,
        body=body,
        channels=["status_page"],
        status_label=label,
        incident=incident,
    )
    services.message_submit(message=message, actor=Actor.of_user(author))
    services.message_approve(
        message=message, actor=Actor.of_user(approver), user=approver, role=Role.APPROVER
    )
    if publish:
        services.message_publish(message=message, actor=Actor.system())
        deliver(message)
    return message


def test_published_updates_per_incident_and_nothing_else(
    org: Organisation, status_page: StatusPage
) -> None:
    incident = make_incident(org, title="INTERNAL: payment provider X contract dispute")
    statement(org, incident=incident, label="investigating")
    statement(org, incident=incident, label="identified", title="Checkout errors: cause found")
    statement(org, incident=incident, label="monitoring", publish=False, title="UNPUBLISHED")
    statement(org, incident=make_incident(org, is_drill=True), title="DRILL")
    statement(org, incident=make_incident(org, visibility="restricted"), title="RESTRICTED")

    response = APIClient().get(PUBLIC)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "incident"
    [shown] = body["incidents"]
    assert shown["status"] == "identified"
    assert shown["title"] == "Checkout errors: cause found"
    assert [u["label"] for u in shown["updates"]] == ["identified", "investigating"]
    text = response.content.decode()
    for secret in (
        "INTERNAL",
        "UNPUBLISHED",
        "DRILL",
        "RESTRICTED",
        "INC-",
        "content_hash",
        "approved",
        "@example.test",
    ):
        assert secret not in text
    assert set(shown["updates"][0]) == {"id", "label", "title", "body", "published_at"}


def test_resolved_incidents_leave_the_page_operational(
    org: Organisation, status_page: StatusPage
) -> None:
    incident = make_incident(org)
    statement(org, incident=incident, label="investigating")
    statement(org, incident=incident, label="resolved", title="Fixed")
    assert APIClient().get(PUBLIC).json()["status"] == "operational"


def test_etag_and_304(org: Organisation, status_page: StatusPage) -> None:
    statement(org, incident=make_incident(org))
    first = APIClient().get(PUBLIC)
    etag = first["ETag"]
    assert first["Cache-Control"].startswith("public")
    again = APIClient().get(PUBLIC, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    statement(org, incident=make_incident(org), title="Another")
    changed = APIClient().get(PUBLIC, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    feed = APIClient().get(FEED)
    assert APIClient().get(FEED, HTTP_IF_NONE_MATCH=feed["ETag"]).status_code == 304


def test_atom_feed_lists_the_same_updates(org: Organisation, status_page: StatusPage) -> None:
    incident = make_incident(org)
    statement(org, incident=incident, label="investigating")
    statement(org, incident=make_incident(org, is_drill=True), title="DRILL")
    response = APIClient().get(FEED)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(response.content)  # noqa: S314 - our own feed
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["[Investigating] Checkout errors"]
    assert entries[0].findtext(f"{ATOM}id").startswith("urn:crisis-api:status-update:")


def test_disabled_or_unknown_pages_are_404(org: Organisation, owner: APIClient) -> None:
    assert_problem(APIClient().get(PUBLIC), 404)
    assert_problem(APIClient().get("/api/v1/public/nobody/status/"), 404)
    response = owner.patch(f"{BASE}/status-page/", {"enabled": True, "title": "XYZ"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["public_url"].endswith(PUBLIC)
    assert APIClient().get(PUBLIC).json()["page"]["title"] == "XYZ"
    org.suspended_at = org.created_at
    org.save()
    assert_problem(APIClient().get(PUBLIC), 404)


def test_status_page_settings_need_an_admin(org: Organisation, viewer: APIClient) -> None:
    assert viewer.get(f"{BASE}/status-page/").status_code == 200
    assert_problem(viewer.patch(f"{BASE}/status-page/", {"enabled": True}, format="json"), 403)
