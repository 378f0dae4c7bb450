"""Runs: started automatically on declare and on severity raise (most specific playbook, once),
or by hand; tasks from incident roles with deadlines; dependencies; completion and skipping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from incidents import services as incident_services
from incidents.models import CrisisType, Incident, IncidentRole, Task
from organisations.events import Actor
from organisations.models import Organisation, Role, User
from playbooks import services
from playbooks.models import PlaybookRun, PlaybookRunStep
from playbooks.services import runs as run_services
from tests.factories import make_incident, make_membership, make_playbook, severity_of
from tests.playbooks.helpers import PLAN, events, run_url, runs_of, steps_of
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
STEP = PlaybookRunStep.Status


def breach(org: Organisation) -> CrisisType:
    return CrisisType.all_tenants.get(organisation=org, slug="data-breach")


def member(org: Organisation, role: str = Role.RESPONDER) -> User:
    return make_membership(org, role).user


def assign(incident: Incident, user: User, role: str) -> None:
    incident_services.incident_role_assign(incident=incident, user=user, role=role, actor=SYSTEM)


# --- automatic start ----------------------------------------------------------------------------


def test_declaring_starts_the_most_specific_matching_playbook_once(
    org: Organisation, unscoped: None
) -> None:
    make_playbook(org, name="Generic", auto_start=True)
    specific = make_playbook(
        org, name="Breach", auto_start=True, crisis_types=[breach(org)], steps=PLAN["steps"]
    )
    make_playbook(
        org,
        name="Other type",
        auto_start=True,
        crisis_types=[CrisisType.all_tenants.get(organisation=org, slug="safety")],
    )
    make_playbook(org, name="Manual only", crisis_types=[breach(org)], min_severity_rank=2)

    incident = make_incident(org, crisis_type=breach(org), status="triage")
    incident_services.incident_transition(incident=incident, action="declare", actor=SYSTEM)

    [run] = runs_of(incident)
    assert run.playbook_id == specific.pk
    assert run.trigger == PlaybookRun.Trigger.DECLARED
    assert run.version_id == specific.current_version_id
    [started] = events("playbook_run.started")
    assert started.payload["run"]["id"] == str(run.pk)
    assert started.payload["incident"]["id"] == str(incident.pk)


def test_raising_severity_starts_a_playbook_for_the_higher_severity_once(
    org: Organisation, unscoped: None
) -> None:
    general = make_playbook(org, name="Breach", auto_start=True, crisis_types=[breach(org)])
    critical = make_playbook(
        org, name="Breach SEV1", auto_start=True, crisis_types=[breach(org)], min_severity_rank=1
    )
    incident = make_incident(org, crisis_type=breach(org), severity=severity_of(org, 3))
    assert [r.playbook_id for r in runs_of(incident)] == [general.pk]

    for rank in (1, 2, 1):  # up, down, up again: still one run of the SEV1 plan
        incident_services.incident_change_severity(
            incident=incident, severity=severity_of(org, rank), actor=SYSTEM
        )

    runs = runs_of(incident)
    assert [r.playbook_id for r in runs] == [general.pk, critical.pk]
    assert runs[1].trigger == PlaybookRun.Trigger.SEVERITY_RAISED


def test_nothing_starts_without_a_published_match_or_for_drills(
    org: Organisation, unscoped: None
) -> None:
    make_playbook(org, name="SEV1 only", auto_start=True, min_severity_rank=1)
    assert runs_of(make_incident(org, severity=severity_of(org, 2))) == []
    assert runs_of(make_incident(org, severity=severity_of(org, 1), is_drill=True)) == []


def test_a_run_starts_by_hand_once(admin: APIClient, org: Organisation, unscoped: None) -> None:
    playbook = make_playbook(org)
    incident = make_incident(org)
    body = {"incident": str(incident.pk), "playbook": str(playbook.pk)}

    first = admin.post("/api/v1/orgs/xyz/playbook-runs/", body, format="json")
    again = admin.post("/api/v1/orgs/xyz/playbook-runs/", body, format="json")

    assert first.status_code == 201, first.content
    assert first.json()["trigger"] == "manual"
    assert_problem(again, 409)
    assert len(runs_of(incident)) == 1


def test_an_unpublished_playbook_does_not_run(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    draft = services.playbook_create(
        organisation=org, actor=SYSTEM, name="Draft", steps=PLAN["steps"]
    )
    body = {"incident": str(make_incident(org).pk), "playbook": str(draft.pk)}
    assert_problem(admin.post("/api/v1/orgs/xyz/playbook-runs/", body, format="json"), 409)
    assert not PlaybookRun.all_tenants.exists()


# --- tasks, owners, deadlines -------------------------------------------------------------------


def started(org: Organisation, **kwargs: Any) -> tuple[Incident, PlaybookRun, dict[str, User]]:
    people = {role: member(org) for role in ("commander", "comms_lead", "legal")}
    incident = make_incident(org, crisis_type=breach(org), **kwargs)
    for role, user in people.items():
        assign(incident, user, role)
    playbook = make_playbook(org, steps=PLAN["steps"])
    run = services.playbook_run_start(incident=incident, playbook=playbook, actor=SYSTEM)
    return incident, run, people


def test_a_run_creates_tasks_owned_by_the_role_holders_with_deadlines(
    org: Organisation, unscoped: None
) -> None:
    incident, run, people = started(org)
    steps = steps_of(run)

    assess = steps["assess"]
    assert assess.status == STEP.ACTIVE
    assert assess.task is not None
    assert assess.task.owner == people["commander"]
    assert assess.task.due_at == run.started_at + timedelta(minutes=15)
    assert assess.task.source == Task.Source.PLAYBOOK
    assert assess.due_at == assess.task.due_at
    assert {k: s.status for k, s in steps.items() if k != "assess"} == {
        "holding": STEP.PENDING,
        "legal-ok": STEP.PENDING,
        "brief-execs": STEP.PENDING,
    }
    assert Task.all_tenants.filter(incident=incident).count() == 1


def test_completing_a_task_advances_the_steps_that_depended_on_it(
    org: Organisation, unscoped: None
) -> None:
    _incident, run, people = started(org)
    task = steps_of(run)["assess"].task
    assert task is not None

    incident_services.task_update(task=task, actor=SYSTEM, status=Task.Status.DONE)

    steps = steps_of(run)
    assert steps["assess"].status == STEP.COMPLETED
    # draft_message: its task asks comms to draft; the step waits for communications
    holding = steps["holding"]
    assert holding.status == STEP.WAITING
    assert holding.waiting_for == "communications"
    assert holding.task is not None
    assert holding.task.owner == people["comms_lead"]
    # notify: who was told is recorded for the dispatcher, and the step is done at once
    assert steps["brief-execs"].status == STEP.COMPLETED
    [told] = events("playbook_run.notification_requested")
    owners = {str(u.user_id) for u in org.membership_set.filter(role=Role.OWNER)}
    assert set(told.payload["user_ids"]) == {str(people["commander"].pk)} | owners
    assert steps["legal-ok"].status == STEP.PENDING


def test_a_draft_message_hook_creates_the_draft(org: Organisation, unscoped: None) -> None:
    calls: list[tuple[str, bool]] = []

    def hook(step: PlaybookRunStep, incident: Incident, actor: Actor) -> dict[str, Any]:
        calls.append((step.config["template"], incident.is_drill))
        return {"message_id": "m-1"}

    run_services.register_draft_message_hook(hook)
    try:
        _incident, run, _ = started(org)
        services.playbook_run_step_complete(run=run, key="assess", actor=SYSTEM)
    finally:
        run_services._draft_message_hooks.remove(hook)

    holding = steps_of(run)["holding"]
    assert calls == [("holding-statement-breach", False)]
    assert holding.status == STEP.ACTIVE
    assert holding.result == {"draft": {"message_id": "m-1"}}


def test_a_step_is_completed_through_the_api_with_its_task(
    org: Organisation, member_client: Callable[..., APIClient], unscoped: None
) -> None:
    _incident, run, _people = started(org)
    client = member_client(org, Role.RESPONDER)

    response = client.post(run_url(run, "complete-step"), {"step": "assess"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assess = next(s for s in body["steps"] if s["key"] == "assess")
    assert assess["status"] == "completed"
    assert assess["task"]["status"] == "done"
    completed = [e.payload["step"]["key"] for e in events("playbook_run.step_completed")]
    assert completed == ["assess", "brief-execs"]
    assert len(events("task.completed")) == 1


def test_a_pending_step_cannot_be_completed_and_unknown_steps_are_400(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    _incident, run, _ = started(org)
    assert_problem(
        admin.post(run_url(run, "complete-step"), {"step": "legal-ok"}, format="json"), 409
    )
    assert_problem(admin.post(run_url(run, "complete-step"), {"step": "nope"}, format="json"), 400)
    assert_problem(admin.post(run_url(run, "complete-step"), {}, format="json"), 400)
    assert steps_of(run)["legal-ok"].status == STEP.PENDING


def test_skipping_needs_a_reason_cancels_the_task_and_unblocks(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    _incident, run, _ = started(org)
    assert_problem(admin.post(run_url(run, "skip-step"), {"step": "assess"}, format="json"), 400)

    response = admin.post(
        run_url(run, "skip-step"), {"step": "assess", "reason": "Facts known"}, format="json"
    )

    assert response.status_code == 200, response.content
    steps = steps_of(run)
    assert steps["assess"].status == STEP.SKIPPED
    assert steps["assess"].skip_reason == "Facts known"
    assert steps["assess"].task is not None
    assert steps["assess"].task.status == Task.Status.CANCELLED
    assert steps["holding"].status == STEP.WAITING
    [skipped] = events("playbook_run.step_skipped")
    assert skipped.payload["reason"] == "Facts known"


def test_cancelling_a_playbook_task_skips_its_step(org: Organisation, unscoped: None) -> None:
    _incident, run, _ = started(org)
    task = steps_of(run)["assess"].task
    assert task is not None
    incident_services.task_update(task=task, actor=SYSTEM, status=Task.Status.CANCELLED)
    assert steps_of(run)["assess"].status == STEP.SKIPPED


def test_the_run_completes_when_every_step_is_done(org: Organisation, unscoped: None) -> None:
    _incident, run, _ = started(org)
    for key in ("assess", "holding", "legal-ok"):
        services.playbook_run_step_complete(run=run, key=key, actor=SYSTEM)

    run.refresh_from_db()
    assert run.status == PlaybookRun.Status.COMPLETED
    assert run.completed_at is not None
    [completed] = events("playbook_run.completed")
    assert completed.payload["steps"] == 4
    assert completed.payload["skipped"] == 0
    with pytest.raises(run_services.PlaybookRunError):
        services.playbook_run_step_complete(run=run, key="assess", actor=SYSTEM)


def test_an_unowned_task_gets_an_owner_when_the_role_is_assigned(
    org: Organisation, unscoped: None
) -> None:
    incident = make_incident(org)
    playbook = make_playbook(org, steps=PLAN["steps"])
    run = services.playbook_run_start(incident=incident, playbook=playbook, actor=SYSTEM)
    assess = steps_of(run)["assess"]
    assert assess.task is not None
    assert assess.task.owner is None

    commander = member(org)
    assign(incident, commander, IncidentRole.COMMANDER)

    task = steps_of(run)["assess"].task
    assert task is not None
    assert task.owner == commander


def test_a_run_survives_its_playbook_being_edited_and_republished(
    admin: APIClient, org: Organisation, unscoped: None
) -> None:
    _incident, run, _ = started(org)
    playbook = run.playbook
    admin.patch(
        f"/api/v1/orgs/xyz/playbooks/{playbook.pk}/",
        {"steps": [{**PLAN["steps"][0], "title": "Something else", "due_offset_minutes": 1}]},
        format="json",
    )
    admin.post(f"/api/v1/orgs/xyz/playbooks/{playbook.pk}/publish/", {}, format="json")

    body = admin.get(run_url(run)).json()

    assert body["version"]["number"] == 1
    assert [s["key"] for s in body["steps"]] == ["assess", "holding", "legal-ok", "brief-execs"]
    assert body["steps"][0]["title"] == "Establish the facts"
    services.playbook_run_step_complete(run=run, key="assess", actor=SYSTEM)
    assert steps_of(run)["holding"].status == STEP.WAITING  # v1's dependencies still drive it


def test_ending_the_incident_cancels_its_runs(org: Organisation, unscoped: None) -> None:
    incident, run, _ = started(org)
    incident_services.incident_transition(
        incident=incident, action="cancel", actor=SYSTEM, reason="False alarm"
    )
    run.refresh_from_db()
    assert run.status == PlaybookRun.Status.CANCELLED
    assert events("playbook_run.cancelled")[0].payload["reason"] == "incident cancelled"


def test_runs_are_listed_per_incident(admin: APIClient, org: Organisation, unscoped: None) -> None:
    incident, run, _ = started(org)
    started(org)  # another incident's run
    body = admin.get(f"/api/v1/orgs/xyz/playbook-runs/?incident={incident.pk}").json()
    assert [r["id"] for r in body["results"]] == [str(run.pk)]


def test_runs_of_restricted_incidents_are_hidden_from_those_who_cannot_see_them(
    org: Organisation, member_client: Callable[..., APIClient], unscoped: None
) -> None:
    _incident, run, _ = started(org, visibility="restricted")
    viewer = member_client(org, Role.VIEWER)
    assert viewer.get("/api/v1/orgs/xyz/playbook-runs/").json()["results"] == []
    assert_problem(viewer.get(run_url(run)), 404)


def test_the_incident_commander_may_skip_steps_without_an_org_role(
    org: Organisation, member_client: Callable[..., APIClient], unscoped: None
) -> None:
    incident, run, _ = started(org)
    client = member_client(org, Role.ANALYST)
    body = {"step": "assess", "reason": "Done elsewhere"}
    assert_problem(client.post(run_url(run, "skip-step"), body, format="json"), 403)
    assign(incident, client.membership.user, IncidentRole.COMMANDER)  # type: ignore[attr-defined]
    assert client.post(run_url(run, "skip-step"), body, format="json").status_code == 200


def test_a_notify_step_reaches_the_named_people_through_the_dispatcher(
    org: Organisation, unscoped: None
) -> None:
    """Members' own notification rules pick the channel; only the people the step names get
    it (the commander and the owners here), not everyone whose rule takes every event."""
    from notifications import relay
    from notifications.models import Notification, NotificationRule
    from tests.factories import make_contact_method

    def with_rule(role: str) -> User:
        user = make_membership(org, role).user
        method = make_contact_method(org, user)
        NotificationRule.all_tenants.create(
            organisation=org, user=user, contact_methods=[str(method.pk)]
        )
        return user

    owner, bystander = with_rule(Role.OWNER), with_rule(Role.RESPONDER)
    _, run, _ = started(org)
    relay.outbox_relay()
    services.playbook_run_step_complete(run=run, key="assess", actor=SYSTEM)
    relay.outbox_relay()

    told = Notification.all_tenants.filter(event__type="playbook_run.notification_requested")
    assert set(told.values_list("recipient_id", flat=True)) == {owner.pk}
    assert bystander.pk not in set(told.values_list("recipient_id", flat=True))
