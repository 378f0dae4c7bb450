"""Sending notifications: e-mail, Twilio SMS, Slack and Teams end to end; the retry schedule
kept in the database; the monthly caps of paid channels, also under concurrency; claim tokens
and stale claims; Twilio's signed status callback; suppression of acknowledged pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import smtplib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.test import Client
from django.utils import timezone

from crisis_api.crypto import encrypt
from notifications import delivery, relay
from notifications.escalation import escalation_advance_due, notification_acknowledge
from notifications.models import (
    ChannelUsage,
    ContactMethod,
    Delivery,
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    Notification,
    NotificationRule,
)
from notifications.rendering import read_ack_link
from organisations.events import Actor
from organisations.models import Organisation, Role, User
from tests.factories import OrganisationFactory, make_incident, make_membership
from tests.notifications.stub import Receiver
from tests.notifications.test_channels import (
    ADAPTIVE_CARD,
    AUTH_TOKEN,
    STATUS_CALLBACK,
    twilio,
    twilio_accepts,
    twilio_error,
)

__all__ = ["twilio"]
CALLBACK_PATH = "/api/v1/hooks/twilio/status/"


@pytest.fixture(autouse=True)
def _channels(settings: Any) -> None:
    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def verified_method(org: Organisation, user: User, kind: str, target: str) -> ContactMethod:
    """A contact method of `user`, verified, with `target` encrypted as the product stores it."""
    return ContactMethod.all_tenants.create(
        organisation=org,
        user=user,
        kind=kind,
        target_ciphertext=encrypt(target),
        target_hint="…",
        target_digest=hashlib.sha256(target.encode()).hexdigest(),
        verified_at=timezone.now(),
    )


def subscribe(org: Organisation, kind: str, target: str, role: str = Role.RESPONDER) -> User:
    """A member with one verified method of `kind` and a rule for every event through it."""
    user = make_membership(org, role).user
    method = verified_method(org, user, kind, target)
    NotificationRule.all_tenants.create(
        organisation=org, user=user, contact_methods=[str(method.pk)]
    )
    return user


def declare(org: Organisation) -> None:
    make_incident(org)
    relay.outbox_relay()


def deliver() -> int:
    return delivery.deliver_due()


def the_notification() -> Notification:
    return Notification.all_tenants.get()


ACK = re.compile(r"(http://\S+/api/v1/ack/([^/\s]+)/)")


def acknowledges(text: str) -> str:
    """The id of the notification the signed link in `text` acknowledges (links carry a
    timestamp, so they are compared by what they name, not character by character)."""
    match = ACK.search(text)
    assert match, text
    return read_ack_link(match.group(2))


def deliveries(notification: Notification) -> list[tuple[int, str]]:
    rows = Delivery.all_tenants.filter(notification=notification).order_by("number", "status")
    return [(d.number, d.status) for d in rows]


# --- channels end to end ------------------------------------------------------------------------


@pytest.mark.django_db
def test_email_is_sent_with_an_acknowledge_link(org: Organisation) -> None:
    subscribe(org, "email", "ann@example.com")
    declare(org)
    assert deliver() == 1
    notification = the_notification()
    [sent] = mail.outbox
    assert sent.to == ["ann@example.com"]
    assert "was declared" in sent.body
    assert "Acknowledge: http" in sent.body
    assert acknowledges(sent.body) == str(notification.pk)
    assert notification.status == "sent"
    assert notification.attempts == 1
    assert notification.sent_at is not None
    assert notification.claim_token is None
    assert deliveries(notification) == [(1, "sent")]
    assert ChannelUsage.objects.get(organisation=org, channel="email").used == 1
    assert deliver() == 0  # sent is final


@pytest.mark.django_db
def test_sms_goes_through_twilio_and_keeps_the_message_sid(
    org: Organisation, twilio: responses.RequestsMock
) -> None:
    received = twilio_accepts(twilio)
    subscribe(org, "sms", "+48600100200")
    declare(org)
    deliver()
    [form] = received
    notification = the_notification()
    assert form["To"] == "+48600100200"
    assert acknowledges(form["Body"]) == str(notification.pk)
    assert form["Body"].endswith("/")  # the link ends the text
    assert notification.status == "sent"
    assert notification.provider_message_id == form["sid"]
    [attempt] = Delivery.all_tenants.filter(notification=notification)
    assert (attempt.status, attempt.provider_message_id) == ("sent", form["sid"])
    assert ChannelUsage.objects.get(organisation=org, channel="sms").used == 1


@pytest.mark.django_db
def test_an_invalid_number_is_a_permanent_failure(
    org: Organisation, twilio: responses.RequestsMock
) -> None:
    twilio_error(twilio, 400, 21211, "The 'To' number +4860010020 is not a valid phone number.")
    subscribe(org, "sms", "+4860010020")
    declare(org)
    deliver()
    notification = the_notification()
    assert notification.status == "failed"
    assert "21211" in notification.error
    assert deliveries(notification) == [(1, "permanent")]
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert deliver() == 0
    assert len(twilio.calls) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "code"), [(500, 20500), (429, 20429)])
def test_transient_failures_follow_the_retry_schedule_then_fail(
    org: Organisation, twilio: responses.RequestsMock, status: int, code: int
) -> None:
    twilio_error(twilio, status, code, "Try again later")
    subscribe(org, "sms", "+48600100200")
    start = timezone.now()
    waits: list[float] = []
    with time_machine.travel(start, tick=False) as clock:
        declare(org)
        for _ in range(6):
            attempted = timezone.now()
            assert deliver() == 1
            notification = the_notification()
            if notification.status == "pending":
                assert deliver() == 0  # nothing is sent before its time
                waits.append((notification.next_attempt_at - attempted).total_seconds())
                clock.move_to(notification.next_attempt_at)
    notification = the_notification()
    assert notification.status == "failed"
    assert notification.attempts == 6
    assert len(twilio.calls) == 6
    for got, want in zip(waits, delivery.RETRY_SECONDS, strict=True):
        assert want * 0.9 <= got <= want * 1.1
    assert deliveries(notification) == [
        *[(n, "transient") for n in range(1, 6)],
        (6, "permanent"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("retry_after", "wait"), [("900", 900), ("86400", 3600)])
def test_retry_after_is_honoured_up_to_an_hour(
    org: Organisation, twilio: responses.RequestsMock, retry_after: str, wait: int
) -> None:
    twilio_error(twilio, 429, 20429, "Too Many Requests", headers={"Retry-After": retry_after})
    subscribe(org, "sms", "+48600100200")
    with time_machine.travel(timezone.now(), tick=False):
        declare(org)
        deliver()
        notification = the_notification()
        assert notification.status == "pending"
        assert notification.next_attempt_at == timezone.now() + timedelta(seconds=wait)


@pytest.mark.django_db
def test_slack_and_teams_receive_their_documented_shapes(
    org: Organisation, receiver: Receiver
) -> None:
    slack_user = subscribe(org, "slack", f"{receiver.url}/slack")
    teams_user = subscribe(org, "teams", f"{receiver.url}/teams")
    declare(org)
    assert deliver() == 2
    by_path = {r.path: json.loads(r.body) for r in receiver.received}

    slack = by_path["/hooks/slack"]
    slack_page = Notification.all_tenants.get(recipient=slack_user)
    assert slack["text"].startswith("INC-")  # the subject, the fallback for notifications
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "section", "actions"]
    assert slack["blocks"][0]["text"]["type"] == "plain_text"
    assert acknowledges(slack["blocks"][3]["elements"][0]["url"]) == str(slack_page.pk)

    teams = by_path["/hooks/teams"]
    teams_page = Notification.all_tenants.get(recipient=teams_user)
    assert teams["type"] == "message"
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD
    assert attachment["content"]["type"] == "AdaptiveCard"
    assert acknowledges(attachment["content"]["actions"][0]["url"]) == str(teams_page.pk)

    assert set(Notification.all_tenants.values_list("status", flat=True)) == {"sent"}
    assert not ChannelUsage.objects.exists()  # chat is not a paid channel


# --- caps ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["email", "sms"])
def test_the_monthly_cap_of_paid_channels_is_enforced(
    org: Organisation, twilio: responses.RequestsMock, kind: str
) -> None:
    texts = twilio_accepts(twilio)
    setattr(org, f"{kind}_monthly_cap", 2)
    org.save()
    for n in range(3):
        subscribe(org, kind, f"member{n}@example.com" if kind == "email" else f"+4860010020{n}")
    declare(org)
    deliver()
    statuses = sorted(Notification.all_tenants.values_list("status", flat=True))
    assert statuses == ["failed", "sent", "sent"]
    assert Notification.all_tenants.get(status="failed").error == "plan cap reached this month"
    assert len(mail.outbox) + len(texts) == 2
    assert ChannelUsage.objects.get(organisation=org, channel=kind).used == 2


@pytest.mark.django_db
def test_caps_count_per_month_and_organisation(org: Organisation, other_org: Organisation) -> None:
    org.sms_monthly_cap = 1
    org.save()
    january = datetime(2025, 1, 31, 23, 0, tzinfo=UTC)
    february = january + timedelta(hours=2)
    consume = delivery.usage_consume
    assert consume(organisation=org, channel="sms", now=january) is True
    assert consume(organisation=org, channel="sms", now=january) is False
    assert consume(organisation=org, channel="sms", now=february) is True
    assert consume(organisation=other_org, channel="sms", now=january) is True
    assert ChannelUsage.objects.get(organisation=org, period="2025-01").used == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_never_exceed_the_cap() -> None:
    org = OrganisationFactory(sms_monthly_cap=7)
    now = timezone.now()
    threads = 24
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            taken = delivery.usage_consume(organisation=org, channel="sms", now=now)
            with lock:
                results.append(taken)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    assert results.count(True) == 7
    assert results.count(False) == threads - 7
    assert ChannelUsage.objects.get(organisation=org, channel="sms").used == 7


# --- claims -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_stale_workers_result_is_ignored(
    org: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker A stalls mid-send past its claim; the claim is requeued and worker B sends. When
    A finally returns (with a failure), its result must not touch B's outcome."""
    subscribe(org, "email", "ann@example.com")
    declare(org)
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []
    real_send = EmailBackend.send_messages

    def send_messages(backend: Any, messages: Any) -> int:
        calls.append("A" if not calls else "B")
        if calls[-1] == "A":
            entered.set()
            release.wait(10)
            raise smtplib.SMTPServerDisconnected("worker A's connection died")
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", send_messages)

    def worker_a() -> None:
        try:
            deliver()
        finally:
            connection.close()

    stalled = threading.Thread(target=worker_a)
    stalled.start()
    try:
        assert entered.wait(10)
        assert deliver() == 0  # claimed by A: nobody else takes it meanwhile
        with time_machine.travel(timezone.now() + timedelta(seconds=delivery.CLAIM_SECONDS + 1)):
            assert delivery.requeue_stale() == 1
            assert deliver() == 1  # worker B
    finally:
        release.set()
        stalled.join(10)
    notification = the_notification()
    assert calls == ["A", "B"]
    assert (notification.status, notification.attempts) == ("sent", 1)
    assert notification.error == ""
    assert deliveries(notification) == [(1, "sent")]


@pytest.mark.django_db
def test_requeue_stale_puts_only_expired_claims_back(org: Organisation) -> None:
    for n in range(2):
        subscribe(org, "email", f"member{n}@example.com")
    declare(org)
    _, claimed = delivery.claim_due(limit=1)
    assert len(claimed) == 1
    assert delivery.requeue_stale() == 0  # the claim is fresh
    deliver()  # the other one is sent meanwhile
    with time_machine.travel(timezone.now() + timedelta(seconds=delivery.CLAIM_SECONDS + 1)):
        assert delivery.requeue_stale() == 1
        stuck = Notification.all_tenants.get(pk=claimed[0].pk)
        assert (stuck.status, stuck.claim_token) == ("pending", None)
        assert deliver() == 1
    assert sorted(Notification.all_tenants.values_list("status", flat=True)) == ["sent", "sent"]
    assert len(mail.outbox) == 2


# --- Twilio status callback ---------------------------------------------------------------------


def twilio_signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """As Twilio documents it: the full URL, then each POST parameter's name and value in
    name order, HMAC-SHA1 with the auth token, base64."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_the_signature_helper_matches_twilios_published_example() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature(url, params, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def status_callback(sid: str, status: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0123456789abcdef" * 2,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": "+48600100200",
    }


def post_callback(params: dict[str, str], signature: str) -> Any:
    return Client().post(
        CALLBACK_PATH,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


@pytest.fixture
def sent_sms(org: Organisation, twilio: responses.RequestsMock) -> Notification:
    twilio_accepts(twilio)
    subscribe(org, "sms", "+48600100200")
    declare(org)
    deliver()
    return the_notification()


@pytest.mark.django_db
def test_a_signed_delivered_callback_marks_the_sms_delivered(sent_sms: Notification) -> None:
    params = status_callback(sent_sms.provider_message_id, "delivered")
    response = post_callback(params, twilio_signature(STATUS_CALLBACK, params))
    assert response.status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == "delivered"
    assert sent_sms.delivered_at is not None
    assert deliveries(sent_sms) == [(1, "delivered"), (1, "sent")]


@pytest.mark.django_db
def test_undelivered_callbacks_mark_the_sms_failed(sent_sms: Notification) -> None:
    params = {**status_callback(sent_sms.provider_message_id, "undelivered"), "ErrorCode": "30003"}
    assert post_callback(params, twilio_signature(STATUS_CALLBACK, params)).status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == "failed"
    assert "undelivered" in sent_sms.error


@pytest.mark.django_db
def test_intermediate_statuses_change_nothing(sent_sms: Notification) -> None:
    params = status_callback(sent_sms.provider_message_id, "sent")
    assert post_callback(params, twilio_signature(STATUS_CALLBACK, params)).status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == "sent"


@pytest.mark.django_db
def test_an_invalid_signature_is_refused(sent_sms: Notification) -> None:
    params = status_callback(sent_sms.provider_message_id, "delivered")
    forged = {
        "missing": "",
        "other token": twilio_signature(STATUS_CALLBACK, params, token="not-the-token"),
        "other url": twilio_signature("https://evil.example.com/", params),
        "other params": twilio_signature(STATUS_CALLBACK, {**params, "MessageStatus": "failed"}),
    }
    for why, signature in forged.items():
        assert post_callback(params, signature).status_code == 403, why
    genuine = twilio_signature(STATUS_CALLBACK, params)
    for tampered in (
        {**params, "MessageStatus": "failed"},
        {**params, "MessageSid": "SM" + "f" * 32},
        {**params, "ErrorCode": "30003"},
    ):
        assert post_callback(tampered, genuine).status_code == 403, tampered
    sent_sms.refresh_from_db()
    assert sent_sms.status == "sent"
    assert Client().get(CALLBACK_PATH).status_code == 405


@pytest.mark.django_db
def test_a_callback_naming_no_message_matches_nothing(
    sent_sms: Notification, org: Organisation
) -> None:
    subscribe(org, "email", "ann@example.com")  # e-mails have no provider id here
    declare(org)
    deliver()
    params = status_callback("", "failed")
    assert post_callback(params, twilio_signature(STATUS_CALLBACK, params)).status_code == 204
    assert not Notification.all_tenants.filter(status="failed").exists()


# --- suppression --------------------------------------------------------------------------------


def page_owner(org: Organisation) -> tuple[User, Notification]:
    owner = subscribe(org, "email", "owner@example.com", role=Role.OWNER)
    NotificationRule.all_tenants.update(is_active=False)  # only the escalation pages
    policy = EscalationPolicy.all_tenants.create(organisation=org, name="Pager")
    EscalationLevel.all_tenants.create(
        organisation=org, policy=policy, position=0, organisation_roles=["owner"]
    )
    declare(org)
    escalation_advance_due()
    return owner, Notification.all_tenants.get(escalation__isnull=False)


@pytest.mark.django_db
def test_pages_of_an_acknowledged_escalation_are_suppressed_at_send_time(
    org: Organisation,
) -> None:
    owner, page = page_owner(org)
    _, claimed = delivery.claim_due(limit=10)  # a worker holds the page … and dies
    assert {n.pk for n in claimed} == {page.pk}
    notification_acknowledge(notification=page, user=owner, actor=Actor.of_user(owner))
    assert Escalation.all_tenants.get().status == "acknowledged"
    with time_machine.travel(timezone.now() + timedelta(seconds=delivery.CLAIM_SECONDS + 1)):
        delivery.requeue_stale()
        deliver()
    page.refresh_from_db()
    assert page.status == "suppressed"
    assert mail.outbox == []
    assert not Delivery.all_tenants.exists()


@pytest.mark.django_db
def test_pages_of_a_cancelled_escalation_are_suppressed_at_send_time(org: Organisation) -> None:
    _, page = page_owner(org)
    Escalation.all_tenants.update(status="cancelled")  # the incident was resolved meanwhile
    deliver()
    page.refresh_from_db()
    assert page.status == "suppressed"
    assert mail.outbox == []
