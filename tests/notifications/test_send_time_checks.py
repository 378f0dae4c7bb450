"""What planning decided is checked again when a (delayed) notification is finally sent."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from incidents import services as incident_services
from incidents.models import Incident
from notifications import delivery
from notifications.models import Notification
from organisations.events import Actor
from organisations.models import Membership, Organisation
from tests.factories import make_incident, make_notification

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mail(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def for_incident(org: Organisation, incident: Incident) -> Notification:
    notification = make_notification(org)
    Notification.all_tenants.filter(pk=notification.pk).update(incident=incident)
    return notification


def test_a_recipient_who_left_is_not_notified(org: Organisation) -> None:
    notification = make_notification(org)
    Membership.all_tenants.filter(user_id=notification.recipient_id).delete()
    delivery.deliver_due()
    notification.refresh_from_db()
    assert notification.status == "suppressed"
    assert notification.error == delivery.NO_LONGER_ALLOWED
    assert mail.outbox == []


def test_restricted_incidents_reach_only_people_who_may_see_them(org: Organisation) -> None:
    restricted = make_incident(org, visibility="restricted")
    hidden = for_incident(org, restricted)
    shown = for_incident(org, restricted)
    incident_services.incident_role_assign(
        incident=restricted, user=shown.recipient, role="scribe", actor=Actor.system()
    )
    delivery.deliver_due()
    hidden.refresh_from_db()
    shown.refresh_from_db()
    assert (hidden.status, shown.status) == ("suppressed", "sent")
    assert len(mail.outbox) == 1
