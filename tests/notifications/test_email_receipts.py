"""E-mail provider receipts arrive through django-anymail's tracking events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.test import Client
from django.urls import clear_url_caches

import crisis_api.api.urls
import crisis_api.urls
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


# --- through the real webhook URL, as the providers post them ------------------------------------

SECRET = "anymail-user:s3cret-pass"
MAILGUN_KEY = "key-mailgun-webhook-signing"
POSTMARK_URL = "/api/v1/hooks/anymail/postmark/tracking/"
MAILGUN_URL = "/api/v1/hooks/anymail/mailgun/tracking/"


def _reload_urls() -> None:
    importlib.reload(crisis_api.api.urls)
    importlib.reload(crisis_api.urls)
    clear_url_caches()


@pytest.fixture
def hooks(settings: Any) -> Iterator[None]:
    """The anymail routes, mounted as in production once a webhook secret is configured."""
    original = settings.ANYMAIL
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}
    _reload_urls()
    yield
    settings.ANYMAIL = original
    _reload_urls()


def basic_auth(credentials: str = SECRET) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def sent_email(org: Organisation, provider_id: str) -> Notification:
    notification = make_notification(org)
    Notification.all_tenants.filter(pk=notification.pk).update(
        status="sent", provider_message_id=provider_id, attempts=1
    )
    return notification


def post_json(url: str, payload: dict[str, Any], auth: str | None = None) -> Any:
    headers = {} if auth is None else {"HTTP_AUTHORIZATION": auth}
    return Client().post(url, json.dumps(payload), content_type="application/json", **headers)


def postmark_delivery(message_id: str) -> dict[str, Any]:
    """Postmark's Delivery webhook (postmarkapp.com/developer/webhooks/delivery-webhook)."""
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Recipient": "john@example.com",
        "Tag": "incident",
        "DeliveredAt": "2026-11-26T08:33:54.9070259Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }


def postmark_bounce(message_id: str) -> dict[str, Any]:
    """Postmark's Bounce webhook (postmarkapp.com/developer/webhooks/bounce-webhook)."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "incident",
        "MessageID": message_id,
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "Test bounce details",
        "Email": "john@example.com",
        "From": "sender@example.com",
        "BouncedAt": "2026-11-26T08:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "INC-1 SEV1",
    }


def postmark_open(message_id: str) -> dict[str, Any]:
    """Postmark's Open webhook: engagement, not delivery (changes nothing here)."""
    return {
        "RecordType": "Open",
        "MessageStream": "outbound",
        "Metadata": {},
        "FirstOpen": True,
        "Client": {"Name": "Chrome", "Company": "Google", "Family": "Chrome"},
        "OS": {"Name": "Linux", "Company": "", "Family": "Linux"},
        "Platform": "Desktop",
        "UserAgent": "Mozilla/5.0",
        "ReadSeconds": 5,
        "Geo": {},
        "MessageID": message_id,
        "ReceivedAt": "2026-11-26T08:40:00Z",
        "Tag": "incident",
        "Recipient": "john@example.com",
    }


def mailgun_event(
    message_id: str, event: str, key: str = MAILGUN_KEY, **extra: Any
) -> dict[str, Any]:
    """Mailgun's webhook body (documentation.mailgun.com, "Securing webhooks"): the signature
    is HMAC-SHA256 of timestamp + token with the webhook signing key."""
    timestamp, token = str(int(time.time())), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature.hexdigest()},
        "event-data": {
            "event": event,
            "timestamp": time.time(),
            "id": "CPgfbmQMTCKtHW6uIWtuVe",
            "recipient": "alice@example.com",
            "message": {
                "headers": {
                    "to": "Alice <alice@example.com>",
                    "message-id": message_id,
                    "from": "crisis-api <no-reply@example.com>",
                    "subject": "INC-1 SEV1",
                },
                "size": 111,
            },
            "flags": {"is-test-mode": False},
            **extra,
        },
    }


def receipts_of(notification: Notification) -> list[tuple[int, str, str]]:
    rows = Delivery.all_tenants.filter(notification=notification)
    return [(d.number, d.status, d.provider_message_id) for d in rows]


@pytest.mark.django_db
@pytest.mark.usefixtures("hooks")
def test_a_postmark_delivery_webhook_marks_the_email_delivered(org: Organisation) -> None:
    notification = sent_email(org, "883953f4-6105-42a2-a16a-77a8eac79483")
    response = post_json(
        POSTMARK_URL, postmark_delivery("883953f4-6105-42a2-a16a-77a8eac79483"), basic_auth()
    )
    assert response.status_code == 200
    notification.refresh_from_db()
    assert (notification.status, notification.error) == ("delivered", "")
    assert notification.delivered_at is not None
    assert receipts_of(notification) == [(1, "delivered", "883953f4-6105-42a2-a16a-77a8eac79483")]


@pytest.mark.django_db
@pytest.mark.usefixtures("hooks")
def test_a_postmark_hard_bounce_marks_the_email_failed(org: Organisation) -> None:
    notification = sent_email(org, "pm-bounce-1")
    assert post_json(POSTMARK_URL, postmark_bounce("pm-bounce-1"), basic_auth()).status_code == 200
    notification.refresh_from_db()
    assert notification.status == "failed"
    assert notification.delivered_at is None
    assert "bounced" in notification.error
    assert receipts_of(notification) == [(1, "permanent", "pm-bounce-1")]


@pytest.mark.django_db
@pytest.mark.usefixtures("hooks")
def test_postmark_opens_and_unknown_messages_change_nothing(org: Organisation) -> None:
    notification = sent_email(org, "pm-open-1")
    assert post_json(POSTMARK_URL, postmark_open("pm-open-1"), basic_auth()).status_code == 200
    assert post_json(POSTMARK_URL, postmark_delivery("other"), basic_auth()).status_code == 200
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert not Delivery.all_tenants.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("hooks")
def test_postmark_webhooks_without_the_secret_are_refused(org: Organisation) -> None:
    notification = sent_email(org, "pm-forged")
    for auth in (None, basic_auth("anymail-user:wrong"), "Bearer s3cret-pass"):
        response = post_json(POSTMARK_URL, postmark_delivery("pm-forged"), auth)
        assert response.status_code == 400, auth  # anymail: SuspiciousOperation
    notification.refresh_from_db()
    assert notification.status == "sent"
    assert not Delivery.all_tenants.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("hooks")
def test_mailgun_delivered_and_permanent_failure_events(org: Organisation) -> None:
    delivered = sent_email(org, "<20261126083354.1.AAAA@mg.example.com>")
    bounced = sent_email(org, "<20261126083354.2.BBBB@mg.example.com>")
    ok = mailgun_event("20261126083354.1.AAAA@mg.example.com", "delivered")
    failed = mailgun_event(
        "20261126083354.2.BBBB@mg.example.com",
        "failed",
        severity="permanent",
        reason="bounce",
        **{"delivery-status": {"code": 550, "message": "5.1.1 No such user", "attempt-no": 1}},
    )
    assert post_json(MAILGUN_URL, ok, basic_auth()).status_code == 200
    assert post_json(MAILGUN_URL, failed, basic_auth()).status_code == 200
    delivered.refresh_from_db()
    bounced.refresh_from_db()
    assert (delivered.status, bounced.status) == ("delivered", "failed")
    assert receipts_of(bounced) == [(1, "permanent", "<20261126083354.2.BBBB@mg.example.com>")]


@pytest.mark.django_db
@pytest.mark.usefixtures("hooks")
def test_mailgun_temporary_failures_change_nothing(org: Organisation) -> None:
    notification = sent_email(org, "<20261126083354.3.CCCC@mg.example.com>")
    deferred = mailgun_event(
        "20261126083354.3.CCCC@mg.example.com", "failed", severity="temporary", reason="generic"
    )
    assert post_json(MAILGUN_URL, deferred, basic_auth()).status_code == 200
    notification.refresh_from_db()
    assert notification.status == "sent"


@pytest.mark.django_db
@pytest.mark.usefixtures("hooks")
def test_mailgun_events_with_a_forged_signature_are_refused(org: Organisation) -> None:
    notification = sent_email(org, "<20261126083354.4.DDDD@mg.example.com>")
    forged = mailgun_event("20261126083354.4.DDDD@mg.example.com", "delivered", key="guessed")
    assert post_json(MAILGUN_URL, forged, basic_auth()).status_code == 400
    tampered = mailgun_event("20261126083354.4.DDDD@mg.example.com", "delivered")
    tampered["signature"]["timestamp"] = str(int(tampered["signature"]["timestamp"]) + 1)
    assert post_json(MAILGUN_URL, tampered, basic_auth()).status_code == 400
    notification.refresh_from_db()
    assert notification.status == "sent"


@pytest.mark.django_db
def test_without_a_webhook_secret_the_routes_are_not_mounted(org: Organisation) -> None:
    assert post_json(POSTMARK_URL, postmark_delivery("x"), basic_auth()).status_code == 404
