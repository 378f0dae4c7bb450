"""Query-string filters of the incident list; ids of another organisation answer 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Incident
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.factories import make_incident, make_membership, severity_of
from tests.incidents.helpers import BASE, crisis_type_of

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
T0 = datetime(2030, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def incidents(org: Organisation) -> dict[str, Incident]:
    """Five incidents a day apart from T0, each distinct in one way."""
    commander = make_membership(org, Role.RESPONDER).user
    with time_machine.travel(T0, tick=False) as clock:
        made: dict[str, Incident] = {}
        specs = {
            "outage": {"title": "Checkout outage", "crisis_type": crisis_type_of(org)},
            "breach": {
                "title": "Customer data exposed",
                "crisis_type": crisis_type_of(org, "data-breach"),
                "severity": severity_of(org, 1),
                "commander": commander,
            },
            "drill": {"title": "Quarterly drill", "is_drill": True, "summary": "Rehearsal"},
            "triage": {
                "title": "Odd tweets",
                "status": "triage",
                "summary": "Maybe a checkout bug",
            },
            "resolved": {"title": "Recall of batch 7", "severity": severity_of(org, 3)},
        }
        for name, spec in specs.items():
            made[name] = make_incident(org, **spec)
            clock.shift(timedelta(days=1))
        services.incident_transition(incident=made["resolved"], action="resolve", actor=SYSTEM)
        made["commander"] = commander  # type: ignore[assignment]
        return made


def titles(client: APIClient, query: str) -> set[str]:
    response = client.get(f"{BASE}/incidents/?{query}")
    assert response.status_code == 200, response.content
    return {incident["title"] for incident in response.json()["results"]}


def test_filter_by_one_or_several_statuses(
    admin: APIClient, incidents: dict[str, Incident]
) -> None:
    assert titles(admin, "status=triage") == {"Odd tweets"}
    assert titles(admin, "status=triage&status=resolved") == {"Odd tweets", "Recall of batch 7"}
    assert titles(admin, "status=closed") == set()


def test_filter_by_severity_crisis_type_and_commander(
    org: Organisation, admin: APIClient, incidents: dict[str, Incident]
) -> None:
    sev1 = severity_of(org, 1)
    breach_type = crisis_type_of(org, "data-breach")
    commander = incidents["commander"]
    assert titles(admin, f"severity={sev1.pk}") == {"Customer data exposed"}
    assert titles(admin, f"crisis_type={breach_type.pk}") == {"Customer data exposed"}
    assert titles(admin, f"commander={commander.pk}") == {"Customer data exposed"}
    assert titles(admin, f"severity={severity_of(org, 4).pk}") == set()


def test_filter_by_drill(admin: APIClient, incidents: dict[str, Incident]) -> None:
    assert titles(admin, "is_drill=true") == {"Quarterly drill"}
    assert "Quarterly drill" not in titles(admin, "is_drill=false")
    assert len(titles(admin, "is_drill=false")) == 4


def test_filter_by_creation_time(admin: APIClient, incidents: dict[str, Incident]) -> None:
    assert titles(admin, "created_after=2030-04-03T09:00:00Z") == {
        "Quarterly drill",
        "Odd tweets",
        "Recall of batch 7",
    }
    assert titles(admin, "created_before=2030-04-02T09:00:00Z") == {"Checkout outage"}
    window = "created_after=2030-04-02T00:00:00Z&created_before=2030-04-04T00:00:00Z"
    assert titles(admin, window) == {"Customer data exposed", "Quarterly drill"}


def test_filter_by_text_in_title_or_summary(
    admin: APIClient, incidents: dict[str, Incident]
) -> None:
    assert titles(admin, "q=checkout") == {"Checkout outage", "Odd tweets"}
    assert titles(admin, "q=REHEARSAL") == {"Quarterly drill"}
    assert titles(admin, "q=nothing-like-this") == set()


def test_filters_combine(
    org: Organisation, admin: APIClient, incidents: dict[str, Incident]
) -> None:
    query = f"status=active&crisis_type={crisis_type_of(org).pk}&q=checkout"
    assert titles(admin, query) == {"Checkout outage"}


@pytest.mark.parametrize("name", ["severity", "crisis_type", "commander"])
def test_ids_of_another_organisation_are_not_found(
    other_org: Organisation, admin: APIClient, incidents: dict[str, Incident], name: str
) -> None:
    foreign = {
        "severity": lambda: severity_of(other_org, 1).pk,
        "crisis_type": lambda: crisis_type_of(other_org).pk,
        "commander": lambda: make_membership(other_org, Role.OWNER).user.pk,
    }[name]()
    response = admin.get(f"{BASE}/incidents/?{name}={foreign}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert admin.get(f"{BASE}/incidents/?{name}=not-a-uuid").status_code == 404


@pytest.mark.parametrize("query", ["status=burning", "created_after=yesterday", "limit=101"])
def test_malformed_filters_are_400(
    admin: APIClient, incidents: dict[str, Incident], query: str
) -> None:
    response = admin.get(f"{BASE}/incidents/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
