"""Contact methods, rules and notifications in the API: a code goes out through the method
itself and must come back; wrong codes are counted; targets are encrypted and never shown;
tenant URLs must be public; members see their own rows, managers everyone's."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
import responses
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from crisis_api.crypto import decrypt
from notifications import relay
from notifications.models import ChannelUsage, ContactMethod, Notification, NotificationRule
from organisations.models import Event, Organisation, Role
from tests.conftest import membership_of
from tests.factories import make_incident
from tests.notifications.stub import Receiver
from tests.notifications.test_channels import FROM_NUMBER, twilio, twilio_accepts

__all__ = ["twilio"]
pytestmark = pytest.mark.django_db
METHODS = "/api/v1/orgs/xyz/contact-methods/"
CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture(autouse=True)
def _channels(settings: Any) -> None:
    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def create(client: APIClient, kind: str, target: str, **extra: Any) -> Any:
    return client.post(METHODS, {"kind": kind, "target": target, **extra}, format="json")


def emailed_code(to: str) -> str:
    [message] = [m for m in mail.outbox if m.to == [to]]
    match = CODE.search(message.body)
    assert match, message.body
    return match.group(1)


def verify(client: APIClient, method_id: str, code: str, **headers: Any) -> Any:
    return client.post(f"{METHODS}{method_id}/verify/", {"code": code}, format="json", **headers)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def add_email(client: APIClient, address: str = "ann.lee@example.com") -> tuple[str, str]:
    response = create(client, "email", address)
    assert response.status_code == 201, response.content
    return response.json()["id"], emailed_code(address)


# --- verification -------------------------------------------------------------------------------


def test_an_email_method_gets_a_code_that_verifies_it(responder: APIClient) -> None:
    response = create(responder, "email", "Ann.Lee@example.com", label="work")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["verified"] is False
    assert body["label"] == "work"
    assert body["user"] == str(membership_of(responder).user.pk)
    [message] = mail.outbox
    assert message.to == ["Ann.Lee@example.com"]
    assert "Acknowledge" not in message.body
    code = emailed_code("Ann.Lee@example.com")

    verified = verify(responder, body["id"], code)
    assert verified.status_code == 200, verified.content
    assert verified.json()["verified"] is True
    method = ContactMethod.all_tenants.get(pk=body["id"])
    assert method.verified_at is not None
    assert method.verification_code_hash == ""
    assert Event.all_tenants.filter(type="contact_method.verified").count() == 1
    assert verify(responder, body["id"], "000000").status_code == 200  # verified stays verified


def test_an_sms_method_gets_its_code_through_twilio(
    responder: APIClient, twilio: responses.RequestsMock
) -> None:
    received = twilio_accepts(twilio)
    response = create(responder, "sms", "+48600100200")
    assert response.status_code == 201, response.content
    [form] = received
    assert (form["To"], form["From"]) == ("+48600100200", FROM_NUMBER)
    code = CODE.search(form["Body"]).group(1)  # type: ignore[union-attr]
    assert verify(responder, response.json()["id"], code).json()["verified"] is True


@pytest.mark.parametrize("kind", ["slack", "teams", "webhook"])
def test_chat_and_webhook_methods_get_their_code_at_the_url(
    responder: APIClient, receiver: Receiver, kind: str
) -> None:
    response = create(responder, kind, receiver.url)
    assert response.status_code == 201, response.content
    [received] = receiver.received
    payload = json.loads(received.body)
    code = CODE.search(json.dumps(payload)).group(1)  # type: ignore[union-attr]
    assert verify(responder, response.json()["id"], code).json()["verified"] is True


def test_a_wrong_code_is_a_400_and_is_counted(responder: APIClient) -> None:
    method_id, code = add_email(responder)
    response = verify(responder, method_id, wrong(code))
    assert response.status_code == 400
    assert [e["attr"] for e in response.json()["errors"]] == ["code"]
    assert ContactMethod.all_tenants.get(pk=method_id).verification_attempts == 1
    # An Idempotency-Key (the handler then runs in a transaction) does not uncount it.
    verify(responder, method_id, wrong(code), HTTP_IDEMPOTENCY_KEY="try-2")
    assert ContactMethod.all_tenants.get(pk=method_id).verification_attempts == 2
    assert verify(responder, method_id, code).status_code == 200


def test_five_wrong_codes_void_the_code_until_a_new_one_is_sent(responder: APIClient) -> None:
    method_id, code = add_email(responder)
    for attempt in range(5):
        assert verify(responder, method_id, wrong(code)).status_code == 400, attempt
    assert verify(responder, method_id, code).status_code == 409
    assert ContactMethod.all_tenants.get(pk=method_id).verified_at is None

    mail.outbox.clear()
    assert responder.post(f"{METHODS}{method_id}/resend-code/").status_code == 409  # cooldown
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert responder.post(f"{METHODS}{method_id}/resend-code/").status_code == 202
        fresh = emailed_code("ann.lee@example.com")
        if fresh != code:  # the old code stopped working (1 in a million they coincide)
            assert verify(responder, method_id, code).status_code == 400
        assert verify(responder, method_id, fresh).status_code == 200


def test_codes_expire_after_30_minutes(responder: APIClient) -> None:
    method_id, code = add_email(responder)
    with time_machine.travel(timezone.now() + timedelta(minutes=30, seconds=5)):
        assert verify(responder, method_id, code).status_code == 409
    assert ContactMethod.all_tenants.get(pk=method_id).verified_at is None


def test_duplicates_are_refused(responder: APIClient) -> None:
    add_email(responder)
    assert create(responder, "email", "ann.lee@example.com").status_code == 409
    assert create(responder, "email", "ANN.LEE@example.com").status_code == 409


@pytest.mark.parametrize(
    ("kind", "target"),
    [("email", "not-an-address"), ("sms", "600100200"), ("sms", "+0600100200")],
)
def test_malformed_targets_are_refused(responder: APIClient, kind: str, target: str) -> None:
    assert create(responder, kind, target).status_code == 400
    assert not ContactMethod.all_tenants.exists()


def test_codes_on_paid_channels_count_against_the_monthly_cap(
    org: Organisation, responder: APIClient, twilio: responses.RequestsMock
) -> None:
    received = twilio_accepts(twilio)
    org.sms_monthly_cap = 1
    org.save()
    assert create(responder, "sms", "+48600100200").status_code == 201
    refused = create(responder, "sms", "+48600100201")
    assert refused.status_code == 409
    assert refused.json()["code"] == "plan_limit_exceeded"
    assert len(received) == 1
    assert ChannelUsage.objects.get(organisation=org, channel="sms").used == 1


# --- secrets ------------------------------------------------------------------------------------


def test_targets_are_encrypted_and_never_returned(
    responder: APIClient, admin: APIClient, receiver: Receiver
) -> None:
    address = "ann.lee@example.com"
    add_email(responder, address)
    slack = create(responder, "slack", receiver.url).json()
    listed = responder.get(METHODS).content.decode()
    detail = admin.get(f"{METHODS}{slack['id']}/").content.decode()
    for secret in (address, receiver.url, "/hooks"):
        assert secret not in listed
        assert secret not in detail
    hints = {m["kind"]: m["target_hint"] for m in responder.get(METHODS).json()}
    assert hints["email"] == "an…@example.com"
    assert hints["slack"] == receiver.url.split("//")[1].split("/")[0]
    assert "target" not in json.loads(listed)[0]

    with connection.cursor() as cursor:
        cursor.execute("SELECT target_ciphertext FROM notifications_contactmethod")
        stored = [row[0] for row in cursor.fetchall()]
    assert not any(address in value or receiver.url in value for value in stored)
    assert sorted(decrypt(value) for value in stored) == sorted([address, receiver.url])
    events = json.dumps(list(Event.all_tenants.values_list("payload", flat=True)))
    assert address not in events
    assert receiver.url not in events


@pytest.mark.parametrize("kind", ["slack", "teams", "webhook"])
def test_private_urls_are_refused(
    responder: APIClient, receiver: Receiver, settings: Any, kind: str
) -> None:
    settings.SSRF_ALLOWED_NETWORKS = []
    for url in (
        receiver.url,
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/hook",
        "http://[::1]/hook",
        "ftp://hooks.example.com/x",
    ):
        response = create(responder, kind, url)
        assert response.status_code == 400, url
        assert [e["attr"] for e in response.json()["errors"]] == ["target"], url
    assert not ContactMethod.all_tenants.exists()
    assert receiver.received == []


# --- who sees what ------------------------------------------------------------------------------


def test_members_see_their_own_methods_and_managers_see_all(
    org: Organisation, responder: APIClient, member_client: Any, admin: APIClient
) -> None:
    mine, _ = add_email(responder, "mine@example.com")
    other = member_client(org, Role.RESPONDER)
    theirs, theirs_code = add_email(other, "theirs@example.com")

    assert [m["id"] for m in responder.get(METHODS).json()] == [mine]
    assert responder.get(f"{METHODS}{theirs}/").status_code == 404
    assert verify(responder, theirs, theirs_code).status_code == 404
    assert responder.post(f"{METHODS}{theirs}/resend-code/").status_code == 404
    assert responder.delete(f"{METHODS}{theirs}/").status_code == 404

    assert {m["id"] for m in admin.get(METHODS).json()} == {mine, theirs}
    assert admin.get(f"{METHODS}{theirs}/").status_code == 200
    # Managers read everyone's methods but change only their own.
    assert verify(admin, theirs, theirs_code).status_code == 404
    assert admin.delete(f"{METHODS}{theirs}/").status_code == 404
    assert ContactMethod.all_tenants.get(pk=theirs).verified_at is None

    assert responder.delete(f"{METHODS}{mine}/").status_code == 204
    assert not ContactMethod.all_tenants.filter(pk=mine).exists()


def test_rules_take_only_your_own_methods(
    org: Organisation, responder: APIClient, member_client: Any
) -> None:
    other = member_client(org, Role.RESPONDER)
    theirs, _ = add_email(other, "theirs@example.com")
    response = responder.post(
        "/api/v1/orgs/xyz/notification-rules/", {"contact_methods": [theirs]}, format="json"
    )
    assert response.status_code == 404  # another member's method looks missing
    assert not NotificationRule.all_tenants.exists()


def test_unverified_methods_never_get_notifications(
    org: Organisation, responder: APIClient
) -> None:
    method_id, code = add_email(responder)
    rule = responder.post(
        "/api/v1/orgs/xyz/notification-rules/",
        {"contact_methods": [method_id], "event_types": ["incident.declared"]},
        format="json",
    )
    assert rule.status_code == 201, rule.content
    make_incident(org)
    relay.outbox_relay()
    assert not Notification.all_tenants.exists()

    assert verify(responder, method_id, code).status_code == 200
    make_incident(org)
    relay.outbox_relay()
    [notification] = Notification.all_tenants.all()
    assert str(notification.contact_method_id) == method_id


def test_members_see_their_own_notifications_and_managers_all(
    org: Organisation, responder: APIClient, viewer: APIClient, admin: APIClient
) -> None:
    for client in (responder, viewer):
        method_id, code = add_email(client, f"{membership_of(client).user.pk}@example.com")
        verify(client, method_id, code)
        client.post(
            "/api/v1/orgs/xyz/notification-rules/",
            {"contact_methods": [method_id]},
            format="json",
        )
    make_incident(org)
    relay.outbox_relay()
    mine = responder.get("/api/v1/orgs/xyz/notifications/").json()["results"]
    assert [n["recipient"] for n in mine] == [str(membership_of(responder).user.pk)]
    assert mine[0]["event_type"] == "incident.declared"
    everyone = admin.get("/api/v1/orgs/xyz/notifications/").json()["results"]
    assert len(everyone) == 2
    theirs = next(n for n in everyone if n["recipient"] != mine[0]["recipient"])
    assert responder.get(f"/api/v1/orgs/xyz/notifications/{theirs['id']}/").status_code == 404
