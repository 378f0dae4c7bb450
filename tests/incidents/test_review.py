"""The post-incident review, its action items, closing rules, and the incident's metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Incident, Review, Task
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.factories import make_incident, make_membership, severity_of
from tests.incidents.helpers import BASE, events_of, incident_url, patch, post

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
T0 = datetime(2030, 2, 1, 10, 0, tzinfo=UTC)


def resolved(organisation: Organisation, rank: int = 2) -> Incident:
    incident = make_incident(organisation, severity=severity_of(organisation, rank))
    return services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)


def review_url(incident: Incident, suffix: str = "") -> str:
    return incident_url(incident, "review" + (f"/{suffix}" if suffix else ""))


@pytest.mark.parametrize("status", ["triage", "active", "contained"])
def test_review_waits_until_the_incident_is_resolved(
    org: Organisation, admin: APIClient, status: str, unscoped: None
) -> None:
    incident = make_incident(org, status="triage" if status == "triage" else "active")
    if status == "contained":
        services.incident_transition(incident=incident, action="contain", actor=SYSTEM)

    assert patch(admin, review_url(incident), {"summary": "Too early"}).status_code == 409
    assert post(admin, review_url(incident, "complete")).status_code == 409
    assert post(admin, review_url(incident, "action-items"), {"title": "x"}).status_code == 409
    assert not Review.all_tenants.exists()
    assert not Task.all_tenants.exists()


def test_writing_the_review_creates_it_and_records_the_fields(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = resolved(org)
    assert admin.get(review_url(incident)).status_code == 404

    body = {
        "summary": "A bad config push.",
        "went_well": "Fast detection.",
        "contributing_factors": ["no canary", "Friday deploy"],
    }
    response = patch(admin, review_url(incident), body)

    assert response.status_code == 200, response.content
    review = response.json()
    assert review["status"] == "draft"
    assert review["contributing_factors"] == ["no canary", "Friday deploy"]
    assert admin.get(review_url(incident)).json()["summary"] == "A bad config push."
    assert admin.get(incident_url(incident)).json()["review_status"] == "draft"
    [updated] = events_of(incident, "review.updated")
    assert sorted(updated.payload["fields"]) == ["contributing_factors", "summary", "went_well"]


def test_completing_the_review_requires_a_summary(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = resolved(org)
    patch(admin, review_url(incident), {"went_badly": "Slow comms"})

    refused = post(admin, review_url(incident, "complete"))
    assert refused.status_code == 400
    assert "summary" in refused.json()["detail"]

    patch(admin, review_url(incident), {"summary": "Slow comms made it worse."})
    completed = post(admin, review_url(incident, "complete"))
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"
    assert completed.json()["completed_by"] == str(admin.membership.user.pk)
    assert len(events_of(incident, "review.completed")) == 1


def test_action_items_are_tasks_with_source_review(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = resolved(org)
    owner = make_membership(org).user
    patch(admin, review_url(incident), {"summary": "s"})

    response = post(
        admin,
        review_url(incident, "action-items"),
        {"title": "Add a canary stage", "owner": str(owner.pk), "priority": "high"},
    )

    assert response.status_code == 201, response.content
    item = response.json()
    assert (item["source"], item["priority"]) == ("review", "high")
    assert item["owner"]["id"] == str(owner.pk)
    task = Task.all_tenants.get(pk=item["id"])
    assert task.incident_id == incident.pk
    assert [i["id"] for i in admin.get(review_url(incident)).json()["action_items"]] == [item["id"]]
    from_review = admin.get(f"{BASE}/tasks/?source=review").json()["results"]
    assert [t["id"] for t in from_review] == [item["id"]]


def test_action_items_may_follow_the_closing(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = resolved(org, rank=3)
    services.incident_transition(incident=incident, action="close", actor=SYSTEM)
    response = post(admin, review_url(incident, "action-items"), {"title": "Train the team"})
    assert response.status_code == 201
    manual = post(admin, f"{BASE}/tasks/", {"incident": str(incident.pk), "title": "x"})
    assert manual.status_code == 409


@pytest.mark.parametrize("rank", [1, 2])
def test_closing_a_sev1_or_sev2_needs_a_completed_review(
    org: Organisation, admin: APIClient, rank: int, unscoped: None
) -> None:
    incident = resolved(org, rank=rank)

    refused = post(admin, incident_url(incident, "close"))
    assert refused.status_code == 409
    assert refused.json()["missing"] == "review"
    assert refused.json()["allowed"] == ["close", "reopen"]

    patch(admin, review_url(incident), {"summary": "Root cause found."})
    draft_only = post(admin, incident_url(incident, "close"))
    assert draft_only.status_code == 409
    assert draft_only.json()["missing"] == "review"
    assert Incident.all_tenants.get(pk=incident.pk).status == "resolved"

    assert post(admin, review_url(incident, "complete")).status_code == 200
    closed = post(admin, incident_url(incident, "close"))
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"


@pytest.mark.parametrize("rank", [3, 4])
def test_closing_a_sev3_or_sev4_needs_no_review(
    org: Organisation, admin: APIClient, rank: int, unscoped: None
) -> None:
    incident = resolved(org, rank=rank)
    response = post(admin, incident_url(incident, "close"))
    assert response.status_code == 200
    assert response.json()["closed_at"] is not None
    assert response.json()["review_status"] is None


def test_the_review_of_a_closed_incident_is_final(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = resolved(org)
    patch(admin, review_url(incident), {"summary": "Done."})
    post(admin, review_url(incident, "complete"))
    post(admin, incident_url(incident, "close"))
    assert patch(admin, review_url(incident), {"summary": "Rewritten"}).status_code == 409
    assert Review.all_tenants.get(incident=incident).summary == "Done."


def test_a_review_completed_before_reopening_still_allows_closing_later(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = resolved(org, rank=1)
    services.review_update(incident=incident, actor=SYSTEM, summary="First pass.")
    services.review_complete(incident=incident, actor=SYSTEM)
    services.incident_transition(incident=incident, action="reopen", actor=SYSTEM)
    assert patch(admin, review_url(incident), {"summary": "x"}).status_code == 409
    services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)
    assert post(admin, incident_url(incident, "close")).status_code == 200


def test_who_may_write_and_complete_the_review(
    org: Organisation, member_client: Callable[..., APIClient], unscoped: None
) -> None:
    incident = resolved(org)
    viewer, comms = member_client(org, Role.VIEWER), member_client(org, Role.COMMS_LEAD)

    assert patch(viewer, review_url(incident), {"summary": "x"}).status_code == 403
    assert patch(comms, review_url(incident), {"summary": "From comms."}).status_code == 200
    assert viewer.get(review_url(incident)).json()["summary"] == "From comms."
    assert post(comms, review_url(incident, "complete")).status_code == 403
    assert post(viewer, review_url(incident, "action-items"), {"title": "x"}).status_code == 403


# --- metrics ----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_metrics_measure_declare_contain_and_resolve(
    org: Organisation, clock: time_machine.Traveller, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org, status="triage")
    clock.shift(timedelta(minutes=12))
    post(admin, incident_url(incident, "declare"))
    clock.shift(timedelta(hours=1, minutes=30))
    post(admin, incident_url(incident, "contain"))
    clock.shift(timedelta(hours=2))
    post(admin, incident_url(incident, "resolve"))

    metrics = admin.get(incident_url(incident)).json()["metrics"]

    assert metrics == {
        "time_to_declare": 12 * 60.0,
        "time_to_contain": 90 * 60.0,
        "time_to_resolve": 210 * 60.0,
        "time_to_first_statement": None,
    }
    patch(admin, review_url(incident), {"summary": "s"})
    assert admin.get(review_url(incident)).json()["metrics"] == metrics


def test_metrics_are_empty_until_the_milestones_happen(
    org: Organisation, clock: time_machine.Traveller, admin: APIClient, unscoped: None
) -> None:
    triage = make_incident(org, status="triage")
    assert admin.get(incident_url(triage)).json()["metrics"]["time_to_declare"] is None
    active = make_incident(org)
    clock.shift(timedelta(minutes=5))
    metrics = admin.get(incident_url(active)).json()["metrics"]
    assert metrics["time_to_declare"] == 0.0
    assert metrics["time_to_contain"] is None
    assert metrics["time_to_resolve"] is None


def test_review_services_read_the_current_status_not_a_stale_copy(
    org: Organisation, unscoped: None
) -> None:
    stale = make_incident(org)  # "active" in memory
    services.incident_transition(incident=stale, action="resolve", actor=SYSTEM)

    services.review_update(incident=stale, actor=SYSTEM, summary="Written after resolving.")
    services.review_complete(incident=stale, actor=SYSTEM)
    item = services.review_action_item_add(incident=stale, actor=SYSTEM, title="Follow up")

    assert Review.all_tenants.get(incident=stale).status == "completed"
    assert item.source == "review"
