"""Racing requests on one incident: the row lock lets exactly one win; the loser gets a 409."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from incidents.models import Incident
from organisations.models import Organisation, Role
from tests.factories import make_incident
from tests.incidents.helpers import events_of, incident_url


def race(requests: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """Send each (Authorization header, url, body) POST from its own thread, all at once."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, dict[str, Any]]] = []

    def send(header: str, url: str, body: dict[str, Any]) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        try:
            barrier.wait(timeout=10)
            response = client.post(url, body, format="json")
            results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == len(requests), "a request did not finish"
    return results


def authorization(client: APIClient) -> str:
    return client._credentials["HTTP_AUTHORIZATION"]  # type: ignore[no-any-return]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_credentials", [True, False])
def test_two_resolves_at_once_one_wins_one_conflicts(
    org: Organisation, member_client: Callable[..., APIClient], same_credentials: bool
) -> None:
    first = member_client(org, Role.CRISIS_MANAGER)
    second = first if same_credentials else member_client(org, Role.ADMIN)
    incident = make_incident(org)
    url = incident_url(incident, "resolve")

    results = race([(authorization(first), url, {}), (authorization(second), url, {})])

    assert sorted(status for status, _ in results) == [200, 409]
    [conflict] = [body for status, body in results if status == 409]
    assert conflict["code"] == "invalid_transition"
    assert conflict["current_status"] == "resolved"
    assert len(events_of(incident, "incident.status_changed")) == 1
    stored = Incident.all_tenants.get(pk=incident.pk)
    assert (stored.status, stored.version) == ("resolved", incident.version + 1)


@pytest.mark.django_db(transaction=True)
def test_merging_two_incidents_into_each_other_at_once_merges_one(
    org: Organisation, member_client: Callable[..., APIClient]
) -> None:
    """Exactly one of two crossing merges wins. (Both rows are locked in one order, so they
    cannot deadlock either; threads rarely overlap enough here to prove that part.)"""
    header = authorization(member_client(org, Role.CRISIS_MANAGER))
    a, b = make_incident(org), make_incident(org)

    results = race(
        [
            (header, incident_url(a, "merge"), {"into": str(b.pk)}),
            (header, incident_url(b, "merge"), {"into": str(a.pk)}),
        ]
    )

    assert sorted(status for status, _ in results) == [200, 409]
    statuses = sorted(
        Incident.all_tenants.filter(pk__in=(a.pk, b.pk)).values_list("status", flat=True)
    )
    assert statuses == ["active", "merged"]
    received = events_of(a, "incident.merge_received") + events_of(b, "incident.merge_received")
    assert len(received) == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_declarations_get_distinct_consecutive_numbers(
    org: Organisation, member_client: Callable[..., APIClient]
) -> None:
    header = authorization(member_client(org, Role.RESPONDER))
    incident = make_incident(org)  # INC-1; also names a crisis type and severity to reuse
    body = {
        "title": "Same storm, many reporters",
        "crisis_type": str(incident.crisis_type_id),
        "severity": str(incident.severity_id),
    }

    results = race([(header, "/api/v1/orgs/xyz/incidents/", body)] * 4)

    assert [status for status, _ in results] == [201] * 4
    assert sorted(created["number"] for _, created in results) == [2, 3, 4, 5]
