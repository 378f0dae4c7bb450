"""Signal triage over the API: escalate, link, dismiss, snooze; 409 once triaged; rule CRUD."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import Incident
from monitoring.models import DetectionRule, IncidentMention, Signal
from monitoring.tasks_detection import rules_sweep_task
from organisations.models import Event, Organisation, Role
from tests.factories import make_incident, make_signal, severity_of
from tests.monitoring_detect.helpers import BASE, SYSTEM, add_mentions, event_types, make_rule
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db


def signal_url(signal: Signal, action: str = "") -> str:
    return f"{BASE}/signals/{signal.pk}/" + (f"{action}/" if action else "")


@pytest.fixture
def manager(org: Organisation, member_client: Callable[..., APIClient]) -> APIClient:
    return member_client(org, Role.CRISIS_MANAGER)


def test_escalate_declares_an_incident_and_records_the_event(
    org: Organisation, manager: APIClient, unscoped: None
) -> None:
    signal = make_signal(org)
    severity = severity_of(org, 1)
    body = {
        "title": "Poisoning reports",
        "crisis_type": str(org.crisistype_set.first().pk),  # type: ignore[union-attr]
        "severity": str(severity.pk),
    }
    response = manager.post(signal_url(signal, "escalate"), body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    incident = Incident.all_tenants.get()
    assert data["status"] == "escalated"
    assert data["incident"] == {
        "id": str(incident.pk),
        "reference": incident.reference,
        "status": "active",
    }
    assert data["allowed_actions"] == []
    assert (incident.title, incident.severity, incident.source) == (
        "Poisoning reports",
        severity,
        "signal",
    )
    event = Event.all_tenants.get(organisation=org, type="signal.escalated")
    assert event.payload["incident"]["id"] == str(incident.pk)
    assert event.actor_id == str(manager.user.pk)  # type: ignore[attr-defined]

    again = manager.post(signal_url(signal, "escalate"), body, format="json")
    assert_problem(again, 409, "invalid_transition")
    assert Incident.all_tenants.count() == 1


def test_escalate_without_type_or_severity_when_the_rule_has_none_is_400(
    org: Organisation, manager: APIClient, unscoped: None
) -> None:
    signal = make_signal(org)
    response = manager.post(signal_url(signal, "escalate"), {}, format="json")
    assert_problem(response, 400)
    assert Signal.all_tenants.get().status == "new"
    assert not Incident.all_tenants.exists()


def test_link_to_an_open_incident_and_attach_the_sample(
    org: Organisation, manager: APIClient, unscoped: None
) -> None:
    mentions = add_mentions(org, 3, at=timezone.now())
    signal = make_signal(org)
    signal.sample_mention_ids = [str(m.pk) for m in mentions]
    signal.save()
    incident = make_incident(org)
    response = manager.post(signal_url(signal, "link"), {"incident": str(incident.pk)}, "json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "linked"
    assert IncidentMention.all_tenants.filter(incident=incident).count() == 3
    assert "signal.linked" in event_types(org, "signal.")


def test_link_to_a_resolved_incident_is_409(
    org: Organisation, manager: APIClient, unscoped: None
) -> None:
    from incidents import services
    from tests.monitoring_detect.helpers import SYSTEM

    incident = make_incident(org)
    services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)
    signal = make_signal(org)
    response = manager.post(signal_url(signal, "link"), {"incident": str(incident.pk)}, "json")
    assert_problem(response, 409)
    assert Signal.all_tenants.get().status == "new"


@pytest.mark.parametrize("reason", list(Signal.DismissReason.values))
def test_dismiss_with_each_reason(
    org: Organisation, manager: APIClient, reason: str, unscoped: None
) -> None:
    signal = make_signal(org)
    response = manager.post(signal_url(signal, "dismiss"), {"reason": reason, "note": "ok"}, "json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["dismiss_reason"]) == ("dismissed", reason)
    assert_problem(manager.post(signal_url(signal, "snooze"), {"until": _soon()}, "json"), 409)


@pytest.mark.parametrize(
    "body", [{}, {"reason": "boring"}, {"reason": "benign", "extra": 1}, {"reason": ["benign"]}]
)
def test_bad_dismissals_are_400_and_change_nothing(
    org: Organisation, manager: APIClient, body: dict[str, Any], unscoped: None
) -> None:
    signal = make_signal(org)
    before = event_types(org)
    assert_problem(manager.post(signal_url(signal, "dismiss"), body, format="json"), 400)
    assert Signal.all_tenants.get().status == "new"
    assert event_types(org) == before


def _soon(minutes: int = 60) -> str:
    return (timezone.now() + timedelta(minutes=minutes)).isoformat()


def test_snooze_then_escalate_is_allowed(
    org: Organisation, manager: APIClient, unscoped: None
) -> None:
    signal = make_signal(org)
    response = manager.post(signal_url(signal, "snooze"), {"until": _soon()}, "json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "snoozed"
    assert response.json()["allowed_actions"] == ["escalate", "link", "dismiss", "snooze"]
    dismissed = manager.post(signal_url(signal, "dismiss"), {"reason": "benign"}, "json")
    assert dismissed.json()["status"] == "dismissed"


@pytest.mark.parametrize("minutes", [-5, 31 * 24 * 60])
def test_snooze_into_the_past_or_too_far_is_400(
    org: Organisation, manager: APIClient, minutes: int, unscoped: None
) -> None:
    signal = make_signal(org)
    response = manager.post(signal_url(signal, "snooze"), {"until": _soon(minutes)}, "json")
    assert_problem(response, 400)
    assert Signal.all_tenants.get().status == "new"


def test_viewers_read_signals_but_cannot_triage(
    org: Organisation, viewer: APIClient, unscoped: None
) -> None:
    signal = make_signal(org)
    assert viewer.get(signal_url(signal)).status_code == 200
    response = viewer.post(signal_url(signal, "dismiss"), {"reason": "benign"}, "json")
    assert_problem(response, 403)


def test_signal_list_filters_and_costs_constant_queries(
    org: Organisation, manager: APIClient, unscoped: None
) -> None:
    incident = make_incident(org)

    def add(n: int) -> None:
        for _ in range(n):
            signal = make_signal(org)
            signal.incident, signal.status, signal.triaged_by = (
                incident,
                "linked",
                manager.user,  # type: ignore[attr-defined]
            )
            signal.save()

    def queries() -> int:
        manager.get(f"{BASE}/signals/")
        with CaptureQueriesContext(connection) as captured:
            response = manager.get(f"{BASE}/signals/?limit=100&status=linked")
        assert response.status_code == 200
        return len(captured)

    add(3)
    few = queries()
    add(30)
    assert queries() == few
    make_signal(org)
    listed = manager.get(f"{BASE}/signals/?status=new&limit=100").json()["results"]
    assert len(listed) == 1
    by_incident = manager.get(f"{BASE}/signals/?incident={incident.pk}&limit=100")
    assert len(by_incident.json()["results"]) == 33


def test_rule_crud_and_validation_over_the_api(
    org: Organisation, manager: APIClient, viewer: APIClient, unscoped: None
) -> None:
    body = {
        "name": "Spike",
        "metric": "negative_volume",
        "method": "zscore",
        "threshold": 3,
        "window_minutes": 15,
        "baseline_minutes": 360,
        "min_volume": 10,
    }
    created = manager.post(f"{BASE}/rules/", body, format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert (rule["mode"], rule["action"], rule["sources"]) == ("monitor", "signal", [])
    url = f"{BASE}/rules/{rule['id']}/"
    assert_problem(viewer.patch(url, {"mode": "active"}, format="json"), 403)
    changed = manager.patch(url, {"mode": "active"}, format="json")
    assert changed.json()["mode"] == "active"
    bad = manager.patch(url, {"metric": "alarm_keyword"}, format="json")  # z-score on keywords
    assert_problem(bad, 400, "invalid_rule")
    assert DetectionRule.all_tenants.get().metric == "negative_volume"
    preview = manager.get(f"{url}preview/")
    assert preview.status_code == 200
    assert preview.json()["fires"] is False
    assert manager.delete(url).status_code == 204
    assert event_types(org, "detection_rule.") == [
        "detection_rule.created",
        "detection_rule.updated",
        "detection_rule.deleted",
    ]


def test_the_minute_sweep_evaluates_every_enabled_rule(org: Organisation, unscoped: None) -> None:
    make_rule(org, name="spike", min_volume=5, threshold=3.0, method="ratio")
    make_rule(org, name="off", mode="disabled", min_volume=1)
    add_mentions(org, 10, at=timezone.now())
    assert rules_sweep_task() == 1
    assert rules_sweep_task() == 0
    assert list(Signal.all_tenants.values_list("rule_name", flat=True)) == ["spike"]


def test_escalating_a_signal_of_a_long_named_rule_fits_the_incident_title(
    org: Organisation, manager: APIClient, unscoped: None
) -> None:
    signal = make_signal(org)
    Signal.all_tenants.filter(pk=signal.pk).update(rule_name="R" * 200)
    body = {
        "crisis_type": str(org.crisistype_set.first().pk),  # type: ignore[union-attr]
        "severity": str(severity_of(org).pk),
    }
    response = manager.post(signal_url(signal, "escalate"), body, format="json")
    assert response.status_code == 200, response.content
    assert len(Incident.all_tenants.get().title) == 200


def test_rule_and_incident_mention_lists_cost_constant_queries(
    org: Organisation, manager: APIClient, unscoped: None
) -> None:
    from tests.factories import make_incident_mention, make_source

    def add(n: int) -> None:
        for i in range(n):
            rule = make_rule(org, name=f"rule {i}", crisis_type=org.crisistype_set.first())
            rule.sources.set([make_source(org), make_source(org)])
            make_incident_mention(org)

    def queries(path: str) -> int:
        manager.get(f"{BASE}/{path}/")
        with CaptureQueriesContext(connection) as captured:
            assert manager.get(f"{BASE}/{path}/?limit=100").status_code == 200
        return len(captured)

    add(2)
    few = (queries("rules"), queries("incident-mentions"))
    add(15)
    assert (queries("rules"), queries("incident-mentions")) == few


def test_a_pushed_batch_reaches_cases_and_rules_through_the_ingest_hook(
    org: Organisation,
    unscoped: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    from unittest import mock

    from monitoring.connectors import MentionIn
    from monitoring.models import Case, Source
    from monitoring.services import mentions_push
    from monitoring.tasks_detection import after_ingest_task
    from tests.factories import make_source

    source = make_source(org, kind=Source.Kind.PUSH, config={}, next_poll_at=None)
    make_rule(org, min_volume=3, threshold=3.0, method="ratio")
    posts = [
        MentionIn(
            external_id=f"p{n}",
            text="XYZ charged me twice, this is a terrible, disgusting scam. I am furious!",
            posted_at=timezone.now(),
            author_id=f"a{n}",
            author_handle=f"@a{n}",
            language="en",
        )
        for n in range(4)
    ]
    with (
        mock.patch.object(after_ingest_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = mentions_push(source=source, mentions=posts, actor=SYSTEM)
    [(org_id, ids)] = [call.args for call in delay.call_args_list]
    assert (org_id, sorted(ids)) == (str(org.pk), sorted(str(pk) for pk in result.stored_ids))
    assert after_ingest_task(org_id, ids) == 1  # the rule fired
    assert Case.all_tenants.count() == 4
    assert Signal.all_tenants.get().observed == 4
