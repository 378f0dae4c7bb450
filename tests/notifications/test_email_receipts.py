"""E-mail provider receipts arrive through django-anymail's tracking events."""

from __future__ import annotations

import pytest
from anymail.signals import AnymailTrackingEvent, tracking

from notifications.models import Delivery, Notification
from organisations.models import Organisation
from tests.factories import make_notification

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("event_type", "status"), [("delivered", "delivered"), ("bounced", "failed")]
)
def test_tracking_events_update_the_notification(
    org: Organisation, event_type: str, status: str
) -> None:
    notification = make_notification(org)
    Notification.all_tenants.filter(pk=notification.pk).update(
        status="sent", provider_message_id="esp-123", attempts=1
    )
    event = AnymailTrackingEvent(event_type=event_type, message_id="esp-123")
    tracking.send(sender=object, event=event, esp_name="Postmark")
    notification.refresh_from_db()
    assert notification.status == status
    assert Delivery.all_tenants.filter(notification=notification).count() == 1


def test_unknown_messages_and_interim_events_change_nothing(org: Organisation) -> None:
    notification = make_notification(org)
    Notification.all_tenants.filter(pk=notification.pk).update(
        status="sent", provider_message_id="esp-9"
    )
    for event in (
        AnymailTrackingEvent(event_type="delivered", message_id="someone-else"),
        AnymailTrackingEvent(event_type="opened", message_id="esp-9"),
        AnymailTrackingEvent(event_type="delivered", message_id=None),
    ):
        tracking.send(sender=object, event=event, esp_name="Postmark")
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert not Delivery.all_tenants.exists()
