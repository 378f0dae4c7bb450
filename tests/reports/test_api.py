"""Report endpoints: parameters, access, drills, constant query counts, CSV, the SQLite answer."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from incidents import services
from incidents.models import CrisisType
from monitoring.models import Case, Signal
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.factories import make_incident, make_mention, make_signal, severity_of
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def window() -> dict[str, str]:
    now = timezone.now()
    return {
        "from": (now - timedelta(days=7)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
    }


def _busy_incident(org: Organisation, **kwargs: Any) -> None:
    """An incident with everything the reports look at: statement, resolution, case, signal."""
    incident = make_incident(org, **kwargs)
    services.incident_public_update_record(incident=incident, actor=SYSTEM)
    services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)
    Case.all_tenants.create(
        organisation=org, platform="mastodon", author_key=str(incident.pk), incident=incident
    )
    signal = make_signal(org)
    Signal.all_tenants.filter(pk=signal.pk).update(incident=incident, status="escalated")
    make_mention(org)


def test_report_queries_are_constant_in_the_number_of_incidents(
    org: Organisation, owner: APIClient, unscoped: None
) -> None:
    _busy_incident(org)
    url = "/api/v1/orgs/xyz/reports/"
    owner.get(url, window())  # warm caches (auth, content types)
    with CaptureQueriesContext(connection) as one:
        assert owner.get(url, window()).status_code == 200
    for _ in range(15):
        _busy_incident(org)
    with CaptureQueriesContext(connection) as many:
        response = owner.get(url, window())
    assert response.status_code == 200
    assert response.json()["incidents"]["total"]["opened"] == 16
    assert len(many) == len(one)


def test_drills_never_count(org: Organisation, owner: APIClient, unscoped: None) -> None:
    for _ in range(3):
        _busy_incident(org, is_drill=True)
    excluded = CrisisType.all_tenants.create(
        organisation=org, name="Tests", slug="tests", exclude_from_metrics=True
    )
    _busy_incident(org, crisis_type=excluded)
    body = owner.get("/api/v1/orgs/xyz/reports/", window()).json()
    assert body["incidents"]["total"] == {"opened": 0, "declared": 0, "resolved": 0}
    assert body["response"]["mttr"]["count"] == 0
    assert body["response"]["public_update_cadence"]["updates"] == 0
    assert body["cases"]["opened"] == 0
    assert all(rule["confirmed"] == 0 for rule in body["signals"]["rules"])
    assert body["sentiment_recovery"]["declared_incidents"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2030-01-02T00:00:00Z"}, "from"),
        ({"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "to"),
        ({"from": "2029-01-01T00:00:00Z", "to": "2030-01-03T00:00:00Z"}, "to"),
        ({"from": "yesterday", "to": "2030-01-03T00:00:00Z"}, "from"),
        ({"from": "2030-01-01T00:00:00Z", "to": "2030-01-03T00:00:00Z", "sevrity": "1"}, "sevrity"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(
    owner: APIClient, params: dict[str, str], field: str
) -> None:
    response = owner.get("/api/v1/orgs/xyz/reports/response/", params)
    assert_problem(response, 400)
    assert field in {error["attr"] for error in response.json()["errors"]}


def test_another_organisations_filter_is_a_404(
    org: Organisation, other_org: Organisation, owner: APIClient, unscoped: None
) -> None:
    foreign = severity_of(other_org, 1)
    response = owner.get(
        "/api/v1/orgs/xyz/reports/incidents/", {**window(), "severity": str(foreign.pk)}
    )
    assert_problem(response, 404)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.OWNER, True),
        (Role.ADMIN, True),
        (Role.CRISIS_MANAGER, True),
        (Role.COMMS_LEAD, False),
        (Role.ANALYST, False),
        (Role.VIEWER, False),
    ],
)
def test_reports_are_for_managers(
    org: Organisation, member_client: Callable[..., APIClient], role: str, allowed: bool
) -> None:
    response = member_client(org, role).get("/api/v1/orgs/xyz/reports/cases/", window())
    assert response.status_code == (200 if allowed else 403)


def test_api_keys_need_the_reports_scope(
    org: Organisation, api_key_client: Callable[..., APIClient]
) -> None:
    url = "/api/v1/orgs/xyz/reports/mentions/"
    assert api_key_client(org, ["incidents:read"]).get(url, window()).status_code == 403
    assert api_key_client(org, ["reports:read"]).get(url, window()).status_code == 200


def test_a_section_downloads_as_csv(org: Organisation, owner: APIClient, unscoped: None) -> None:
    _busy_incident(org)
    response = owner.get("/api/v1/orgs/xyz/reports/response/", {**window(), "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["figure", "value"]
    assert ["incidents", "1"] in rows
    assert ["public_update_cadence.updates", "1"] in rows

    days = owner.get("/api/v1/orgs/xyz/reports/mentions/", window(), HTTP_ACCEPT="text/csv")
    table = list(csv.reader(io.StringIO(b"".join(days.streaming_content).decode())))
    assert table[0][:3] == ["day", "mentions", "negative"]
    assert len(table) == 1 + 9  # a row per day of the 8-day range (partial days included)


def test_an_error_asked_for_as_csv_is_still_a_problem_document(owner: APIClient) -> None:
    response = owner.get("/api/v1/orgs/xyz/reports/response/", {"format": "csv"})
    assert_problem(response, 400)


def test_incident_list_csv_shows_what_the_caller_may_see(
    org: Organisation,
    owner: APIClient,
    api_key_client: Callable[..., APIClient],
    unscoped: None,
) -> None:
    make_incident(org, title='=HYPERLINK("http://evil")')
    make_incident(org, title="Secret", visibility="restricted")
    make_incident(org, title="Rehearsal", is_drill=True)
    url = "/api/v1/orgs/xyz/reports/incident-list/"

    rows = _csv(owner.get(url, window()))
    assert rows[0][:3] == ["reference", "title", "status"]
    titles = [row[1] for row in rows[1:]]
    assert titles == ['\'=HYPERLINK("http://evil")', "Secret"]  # defused; no drill
    with_drills = _csv(owner.get(url, {**window(), "include_drills": "true"}))
    assert [row[1] for row in with_drills[1:]][-1] == "Rehearsal"
    by_key = _csv(api_key_client(org, ["reports:read"]).get(url, window()))
    assert [row[1] for row in by_key[1:]] == ['\'=HYPERLINK("http://evil")']


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_without_postgresql_reports_answer_a_clear_problem(
    owner: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "vendor", "sqlite")
    response = owner.get("/api/v1/orgs/xyz/reports/cases/", window())
    assert_problem(response, 501)
    assert "PostgreSQL" in response.json()["detail"]
