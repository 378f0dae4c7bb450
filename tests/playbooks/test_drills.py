"""Drills: schedule, start (a drill incident and a run), finish with findings and an outcome;
the report; training records; and isolation: no customer webhooks unless the organisation opts
in, no automatic playbooks, left out of metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from incidents import services as incident_services
from incidents.models import Incident, Task
from incidents.selectors import incidents_for_metrics
from notifications import relay
from notifications.models import WebhookMessage
from organisations.events import Actor
from organisations.models import Organisation, Role, User
from playbooks import selectors, services
from playbooks.models import Drill, PlaybookRun, TrainingRecord
from tests.factories import (
    make_incident,
    make_membership,
    make_playbook,
    make_webhook_endpoint,
    severity_of,
)
from tests.incidents.helpers import crisis_type_of
from tests.playbooks.helpers import BASE, PLAN, events, runs_of
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")


def schedule(admin: APIClient, org: Organisation, people: dict[str, User]) -> dict[str, Any]:
    playbook = make_playbook(org, steps=PLAN["steps"])
    body = {
        "playbook": str(playbook.pk),
        "title": "Leaked customer list",
        "scenario": "A journalist says our customer list is on a forum.",
        "crisis_type": str(crisis_type_of(org).pk),
        "severity": str(severity_of(org, 1).pk),
        "scheduled_for": "2030-03-01T09:00:00Z",
        "participants": [{"user": str(u.pk), "role": role} for role, u in people.items()],
    }
    response = admin.post(f"{BASE}/drills/", body, format="json")
    assert response.status_code == 201, response.content
    result: dict[str, Any] = response.json()
    return result


def people_of(org: Organisation) -> dict[str, User]:
    return {role: make_membership(org, Role.RESPONDER).user for role in ("commander", "comms_lead")}


def test_a_drill_runs_the_playbook_on_a_drill_incident_and_reports_timings(
    clock: time_machine.Traveller, admin: APIClient, org: Organisation, unscoped: None
) -> None:
    people = people_of(org)
    drill = schedule(admin, org, people)
    url = f"{BASE}/drills/{drill['id']}/"

    started = admin.post(f"{url}start/", {}, format="json")
    assert started.status_code == 200, started.content
    incident = Incident.all_tenants.get(pk=started.json()["incident"]["id"])
    assert incident.is_drill
    assert incident.status == Incident.Status.ACTIVE
    assert incident.commander == people["commander"]
    [run] = runs_of(incident)
    assert run.trigger == PlaybookRun.Trigger.DRILL

    clock.shift(timedelta(minutes=10))
    services.playbook_run_step_complete(run=run, key="assess", actor=SYSTEM)  # 5 min early
    clock.shift(timedelta(minutes=35))
    services.playbook_run_step_complete(run=run, key="holding", actor=SYSTEM)  # 15 min late
    finding = {"title": "Legal had no on-call number", "owner": str(people["comms_lead"].pk)}
    finished = admin.post(
        f"{url}finish/",
        {"outcome": "partial", "notes": "Slow statement", "findings": [finding]},
        format="json",
    )

    assert finished.status_code == 200, finished.content
    assert finished.json()["status"] == "finished"
    report = admin.get(f"{url}report/").json()
    steps = {s["key"]: s for s in report["steps"]}
    assert steps["assess"]["verdict"] == "on_time"
    assert steps["assess"]["elapsed_seconds"] == 600
    assert steps["holding"]["verdict"] == "late"
    assert steps["holding"]["late_by_seconds"] == 900
    assert steps["legal-ok"]["verdict"] == "not_done"
    assert report["summary"] == {"on_time": 2, "late": 1, "skipped": 0, "not_done": 1}
    assert [f["title"] for f in report["findings"]] == ["Legal had no on-call number"]
    assert report["findings"][0]["owner"]["id"] == str(people["comms_lead"].pk)
    assert {(p["user"]["id"], p["role"]) for p in report["participants"]} == {
        (str(u.pk), r) for r, u in people.items()
    }
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED
    assert Task.all_tenants.filter(incident=incident, source=Task.Source.REVIEW).count() == 1
    [completed] = events("drill.completed")
    assert completed.payload["outcome"] == "partial"
    assert completed.payload["steps"] == report["summary"]
    # Over: its unfinished steps and their tasks never go overdue afterwards.
    run.refresh_from_db()
    assert run.status == PlaybookRun.Status.CANCELLED
    clock.shift(timedelta(days=1))
    assert services.step_overdue_sweep() == 0
    assert incident_services.task_overdue_sweep() == 0
    assert admin.get(f"{url}report/").json()["summary"] == report["summary"]


def test_finishing_writes_training_records_listable_per_member_and_playbook(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    people = people_of(org)
    drill = Drill.all_tenants.get(pk=schedule(admin, org, people)["id"])
    services.drill_start(drill=drill, actor=SYSTEM)
    services.drill_finish(drill=drill, actor=SYSTEM, outcome="passed")

    records = TrainingRecord.all_tenants.filter(drill=drill)
    assert {(r.user_id, r.role, r.outcome) for r in records} == {
        (u.pk, role, "passed") for role, u in people.items()
    }
    mine = admin.get(f"{BASE}/training-records/?member={people['commander'].pk}").json()
    assert [(r["role"], r["drill_id"]) for r in mine["results"]] == [("commander", str(drill.pk))]
    per_playbook = admin.get(f"{BASE}/training-records/?playbook={drill.playbook_id}").json()
    assert len(per_playbook["results"]) == 2


def test_drill_states_are_enforced(admin: APIClient, org: Organisation, unscoped: None) -> None:
    drill = schedule(admin, org, {})
    url = f"{BASE}/drills/{drill['id']}/"
    assert_problem(admin.post(f"{url}finish/", {"outcome": "passed"}, format="json"), 409)
    assert admin.post(f"{url}start/", {}, format="json").status_code == 200
    assert_problem(admin.post(f"{url}start/", {}, format="json"), 409)
    assert_problem(admin.patch(url, {"title": "Renamed"}, format="json"), 409)
    assert_problem(admin.post(f"{url}finish/", {"outcome": "great"}, format="json"), 400)


def test_cancelling_a_running_drill_cancels_its_incident_and_run(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    drill = schedule(admin, org, {})
    url = f"{BASE}/drills/{drill['id']}/"
    admin.post(f"{url}start/", {}, format="json")
    assert_problem(admin.post(f"{url}cancel/", {}, format="json"), 400)

    body = admin.post(f"{url}cancel/", {"reason": "Real crisis going on"}, format="json").json()

    assert body["status"] == "cancelled"
    incident = Incident.all_tenants.get(pk=body["incident"]["id"])
    assert incident.status == Incident.Status.CANCELLED
    assert runs_of(incident)[0].status == PlaybookRun.Status.CANCELLED


def test_participants_must_be_members(
    admin: APIClient, org: Organisation, other_org: Organisation, unscoped: None
) -> None:
    stranger = make_membership(other_org).user
    playbook = make_playbook(org)
    body = {
        "playbook": str(playbook.pk),
        "title": "T",
        "crisis_type": str(crisis_type_of(org).pk),
        "severity": str(severity_of(org).pk),
        "scheduled_for": "2030-01-01T00:00:00Z",
        "participants": [{"user": str(stranger.pk), "role": "commander"}],
    }
    assert_problem(admin.post(f"{BASE}/drills/", body, format="json"), 404)
    assert not Drill.all_tenants.exists()


# --- isolation ----------------------------------------------------------------------------------


def drill_started(org: Organisation, drill: Drill | None = None) -> Drill:
    drill = Drill.all_tenants.get(pk=(drill or schedule_service(org)).pk)
    return services.drill_start(drill=drill, actor=SYSTEM)


def schedule_service(org: Organisation) -> Drill:
    return services.drill_schedule(
        organisation=org,
        actor=SYSTEM,
        playbook=make_playbook(org, steps=PLAN["steps"]),
        title="Rehearsal",
        crisis_type=crisis_type_of(org),
        severity=severity_of(org, 1),
        scheduled_for=datetime(2030, 1, 1, tzinfo=UTC),
    )


def test_drills_never_reach_customer_webhooks_by_default(org: Organisation, unscoped: None) -> None:
    scheduled = schedule_service(org)  # publishing its playbook is not about the drill
    make_webhook_endpoint(org)  # subscribed to every public type
    relay.outbox_relay()
    WebhookMessage.all_tenants.all().delete()

    drill = drill_started(org, scheduled)
    services.playbook_run_step_complete(run=drill.run, key="assess", actor=SYSTEM)  # type: ignore[arg-type]
    services.drill_finish(drill=drill, actor=SYSTEM, outcome="passed")
    relay.outbox_relay()

    assert events("playbook_run.started")
    assert events("drill.completed")
    assert WebhookMessage.all_tenants.count() == 0


def test_an_organisation_may_opt_in_to_drill_webhooks(org: Organisation, unscoped: None) -> None:
    org.drill_webhooks_enabled = True
    org.save(update_fields=("drill_webhooks_enabled",))
    scheduled = schedule_service(org)  # publishing its playbook is not about the drill
    make_webhook_endpoint(org)
    relay.outbox_relay()
    WebhookMessage.all_tenants.all().delete()

    drill = drill_started(org, scheduled)
    services.drill_finish(drill=drill, actor=SYSTEM, outcome="passed")
    relay.outbox_relay()

    sent = set(WebhookMessage.all_tenants.values_list("event_type", flat=True))
    assert {"incident.declared", "playbook_run.started", "drill.completed"} <= sent


def test_the_opt_in_is_an_organisation_setting_admins_change(
    admin: APIClient, viewer: APIClient, org: Organisation, unscoped: None
) -> None:
    assert admin.get(f"{BASE}/").json()["drill_webhooks_enabled"] is False
    response = admin.patch(f"{BASE}/", {"drill_webhooks_enabled": True}, format="json")
    assert response.status_code == 200, response.content
    org.refresh_from_db()
    assert org.drill_webhooks_enabled is True
    assert_problem(viewer.patch(f"{BASE}/", {"drill_webhooks_enabled": False}, format="json"), 403)


def test_drill_incidents_start_no_other_playbook(org: Organisation, unscoped: None) -> None:
    make_playbook(org, name="Catch-all", auto_start=True)
    drill = drill_started(org)
    assert drill.incident is not None
    assert [r.playbook_id for r in runs_of(drill.incident)] == [drill.playbook_id]


def test_drills_are_left_out_of_metrics(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    drill = drill_started(org)
    playbook = drill.playbook
    real = make_incident(org, severity=severity_of(org, 1))
    services.playbook_run_start(incident=real, playbook=playbook, actor=SYSTEM)

    metric_incidents = set(incidents_for_metrics(Incident.all_tenants.filter(organisation=org)))
    assert drill.incident not in metric_incidents
    assert real in metric_incidents
    stats = selectors.playbook_stats(playbook=playbook)
    assert stats["runs"] == 1  # the real incident's run only
    body = admin.get(f"{BASE}/playbooks/{playbook.pk}/").json()
    assert body["stats"]["runs"] == 1
