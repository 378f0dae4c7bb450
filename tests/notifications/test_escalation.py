"""Escalations: a declared incident starts its policy, level after level, repeating, until
someone acknowledges (in the API or through the signed link) or the policy is exhausted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from crisis_api.api.errors import ConflictError
from incidents import services as incident_services
from incidents.models import Incident
from notifications import relay
from notifications.escalation import (
    escalation_advance,
    escalation_advance_due,
    notification_acknowledge,
)
from notifications.models import (
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    Notification,
)
from notifications.rendering import ACK_SALT, ack_link
from organisations.events import Actor
from organisations.models import Event, Organisation, Role, User
from tests.conftest import client_for
from tests.factories import make_contact_method, make_incident, make_membership, severity_of

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


@dataclass
class Paging:
    """An organisation with a two-level policy: owners first, then the incident's commander."""

    org: Organisation
    policy: EscalationPolicy
    owner: User
    commander: User
    bystander: User


@pytest.fixture
def paging(org: Organisation) -> Paging:
    owner = make_membership(org, Role.OWNER).user
    commander = make_membership(org, Role.RESPONDER).user
    bystander = make_membership(org, Role.RESPONDER).user
    for user in (owner, commander, bystander):
        make_contact_method(org, user)
    policy = EscalationPolicy.all_tenants.create(organisation=org, name="Pager", repeat_count=1)
    EscalationLevel.all_tenants.create(
        organisation=org, policy=policy, position=0, delay_minutes=5, organisation_roles=["owner"]
    )
    EscalationLevel.all_tenants.create(
        organisation=org,
        policy=policy,
        position=1,
        delay_minutes=10,
        incident_roles=["commander"],
    )
    return Paging(org, policy, owner, commander, bystander)


def declare(paging: Paging, **kwargs: Any) -> Incident:
    incident = make_incident(paging.org, status="active", commander=paging.commander, **kwargs)
    relay.outbox_relay()
    return incident


def paged() -> list[tuple[str, Any]]:
    """(step suffix "repeat:position", recipient id) of every escalation notification, in order."""
    rows = Notification.all_tenants.exclude(escalation=None).order_by("created_at", "step")
    return [(":".join(n.step.split(":")[2:]), n.recipient_id) for n in rows]


def escalation() -> Escalation:
    return Escalation.all_tenants.get()


# --- the run ------------------------------------------------------------------------------------


def test_declaring_an_active_incident_starts_the_policy(paging: Paging) -> None:
    incident = declare(paging)
    run = escalation()
    assert run.incident_id == incident.pk
    assert run.policy_id == paging.policy.pk
    assert run.status == "active"
    assert (run.level, run.repeat) == (0, 0)
    declared = Event.all_tenants.get(type="incident.declared")
    assert run.event_id == declared.pk
    assert run.next_step_at == declared.occurred_at
    relay.outbox_relay()
    assert Escalation.all_tenants.count() == 1


def test_a_triage_incident_starts_nothing_until_it_is_declared(paging: Paging) -> None:
    incident = make_incident(paging.org, status="triage")
    relay.outbox_relay()
    assert not Escalation.all_tenants.exists()
    incident_services.incident_transition(incident=incident, action="declare", actor=SYSTEM)
    relay.outbox_relay()
    assert escalation().status == "active"


def test_policies_apply_only_to_their_severities_and_crisis_types(paging: Paging) -> None:
    paging.policy.max_severity_rank = 1
    paging.policy.save()
    declare(paging, severity=severity_of(paging.org, 2))
    assert not Escalation.all_tenants.exists()
    declare(paging, severity=severity_of(paging.org, 1))
    assert Escalation.all_tenants.count() == 1


def test_levels_then_a_repeat_then_exhausted(paging: Paging) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        declare(paging)
        owner, commander = paging.owner.pk, paging.commander.pk

        assert escalation_advance_due() == 1
        assert paged() == [("0:0", owner)]
        assert escalation().next_step_at == start + timedelta(minutes=5)

        clock.move_to(start + timedelta(minutes=4, seconds=59))
        assert escalation_advance_due() == 0  # level 0's delay has not passed

        clock.move_to(start + timedelta(minutes=5))
        assert escalation_advance_due() == 1
        assert paged()[1:] == [("0:1", commander)]
        assert escalation().next_step_at == start + timedelta(minutes=15)

        clock.move_to(start + timedelta(minutes=15))
        escalation_advance_due()  # the repeat starts over at level 0
        assert paged()[2:] == [("1:0", owner)]
        assert escalation().repeat == 1

        clock.move_to(start + timedelta(minutes=20))
        escalation_advance_due()
        assert paged()[3:] == [("1:1", commander)]

        clock.move_to(start + timedelta(minutes=30))
        escalation_advance_due()
        run = escalation()
        assert run.status == "exhausted"
        assert run.next_step_at is None
        assert len(paged()) == 4

        clock.move_to(start + timedelta(hours=5))
        assert escalation_advance_due() == 0
        assert len(paged()) == 4
    assert paging.bystander.pk not in {recipient for _, recipient in paged()}


def test_a_stale_token_does_nothing(paging: Paging) -> None:
    declare(paging)
    stale = escalation().token
    assert escalation_advance(escalation_id=escalation().pk, token=stale) is True
    assert escalation().token != stale
    before = (escalation().level, escalation().next_step_at, len(paged()))
    # A duplicate task that read the old token (or a sweep that raced another) changes nothing.
    assert escalation_advance(escalation_id=escalation().pk, token=stale) is False
    assert (escalation().level, escalation().next_step_at, len(paged())) == before


def test_a_resolved_incident_stops_paging(paging: Paging) -> None:
    incident = declare(paging)
    escalation_advance_due()
    incident_services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        escalation_advance_due()
    assert escalation().status == "cancelled"
    assert len(paged()) == 1


def test_restricted_incidents_page_only_people_who_may_see_them(paging: Paging) -> None:
    responder = make_membership(paging.org, Role.RESPONDER).user
    make_contact_method(paging.org, responder)
    level = EscalationLevel.all_tenants.get(policy=paging.policy, position=0)
    level.organisation_roles = ["owner", "responder"]
    level.save()
    declare(paging, visibility="restricted")
    escalation_advance_due()
    recipients = {recipient for _, recipient in paged()}
    # The owner sees every incident; the commander is assigned; other responders are not.
    assert recipients == {paging.owner.pk, paging.commander.pk}


def test_members_who_left_are_not_paged(paging: Paging) -> None:
    from organisations.models import Membership

    level = EscalationLevel.all_tenants.get(policy=paging.policy, position=0)
    level.users.add(paging.bystander)
    Membership.all_tenants.filter(user=paging.bystander).delete()
    declare(paging)
    escalation_advance_due()
    assert {recipient for _, recipient in paged()} == {paging.owner.pk}


# --- acknowledgement ----------------------------------------------------------------------------


def first_page(paging: Paging) -> Notification:
    declare(paging)
    escalation_advance_due()
    return Notification.all_tenants.get(escalation__isnull=False, recipient=paging.owner)


def assert_stopped(paging: Paging, page: Notification, by: User) -> None:
    run = escalation()
    assert run.status == "acknowledged"
    assert run.acknowledged_by_id == by.pk
    assert run.next_step_at is None
    page.refresh_from_db()
    assert page.acknowledged_at is not None
    event = Event.all_tenants.get(type="incident.acknowledged")
    assert event.payload["incident"]["id"] == str(run.incident_id)
    assert event.payload["user"]["id"] == str(by.pk)
    assert event.actor_id == str(by.pk)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert escalation_advance_due() == 0
    assert len(paged()) == 1


def test_acknowledging_in_the_api_stops_the_escalation(paging: Paging) -> None:
    page = first_page(paging)
    token = escalation().token
    client = client_for(paging.owner)
    response = client.post(f"/api/v1/orgs/xyz/notifications/{page.pk}/acknowledge/")
    assert response.status_code == 200, response.content
    assert response.json()["acknowledged_at"] is not None
    assert escalation().token != token
    assert_stopped(paging, page, paging.owner)
    # Acknowledging twice is harmless and records nothing more.
    assert client.post(f"/api/v1/orgs/xyz/notifications/{page.pk}/acknowledge/").status_code == 200
    assert Event.all_tenants.filter(type="incident.acknowledged").count() == 1


def test_acknowledging_suppresses_pending_pages_of_the_escalation(paging: Paging) -> None:
    page = first_page(paging)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        escalation_advance_due()  # level 1 planned, not yet sent
    commander_page = Notification.all_tenants.get(recipient=paging.commander)
    assert commander_page.status == "pending"
    notification_acknowledge(
        notification=page, user=paging.owner, actor=Actor.of_user(paging.owner)
    )
    commander_page.refresh_from_db()
    assert commander_page.status == "suppressed"
    page.refresh_from_db()
    assert page.status == "suppressed"  # its own copy, not sent yet, needs no sending now


def test_only_the_recipient_may_acknowledge(paging: Paging, org: Organisation) -> None:
    page = first_page(paging)
    manager = make_membership(org, Role.ADMIN).user
    for user in (paging.bystander, manager):
        response = client_for(user).post(f"/api/v1/orgs/xyz/notifications/{page.pk}/acknowledge/")
        assert response.status_code == 404
    with pytest.raises(ConflictError):
        notification_acknowledge(
            notification=page, user=paging.bystander, actor=Actor.of_user(paging.bystander)
        )
    assert escalation().status == "active"
    assert not Event.all_tenants.filter(type="incident.acknowledged").exists()


def test_the_signed_link_shows_a_page_on_get_and_acknowledges_on_post(paging: Paging) -> None:
    page = first_page(paging)
    path = ack_link(page.pk).split("://", 1)[1].split("/", 1)[1]
    browser = Client()  # no login: the signed token is the credential
    shown = browser.get(f"/{path}")
    assert shown.status_code == 200
    assert b'<form method="post">' in shown.content
    assert paging.owner.email.encode() in shown.content
    assert escalation().status == "active"  # link previews and mail scanners change nothing
    page.refresh_from_db()
    assert page.acknowledged_at is None

    done = browser.post(f"/{path}")
    assert done.status_code == 200
    assert b"Acknowledged" in done.content
    assert_stopped(paging, page, paging.owner)


def test_forged_or_expired_links_are_not_found(paging: Paging) -> None:
    page = first_page(paging)
    token = ack_link(page.pk).rstrip("/").rsplit("/", 1)[1]
    forged = signing.dumps({"n": str(page.pk)}, key="not-our-secret", salt=ACK_SALT)
    other_salt = signing.dumps({"n": str(page.pk)}, salt="something.else")
    browser = Client()
    for bad in (forged, other_salt, token[:-2] + "xx"):
        assert browser.get(f"/api/v1/ack/{bad}/").status_code == 404
        assert browser.post(f"/api/v1/ack/{bad}/").status_code == 404
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        assert browser.post(f"/api/v1/ack/{token}/").status_code == 404
    assert escalation().status == "active"
