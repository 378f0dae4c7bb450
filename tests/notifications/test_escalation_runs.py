"""One escalation run per incident and policy at a time."""

from __future__ import annotations

import pytest

from incidents import services as incident_services
from notifications import relay
from notifications.models import Escalation
from organisations.events import Actor
from organisations.models import Organisation
from tests.factories import make_incident, make_policy, severity_of

pytestmark = pytest.mark.django_db


def test_raising_the_severity_mid_escalation_does_not_page_everyone_twice(
    org: Organisation,
) -> None:
    make_policy(org)
    incident = make_incident(org, status="active", severity=severity_of(org, 3))
    relay.outbox_relay()
    assert Escalation.all_tenants.filter(status="active").count() == 1
    incident_services.incident_change_severity(
        incident=incident, severity=severity_of(org, 1), actor=Actor.system()
    )
    relay.outbox_relay()
    assert Escalation.all_tenants.count() == 1


def test_a_new_run_starts_once_the_previous_one_ended(org: Organisation) -> None:
    make_policy(org)
    incident = make_incident(org, status="active", severity=severity_of(org, 3))
    relay.outbox_relay()
    Escalation.all_tenants.update(status="acknowledged")
    incident_services.incident_change_severity(
        incident=incident, severity=severity_of(org, 1), actor=Actor.system()
    )
    relay.outbox_relay()
    assert Escalation.all_tenants.filter(status="active").count() == 1
