"""Complaint cases: grouping arriving mentions by author, the SLA, the lifecycle and its events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from incidents import services as incidents
from monitoring.models import Case, IncidentMention, Mention, Signal
from monitoring.services.cases import cases_group
from monitoring.tasks_detection import after_ingest, after_ingest_task
from organisations.models import Event, Organisation, Role
from tests.factories import make_incident, make_signal, make_source
from tests.monitoring_detect.helpers import BASE, SYSTEM, add_mentions, event_types
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def ids(mentions: list[Mention]) -> list[str]:
    return [str(m.pk) for m in mentions]


def case_url(case: Case, action: str = "") -> str:
    return f"{BASE}/cases/{case.pk}/" + (f"{action.replace('_', '-')}/" if action else "")


def test_a_negative_mention_opens_a_case_that_later_mentions_join(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    org.first_response_sla_minutes = 30
    org.save()
    source = make_source(org)
    first = add_mentions(org, 2, at=T0, source=source, author_id="42", author_handle="@ann")
    calm = add_mentions(org, 1, at=T0, source=source, author_id="7", label="positive")

    assert cases_group(organisation_id=org.pk, mention_ids=ids(first + calm)) == 1

    case = Case.all_tenants.get()
    assert (case.platform, case.author_key, case.author_handle) == ("feed", "42", "@ann")
    assert case.first_response_due_at == T0 + timedelta(minutes=30)
    assert case.mention_count == 2
    assert event_types(org, "case.") == ["case.created"]
    assert Mention.all_tenants.get(pk=calm[0].pk).case is None

    clock.shift(timedelta(minutes=5))
    later = add_mentions(
        org,
        1,
        at=T0 + timedelta(minutes=5),
        source=make_source(org),
        author_id="42",
        label="neutral",
    )
    assert cases_group(organisation_id=org.pk, mention_ids=ids(later)) == 0
    case.refresh_from_db()
    assert case.mention_count == 3
    assert case.last_mention_at == T0 + timedelta(minutes=5)
    assert Case.all_tenants.count() == 1
    assert cases_group(organisation_id=org.pk, mention_ids=ids(later)) == 0  # idempotent


def test_the_same_author_id_on_another_platform_is_another_case(
    org: Organisation, unscoped: None
) -> None:
    push = make_source(org)
    feed = make_source(org)
    feed.kind = "mastodon"
    feed.save()
    a = add_mentions(org, 1, at=T0, source=push, author_id="42")
    b = add_mentions(org, 1, at=T0, source=feed, author_id="42")
    assert cases_group(organisation_id=org.pk, mention_ids=ids(a + b)) == 2


def test_grouping_costs_fixed_queries_plus_one_event_per_opened_case(
    org: Organisation, unscoped: None
) -> None:
    source = make_source(org)

    def batch(authors: int, per_author: int, tag: str) -> list[str]:
        out: list[Mention] = []
        for a in range(authors):
            out += add_mentions(org, per_author, at=T0, source=source, author_id=f"{tag}{a}")
        return ids(out)

    warm = batch(1, 1, "w")
    cases_group(organisation_id=org.pk, mention_ids=warm)
    small, large = batch(1, 2, "s"), batch(1, 40, "l")
    with CaptureQueriesContext(connection) as one:
        cases_group(organisation_id=org.pk, mention_ids=small)
    with CaptureQueriesContext(connection) as forty:
        cases_group(organisation_id=org.pk, mention_ids=large)
    assert len(one) == len(forty)
    existing = batch(1, 1, "s") + batch(1, 1, "l")  # two authors, both with open cases
    with CaptureQueriesContext(connection) as joined:
        assert cases_group(organisation_id=org.pk, mention_ids=existing) == 0
    assert len(joined) < len(one)


def test_the_ingest_hook_hands_the_batch_to_the_detect_queue_after_commit(
    org: Organisation, unscoped: None, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    from unittest import mock

    mentions = add_mentions(org, 2, at=T0, author_id="9")
    with (
        mock.patch("monitoring.tasks_detection.after_ingest_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),  # type: ignore[operator]
    ):
        after_ingest(org.pk, [m.pk for m in mentions])
    delay.assert_called_once_with(str(org.pk), ids(mentions))
    assert after_ingest_task(str(org.pk), ids(mentions)) == 0  # no rules; groups the batch
    assert Case.all_tenants.get().mention_count == 2


def test_case_lifecycle_over_the_api(
    org: Organisation,
    member_client: Callable[..., APIClient],
    clock: time_machine.Traveller,
    unscoped: None,
) -> None:
    worker = member_client(org, Role.RESPONDER)
    add_mentions(org, 1, at=T0, author_id="42")
    cases_group(
        organisation_id=org.pk, mention_ids=list(Mention.all_tenants.values_list("pk", flat=True))
    )
    case = Case.all_tenants.get()
    user_id = str(worker.user.pk)  # type: ignore[attr-defined]

    assigned = worker.post(case_url(case, "assign"), {"assignee": user_id}, format="json")
    assert assigned.status_code == 200, assigned.content
    assert (assigned.json()["status"], assigned.json()["assignee"]["id"]) == ("assigned", user_id)

    clock.shift(timedelta(minutes=20))
    responded = worker.post(case_url(case, "respond"))
    assert responded.json()["status"] == "responded"
    assert responded.json()["first_responded_at"] == "2026-03-02T12:20:00Z"
    assert_problem(worker.post(case_url(case, "respond")), 409, "invalid_transition")
    assert worker.post(case_url(case, "await_customer")).json()["status"] == "awaiting_customer"

    clock.shift(timedelta(minutes=60))
    reply = add_mentions(org, 1, at=T0 + timedelta(minutes=80), author_id="42", label="neutral")
    cases_group(organisation_id=org.pk, mention_ids=ids(reply))
    case.refresh_from_db()
    assert case.status == "assigned"  # the customer wrote back
    second = worker.post(case_url(case, "respond")).json()
    assert second["first_responded_at"] == "2026-03-02T12:20:00Z"  # the first one stays

    assert worker.post(case_url(case, "resolve")).json()["status"] == "resolved"
    assert worker.post(case_url(case, "close")).json()["status"] == "closed"
    assert_problem(worker.post(case_url(case, "resolve")), 409)

    events = Event.all_tenants.filter(organisation=org, type__startswith="case.").order_by("seq")
    assert [e.type for e in events] == [
        "case.created",
        "case.assigned",
        "case.responded",
        "case.awaiting_customer",
        "case.customer_replied",
        "case.responded",
        "case.resolved",
        "case.closed",
    ]
    first, again = [e for e in events if e.type == "case.responded"]
    assert (first.payload["first_response"], first.payload["within_sla"]) == (True, True)
    assert again.payload["first_response"] is False


def test_late_first_response_is_recorded_as_outside_the_sla(
    org: Organisation, admin: APIClient, clock: time_machine.Traveller, unscoped: None
) -> None:
    add_mentions(org, 1, at=T0, author_id="1")
    cases_group(
        organisation_id=org.pk, mention_ids=list(Mention.all_tenants.values_list("pk", flat=True))
    )
    case = Case.all_tenants.get()
    clock.shift(timedelta(minutes=61))
    overdue = admin.get(f"{BASE}/cases/?overdue=true").json()["results"]
    assert [c["id"] for c in overdue] == [str(case.pk)]
    admin.post(case_url(case, "respond"))
    event = Event.all_tenants.get(organisation=org, type="case.responded")
    assert event.payload["within_sla"] is False
    assert admin.get(f"{BASE}/cases/?overdue=true").json()["results"] == []


def test_reopening_when_the_author_has_a_newer_open_case_is_409(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    add_mentions(org, 1, at=T0, author_id="42")
    cases_group(
        organisation_id=org.pk, mention_ids=list(Mention.all_tenants.values_list("pk", flat=True))
    )
    old = Case.all_tenants.get()
    admin.post(case_url(old, "resolve"))
    newer = add_mentions(org, 1, at=T0, author_id="42")
    assert cases_group(organisation_id=org.pk, mention_ids=ids(newer)) == 1
    assert_problem(admin.post(case_url(old, "reopen")), 409)
    assert Case.all_tenants.get(pk=old.pk).status == "resolved"


def test_assigning_a_non_member_is_404_and_viewers_cannot_assign(
    org: Organisation, other_org: Organisation, admin: APIClient, viewer: APIClient, unscoped: None
) -> None:
    from tests.factories import make_membership

    add_mentions(org, 1, at=T0, author_id="42")
    cases_group(
        organisation_id=org.pk, mention_ids=list(Mention.all_tenants.values_list("pk", flat=True))
    )
    case = Case.all_tenants.get()
    stranger = make_membership(other_org).user
    response = admin.post(case_url(case, "assign"), {"assignee": str(stranger.pk)}, "json")
    assert_problem(response, 404)
    response = viewer.post(case_url(case, "assign"), {"assignee": None}, "json")
    assert_problem(response, 403)
    assert Case.all_tenants.get().status == "new"


def test_case_link_mentions_and_list_query_counts(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)

    def add_cases(n: int, tag: str) -> None:
        for a in range(n):
            add_mentions(org, 2, at=T0, author_id=f"{tag}{a}", author_handle=f"@{tag}{a}")
        pending = Mention.all_tenants.filter(case__isnull=True).values_list("pk", flat=True)
        cases_group(organisation_id=org.pk, mention_ids=list(pending))
        Case.all_tenants.update(incident=incident, assignee=admin.user)  # type: ignore[attr-defined]

    def queries(url: str) -> int:
        admin.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(url).status_code == 200
        return len(captured)

    add_cases(2, "a")
    few = queries(f"{BASE}/cases/?limit=100")
    add_cases(20, "b")
    assert queries(f"{BASE}/cases/?limit=100") == few

    case = Case.all_tenants.first()
    assert case is not None
    thread = admin.get(case_url(case, "mentions")).json()["results"]
    assert len(thread) == 2
    assert all(m["author_handle"] == case.author_handle for m in thread)
    unlinked = admin.post(case_url(case, "link"), {"incident": None}, format="json")
    assert unlinked.json()["incident"] is None
    linked = admin.post(case_url(case, "link"), {"incident": str(incident.pk)}, format="json")
    assert linked.json()["incident"]["id"] == str(incident.pk)
    by_incident = admin.get(f"{BASE}/cases/?incident={incident.pk}&limit=100").json()
    assert len(by_incident["results"]) == 22


def test_merging_an_incident_moves_its_signals_cases_and_mentions(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    merged, target = make_incident(org), make_incident(org)
    signal = make_signal(org)
    signal.incident = merged
    signal.save()
    add_mentions(org, 1, at=T0, author_id="42")
    cases_group(
        organisation_id=org.pk, mention_ids=list(Mention.all_tenants.values_list("pk", flat=True))
    )
    Case.all_tenants.update(incident=merged)
    mention = Mention.all_tenants.first()
    IncidentMention.all_tenants.create(organisation=org, incident=merged, mention=mention)
    IncidentMention.all_tenants.create(organisation=org, incident=target, mention=mention)

    incidents.incident_transition(incident=merged, action="merge", target=target, actor=SYSTEM)

    assert Signal.all_tenants.get().incident == target
    assert Case.all_tenants.get().incident == target
    assert list(IncidentMention.all_tenants.values_list("incident", flat=True)) == [target.pk]


def test_incident_mentions_api_links_once_and_shows_on_the_timeline(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    [mention] = add_mentions(org, 1, at=T0)
    body = {"incident": str(incident.pk), "mention": str(mention.pk)}
    created = admin.post(f"{BASE}/incident-mentions/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["mention"]["id"] == str(mention.pk)
    assert_problem(admin.post(f"{BASE}/incident-mentions/", body, format="json"), 409)
    listed = admin.get(f"{BASE}/incident-mentions/?incident={incident.pk}").json()["results"]
    assert len(listed) == 1
    timeline = admin.get(f"{BASE}/incidents/{incident.pk}/timeline/?limit=100").json()
    assert "incident.mention_linked" in [e["type"] for e in timeline["results"]]
    assert admin.delete(f"{BASE}/incident-mentions/{listed[0]['id']}/").status_code == 204
    assert not IncidentMention.all_tenants.exists()


def test_inbox_filters_by_case_and_by_incident(
    org: Organisation, admin: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)
    thread = add_mentions(org, 2, at=T0, author_id="42")
    [evidence] = add_mentions(org, 1, at=T0, author_id="", author_handle="")
    add_mentions(org, 3, at=T0, label="positive")
    cases_group(organisation_id=org.pk, mention_ids=ids([*thread, evidence]))
    case = Case.all_tenants.get()
    listed = admin.get(f"{BASE}/mentions/?case={case.pk}").json()["results"]
    assert sorted(m["id"] for m in listed) == sorted(ids(thread))
    assert {m["case"] for m in listed} == {str(case.pk)}
    assert admin.get(f"{BASE}/mentions/?incident={incident.pk}").json()["results"] == []
    admin.post(case_url(case, "link"), {"incident": str(incident.pk)}, format="json")
    IncidentMention.all_tenants.create(organisation=org, incident=incident, mention=evidence)
    listed = admin.get(f"{BASE}/mentions/?incident={incident.pk}").json()["results"]
    assert sorted(m["id"] for m in listed) == sorted(ids([*thread, evidence]))


def test_the_first_response_sla_is_an_organisation_setting(
    org: Organisation, owner: APIClient, viewer: APIClient, unscoped: None
) -> None:
    assert owner.get(f"{BASE}/").json()["first_response_sla_minutes"] == 60
    changed = owner.patch(f"{BASE}/", {"first_response_sla_minutes": 15}, format="json")
    assert changed.json()["first_response_sla_minutes"] == 15
    assert_problem(owner.patch(f"{BASE}/", {"first_response_sla_minutes": 0}, format="json"), 400)
    assert_problem(viewer.patch(f"{BASE}/", {"first_response_sla_minutes": 5}, format="json"), 403)
    event = Event.all_tenants.get(organisation=org, type="organisation.updated")
    assert event.payload["changes"] == {"first_response_sla_minutes": {"from": 60, "to": 15}}
