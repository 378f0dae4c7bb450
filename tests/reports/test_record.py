"""An incident's full record: one JSON document with everything, in a fixed number of queries,
only for those who may see the incident."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from communications.models import ApprovalDecision, Message
from incidents import services
from incidents.models import Incident
from monitoring.models import Case, IncidentMention, Signal
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.conftest import membership_of
from tests.factories import make_incident, make_membership, make_mention, make_signal

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def _grow(org: Organisation, incident: Incident, n: int) -> None:
    """n of every kind of child: tasks, notes, messages with approvals, signals, cases, evidence."""
    approver = make_membership(org, Role.APPROVER).user
    for i in range(n):
        services.task_create(incident=incident, actor=SYSTEM, title=f"Task {i}")
        services.note_add(incident=incident, body=f"Note {i}", actor=SYSTEM)
        message = Message.all_tenants.create(
            organisation=org,
            kind="public_statement",
            body=f"Statement {i}",
            incident=incident,
            content_hash=f"h{i}",
            approved_hash=f"h{i}",
        )
        ApprovalDecision.all_tenants.create(
            organisation=org,
            message=message,
            step=0,
            approver=approver,
            decision="approve",
            content_hash=f"h{i}",
            round_started_at=timezone.now(),
        )
        signal = make_signal(org)
        Signal.all_tenants.filter(pk=signal.pk).update(incident=incident, status="linked")
        Case.all_tenants.create(
            organisation=org,
            platform="bluesky",
            author_key=f"{incident.pk}-{i}",
            incident=incident,
        )
        IncidentMention.all_tenants.create(
            organisation=org, incident=incident, mention=make_mention(org), signal=signal
        )


def test_the_record_holds_everything_about_the_incident(
    org: Organisation, owner: APIClient, unscoped: None
) -> None:
    incident = make_incident(org, title="Leak")
    _grow(org, incident, 2)
    services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)
    services.review_update(incident=incident, actor=SYSTEM, summary="What happened")

    response = owner.get(f"/api/v1/orgs/xyz/incidents/{incident.pk}/record/")
    assert response.status_code == 200, response.content
    record = response.json()
    assert record["format"] == "crisis-api.incident-record/1"
    assert record["incident"]["title"] == "Leak"
    assert len(record["tasks"]) == 2
    assert [m["body"] for m in record["messages"]] == ["Statement 0", "Statement 1"]
    assert [len(m["approvals"]) for m in record["messages"]] == [1, 1]
    assert record["messages"][0]["approvals"][0]["current"] is True
    assert len(record["signals"]) == 2
    assert len(record["cases"]) == 2
    assert len(record["evidence"]) == 2
    assert record["review"]["summary"] == "What happened"
    types = [entry["type"] for entry in record["timeline"]]
    assert types[0] == "incident.declared"
    assert {"task.created", "incident.note_added", "incident.status_changed"} <= set(types)
    notes = [e["note"]["body"] for e in record["timeline"] if e["note"]]
    assert notes == ["Note 0", "Note 1"]


def test_the_record_costs_the_same_queries_however_big_the_incident(
    org: Organisation, owner: APIClient, unscoped: None
) -> None:
    small, big = make_incident(org), make_incident(org)
    _grow(org, small, 1)
    _grow(org, big, 8)
    owner.get(f"/api/v1/orgs/xyz/incidents/{small.pk}/record/")
    with CaptureQueriesContext(connection) as one:
        owner.get(f"/api/v1/orgs/xyz/incidents/{small.pk}/record/")
    with CaptureQueriesContext(connection) as many:
        response = owner.get(f"/api/v1/orgs/xyz/incidents/{big.pk}/record/")
    assert len(response.json()["tasks"]) == 8
    assert len(many) == len(one)


def test_restricted_incidents_keep_their_visibility(
    org: Organisation,
    member_client: Callable[..., APIClient],
    api_key_client: Callable[..., APIClient],
    unscoped: None,
) -> None:
    incident = make_incident(org, visibility="restricted")
    url = f"/api/v1/orgs/xyz/incidents/{incident.pk}/record/"
    commander = member_client(org, Role.RESPONDER)
    services.incident_role_assign(
        incident=incident, user=membership_of(commander).user, role="commander", actor=SYSTEM
    )
    assert commander.get(url).status_code == 200
    assert member_client(org, Role.RESPONDER).get(url).status_code == 403
    assert member_client(org, Role.CRISIS_MANAGER).get(url).status_code == 200
    response: Any = api_key_client(org, ["reports:read"]).get(url)
    assert response.status_code == 404
