"""Lists and detail cost a fixed number of queries, whatever the number of rows behind them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Incident, IncidentRole
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.factories import make_incident, make_membership
from tests.incidents.helpers import BASE, incident_url

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def queries_for(client: APIClient, url: str, expected_rows: int | None = None) -> int:
    client.get(url)  # warm-up: a credential's first use of the minute records `last_used_at`
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    if expected_rows is not None:
        assert len(response.json()["results"]) == expected_rows
    return len(captured)


def add_incidents(organisation: Organisation, count: int) -> None:
    commander = make_membership(organisation, Role.RESPONDER).user
    for n in range(count):
        make_incident(
            organisation,
            title=f"Incident {n}",
            commander=commander if n % 2 else None,
            visibility="restricted" if n % 3 == 0 else "open",
        )


def add_people_and_tasks(incident: Incident, count: int) -> None:
    """`count` role assignments (some ended) and `count` tasks with owners."""
    roles = [r for r in IncidentRole.values if r != IncidentRole.COMMANDER]
    for n in range(count):
        user = make_membership(incident.organisation).user
        assignment = services.incident_role_assign(
            incident=incident, user=user, role=roles[n % len(roles)], actor=SYSTEM
        )
        if n % 4 == 0:
            services.incident_role_unassign(assignment=assignment, actor=SYSTEM)
        services.task_create(incident=incident, actor=SYSTEM, title=f"Task {n}", owner=user)
    services.incident_role_assign(
        incident=incident,
        user=make_membership(incident.organisation).user,
        role="commander",
        actor=SYSTEM,
    )


@pytest.mark.parametrize("role", [Role.ADMIN, Role.RESPONDER])
def test_incident_list_queries_do_not_grow_with_rows(
    org: Organisation, member_client: Callable[..., APIClient], role: str, unscoped: None
) -> None:
    client = member_client(org, role)
    add_incidents(org, 10)
    visible = Incident.all_tenants.filter(organisation=org)
    if role == Role.RESPONDER:
        visible = visible.filter(visibility="open")
    few = queries_for(client, f"{BASE}/incidents/?limit=100", visible.count())
    add_incidents(org, 90)
    many = queries_for(client, f"{BASE}/incidents/?limit=100", min(visible.count(), 100))
    assert few == many


def test_incident_detail_queries_do_not_grow_with_roles_or_tasks(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    small, large = make_incident(org), make_incident(org)
    add_people_and_tasks(small, 10)
    add_people_and_tasks(large, 100)

    few = queries_for(admin, incident_url(small))
    many = queries_for(admin, incident_url(large))

    assert few == many
    assert len(admin.get(incident_url(large)).json()["roles"]) == 76  # 75 still held + commander


def test_roles_and_task_lists_do_not_grow_with_rows(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    small, large = make_incident(org), make_incident(org)
    add_people_and_tasks(small, 10)
    roles_few = queries_for(admin, incident_url(small, "roles"))
    tasks_few = queries_for(admin, f"{BASE}/tasks/?limit=100", 10)
    add_people_and_tasks(large, 100)
    assert queries_for(admin, incident_url(large, "roles")) == roles_few
    assert queries_for(admin, f"{BASE}/tasks/?limit=100", 100) == tasks_few


def test_timeline_queries_do_not_grow_with_events(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    small, large = make_incident(org), make_incident(org)
    for incident, notes in ((small, 9), (large, 99)):
        for n in range(notes):
            services.note_add(incident=incident, body=f"Note {n}", actor=SYSTEM)

    few = queries_for(admin, incident_url(small, "timeline") + "?limit=100", 10)
    many = queries_for(admin, incident_url(large, "timeline") + "?limit=100", 100)

    assert few == many
