"""The fan-out path at scale: plain-value bulk inserts, every recipient's first contact method
sent first, constant queries per delivery batch, one kept e-mail connection per thread."""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import IntegrityError, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crisis_api.bulk import insert_columns
from notifications import channels, delivery, relay
from notifications.channels import EmailSender, Message, TransientError
from notifications.models import ContactMethod, Delivery, Notification, NotificationRule
from organisations.models import Event, Organisation, Role, User
from tests.factories import make_incident, make_membership
from tests.notifications.test_delivery import verified_method

MESSAGE = Message(subject="INC-1 SEV1", text="Declared.", short="x", link="https://a/ack/")


@pytest.fixture(autouse=True)
def _channels(settings: Any) -> None:
    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def member_with(org: Organisation, kinds: list[str], url: str = "") -> User:
    """A member whose one rule lists one verified method per kind, in that order."""
    user = make_membership(org, Role.RESPONDER).user

    def target(kind: str) -> str:
        return f"{user.pk}@example.com" if kind == "email" else f"{url}/{kind}/{user.pk}"

    methods = [verified_method(org, user, kind, target(kind)) for kind in kinds]
    NotificationRule.all_tenants.create(
        organisation=org, user=user, contact_methods=[str(m.pk) for m in methods]
    )
    return user


def declare(org: Organisation) -> None:
    make_incident(org)
    relay.outbox_relay()


# --- insert_columns -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_insert_columns_fills_defaults_and_skips_conflicts(org: Organisation) -> None:
    user = member_with(org, ["email"])
    method = ContactMethod.all_tenants.get(user=user)
    make_incident(org)
    event = Event.all_tenants.get(type="incident.declared")
    at = timezone.now()
    columns: dict[str, list[Any]] = {
        "organisation_id": [org.pk],
        "event_id": [event.pk],
        "recipient_id": [user.pk],
        "contact_method_id": [method.pk],
        "channel": ["email"],
        "next_attempt_at": [at],
        "position": [3],
    }
    assert insert_columns(Notification, columns, ignore_conflicts=True) == 1
    assert insert_columns(Notification, columns, ignore_conflicts=True) == 0  # unique per event…
    row = Notification.all_tenants.get()
    assert (row.status, row.attempts, row.step, row.position) == ("pending", 0, "rule", 3)
    assert (row.next_attempt_at, row.incident_id, row.error, row.claim_token) == (
        at,
        None,
        "",
        None,
    )
    assert row.created_at is not None
    assert isinstance(row.pk, uuid.UUID)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_columns(Notification, columns)  # … and a conflict is an error unless ignored


@pytest.mark.django_db
def test_insert_columns_refuses_ragged_or_unknown_columns() -> None:
    assert insert_columns(Notification, {"channel": []}) == 0
    with pytest.raises(ValueError, match="different lengths"):
        insert_columns(Notification, {"channel": ["email"], "position": [1, 2]})
    with pytest.raises(ValueError, match="no fields"):
        insert_columns(Notification, {"chanel": ["email"]})


# --- order and queries --------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_recipients_first_method_is_claimed_before_any_second(
    org: Organisation, receiver: Any
) -> None:
    users = [member_with(org, ["slack", "teams", "webhook"], receiver.url) for _ in range(4)]
    declare(org)
    positions = dict(
        Notification.all_tenants.values_list("contact_method__kind", "position").distinct()
    )
    assert positions == {"slack": 0, "teams": 1, "webhook": 2}
    _, first = delivery.claim_due(limit=4)
    assert sorted(n.recipient_id for n in first) == sorted(u.pk for u in users)
    assert {n.channel for n in first} == {"slack"}
    _, second = delivery.claim_due(limit=4)
    assert {n.channel for n in second} == {"teams"}


@pytest.mark.django_db
@pytest.mark.parametrize("claim", ["_claim_returning", "_claim_portable"])
def test_both_claims_take_the_same_page_with_its_targets(
    org: Organisation, receiver: Any, claim: str
) -> None:
    """PostgreSQL claims with one UPDATE … RETURNING; other databases (SQLite in development)
    with the ORM: the same rows, in the same order, each with its encrypted target."""
    users = [member_with(org, ["slack", "teams"], receiver.url) for _ in range(3)]
    declare(org)
    token, now = uuid.uuid4(), timezone.now()
    until = now + timedelta(seconds=delivery.CLAIM_SECONDS)
    claimed = getattr(delivery, claim)(now=now, limit=4, token=token, until=until)
    assert len(claimed) == 4
    assert {n.recipient_id for n in claimed if n.channel == "slack"} == {u.pk for u in users}
    targets = dict(ContactMethod.all_tenants.values_list("pk", "target_ciphertext"))
    for notification in claimed:
        assert delivery._ciphertext(notification) == targets[notification.contact_method_id]
    rows = Notification.all_tenants.filter(claim_token=token)
    assert rows.count() == 4
    assert set(rows.values_list("status", flat=True)) == {"sending"}
    assert Notification.all_tenants.filter(status="pending").count() == 2


@pytest.mark.django_db
def test_a_delivery_batch_costs_the_same_queries_whatever_its_size(
    org: Organisation, receiver: Any
) -> None:
    def batch_queries(members: int) -> int:
        Notification.all_tenants.all().delete()
        NotificationRule.all_tenants.all().delete()
        for _ in range(members):
            member_with(org, ["email", "slack"], receiver.url)
        declare(org)
        with CaptureQueriesContext(transaction.get_connection()) as queries:
            assert delivery.deliver_due(limit=500) == 2 * members
        assert Notification.all_tenants.filter(status="sent").count() == 2 * members
        return len(queries)

    batch_queries(1)  # the month's e-mail usage row is created once
    assert batch_queries(3) == batch_queries(30)
    assert Delivery.all_tenants.filter(status="sent").count() == 60


# --- the kept e-mail connection -----------------------------------------------------------------


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EmailBackend]]:
    """Every locmem connection opened, in order; this thread starts without a kept one."""
    channels._drop_mail_connection()
    opens: list[EmailBackend] = []
    real_open = EmailBackend.open

    def open_(backend: EmailBackend) -> Any:
        opens.append(backend)
        return real_open(backend)

    monkeypatch.setattr(EmailBackend, "open", open_)
    yield opens
    channels._drop_mail_connection()


def test_a_thread_reuses_one_email_connection_while_busy(opened: list[EmailBackend]) -> None:
    for n in range(3):
        EmailSender().send(f"r{n}@example.com", MESSAGE)
    assert len(opened) == 1
    assert [m.to for m in mail.outbox] == [[f"r{n}@example.com"] for n in range(3)]
    channels._local.mail.used -= channels.MAIL_IDLE_SECONDS + 1  # idle too long: a new one
    EmailSender().send("r3@example.com", MESSAGE)
    assert len(opened) == 2


def test_a_failed_send_drops_the_kept_connection(
    opened: list[EmailBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    EmailSender().send("r0@example.com", MESSAGE)
    closed: list[EmailBackend] = []
    monkeypatch.setattr(EmailBackend, "close", lambda backend: closed.append(backend))
    real_send = EmailBackend.send_messages
    calls: list[int] = []

    def flaky(backend: EmailBackend, messages: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("the server hung up")
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", flaky)
    with pytest.raises(TransientError):
        EmailSender().send("r1@example.com", MESSAGE)
    assert closed == [opened[0]]
    EmailSender().send("r2@example.com", MESSAGE)
    assert len(opened) == 2  # the next message opened a new one
    assert [m.to for m in mail.outbox] == [["r0@example.com"], ["r2@example.com"]]


def test_changed_email_settings_open_a_new_connection(
    opened: list[EmailBackend], settings: Any
) -> None:
    EmailSender().send("r0@example.com", MESSAGE)
    settings.EMAIL_HOST = "smtp.elsewhere.example.com"
    EmailSender().send("r1@example.com", MESSAGE)
    assert len(opened) == 2
