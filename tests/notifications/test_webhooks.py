"""Outbound webhooks: Standard Webhooks signatures (checked with the reference library), the
relay's planning, delivery outcomes, the retry schedule, auto-disable, replay and the API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from incidents import services as incident_services
from notifications import relay, webhooks
from notifications.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from organisations.events import Actor
from organisations.models import Event, Organisation, Role
from tests.factories import make_incident, make_membership
from tests.notifications.stub import Receiver

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def eager_email() -> Iterator[None]:
    from crisis_api.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def endpoint_for(org: Organisation, url: str, **kw: Any) -> tuple[WebhookEndpoint, str]:
    issued = webhooks.webhook_endpoint_create(organisation=org, actor=SYSTEM, url=url, **kw)
    return issued.endpoint, issued.secret


def dispatch() -> None:
    relay.outbox_relay()


def deliver(times: int = 1) -> None:
    for _ in range(times):
        webhooks.deliver_due(limit=100)


def verify(secret: str, received: Any) -> Any:
    return Webhook(secret).verify(received.body, received.headers)


# --- signatures ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=200),
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.text(max_size=20), children, max_size=5)
        ),
        max_leaves=40,
    )
)
def test_signatures_verify_with_the_reference_library(payload: Any) -> None:
    secret = webhooks._new_secret()
    body = json.dumps({"type": "x", "timestamp": "t", "data": payload}, ensure_ascii=False)
    now = timezone.now().replace(microsecond=0)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": webhooks.sign(
            webhook_id="msg_1", timestamp=now, body=body, keys=[secret]
        ),
    }
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    for name, value in (
        ("webhook-id", "msg_2"),
        ("webhook-timestamp", str(int(now.timestamp()) - 1)),
    ):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, {**headers, name: value})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + " ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks._new_secret()).verify(body, headers)


def test_secrets_are_unique_whsec_with_32_random_bytes(org: Organisation) -> None:
    secrets = {endpoint_for(org, f"https://hooks.example.com/{i}")[1] for i in range(20)}
    assert len(secrets) == 20
    assert all(s.startswith("whsec_") for s in secrets)


# --- relay planning -----------------------------------------------------------------------------


def test_relay_plans_one_message_per_subscribed_endpoint(
    org: Organisation, other_org: Organisation
) -> None:
    everything, _ = endpoint_for(org, "https://a.example.com/")
    only_tasks, _ = endpoint_for(org, "https://b.example.com/", event_types=["task.completed"])
    foreign, _ = endpoint_for(other_org, "https://c.example.com/")
    make_incident(org)
    dispatch()
    assert set(WebhookMessage.all_tenants.values_list("endpoint_id", flat=True)) == {everything.pk}
    assert WebhookMessage.all_tenants.get().event_type == "incident.declared"
    assert not Event.all_tenants.filter(dispatched_at__isnull=True).exists()
    dispatch()  # idempotent: nothing planned twice
    assert WebhookMessage.all_tenants.count() == 1
    assert only_tasks.pk != foreign.pk


def test_drills_never_reach_customer_endpoints(org: Organisation) -> None:
    endpoint_for(org, "https://a.example.com/")
    make_incident(org, is_drill=True)
    dispatch()
    assert WebhookMessage.all_tenants.count() == 0


def test_planning_queries_do_not_grow_with_endpoints(org: Organisation) -> None:
    counts = []
    for n in (1, 20):
        for i in range(n):
            endpoint_for(org, f"https://hooks.example.com/{n}/{i}")
        dispatch()
        make_incident(org)
        with CaptureQueriesContext(connection) as captured:
            dispatch()
        counts.append(len(captured))
    assert counts[0] == counts[1]
    assert WebhookMessage.all_tenants.filter(event_type="incident.declared").count() == 1 + 21


# --- delivery -----------------------------------------------------------------------------------


def test_delivery_is_signed_and_verifiable(org: Organisation, receiver: Receiver) -> None:
    _, secret = endpoint_for(org, receiver.url)
    incident = make_incident(org)
    dispatch()
    deliver()
    [received] = receiver.received
    envelope = verify(secret, received)
    assert envelope["type"] == "incident.declared"
    assert envelope["data"]["payload"]["incident"]["id"] == str(incident.pk)
    message = WebhookMessage.all_tenants.get()
    assert received.headers["webhook-id"] == message.webhook_id
    assert message.status == "succeeded"
    assert WebhookEndpoint.all_tenants.get().success_rate == 1.0


def test_redirects_are_failures_and_not_followed(org: Organisation, receiver: Receiver) -> None:
    endpoint_for(org, receiver.url)
    receiver.answer(302, {"Location": "http://10.0.0.1/"})
    make_incident(org)
    dispatch()
    deliver()
    message = WebhookMessage.all_tenants.get()
    assert message.status == "pending"
    assert message.last_status_code == 302
    assert len(receiver.received) == 1


def test_410_disables_the_endpoint_and_tells_admins(
    org: Organisation,
    receiver: Receiver,
    eager_email: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    admin = make_membership(org, Role.ADMIN)
    endpoint_for(org, receiver.url)
    receiver.answer(410)
    make_incident(org)
    dispatch()
    with django_capture_on_commit_callbacks(execute=True):
        deliver()
    endpoint = WebhookEndpoint.all_tenants.get()
    assert endpoint.status == "disabled"
    assert "410" in endpoint.disabled_reason
    assert WebhookMessage.all_tenants.get().status == "failed"
    assert Event.all_tenants.filter(type="webhook_endpoint.disabled").exists()
    assert [m.to for m in mail.outbox] == [[admin.user.email]]
    assert "disabled" in mail.outbox[0].subject


def test_retry_after_is_honoured(org: Organisation, receiver: Receiver) -> None:
    endpoint_for(org, receiver.url)
    receiver.answer(429, {"Retry-After": "3600"})
    make_incident(org)
    dispatch()
    before = timezone.now()
    deliver()
    message = WebhookMessage.all_tenants.get()
    assert message.status == "pending"
    assert message.next_attempt_at >= before + timedelta(seconds=3600)


def test_retry_schedule_then_exhausted_with_a_stable_webhook_id(
    org: Organisation, receiver: Receiver
) -> None:
    _, secret = endpoint_for(org, receiver.url)
    for _ in range(12):
        receiver.answer(500, body=b"boom")
    make_incident(org)
    start = timezone.now()
    dispatch()
    offsets: list[float] = []
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(10):
            message = WebhookMessage.all_tenants.get()
            clock.move_to(message.next_attempt_at + timedelta(milliseconds=1))
            offsets.append((message.next_attempt_at - start).total_seconds())
            deliver()
    message = WebhookMessage.all_tenants.get()
    assert message.status == "exhausted"
    assert message.attempts == 10
    assert len(receiver.received) == 10
    expected = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    cumulative = [sum(expected[: i + 1]) for i in range(10)]
    for got, want in zip(offsets, cumulative, strict=True):
        assert abs(got - want) <= 0.1 * want + 1
    assert {r.headers["webhook-id"] for r in receiver.received} == {message.webhook_id}
    assert len({r.headers["webhook-timestamp"] for r in receiver.received}) == 10
    attempts = WebhookAttempt.all_tenants.filter(message=message).order_by("number")
    assert [a.status_code for a in attempts] == [500] * 10
    assert attempts[0].response_excerpt == "boom"
    assert secret


def test_an_endpoint_failing_for_five_days_is_disabled(
    org: Organisation, receiver: Receiver
) -> None:
    endpoint, _ = endpoint_for(org, receiver.url)
    for _ in range(3):
        receiver.answer(500)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        make_incident(org)
        dispatch()
        deliver()
        clock.move_to(start + timedelta(days=5, minutes=1))
        make_incident(org)
        dispatch()
        WebhookMessage.all_tenants.update(next_attempt_at=timezone.now())
        deliver()
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled"
    assert "failed since" in endpoint.disabled_reason


def test_a_worker_dying_mid_delivery_loses_nothing(org: Organisation, receiver: Receiver) -> None:
    endpoint_for(org, receiver.url)
    make_incident(org)
    dispatch()
    token, claimed = webhooks.claim_due(limit=10)  # the worker claims … and dies
    assert len(claimed) == 1
    assert webhooks.deliver_due() == 0  # nobody else sends it meanwhile
    with time_machine.travel(timezone.now() + timedelta(seconds=webhooks.CLAIM_SECONDS + 1)):
        assert webhooks.requeue_stale() == 1
        deliver()
    assert WebhookMessage.all_tenants.get().status == "succeeded"
    late = webhooks.record_outcome(
        message=claimed[0], token=token, outcome=webhooks.Outcome(200, "", "", 1)
    )
    assert late is False  # the dead worker's result, if it ever came, counts for nothing


def test_events_committed_while_the_broker_is_down_are_delivered_later(
    org: Organisation, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint_for(org, receiver.url)

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr("notifications.tasks.outbox_relay_task.delay", broker_down)
    for _ in range(5):
        make_incident(org)
    relay.wake_relay()  # what on_commit would do: logs, does not raise
    assert Event.all_tenants.filter(dispatched_at__isnull=True).count() >= 5
    dispatch()  # beat's relay later
    deliver()
    assert len(receiver.received) == 5


def test_rotation_sends_both_signatures_during_the_overlap(
    org: Organisation, receiver: Receiver
) -> None:
    endpoint, old = endpoint_for(org, receiver.url)
    new = webhooks.webhook_secret_rotate(endpoint=endpoint, actor=SYSTEM)
    make_incident(org)
    dispatch()
    deliver()
    received = receiver.received[0]
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    verify(old, received)
    verify(new, received)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        make_incident(org)
        dispatch()
        deliver()
        last = receiver.received[-1]
        assert len(last.headers["webhook-signature"].split(" ")) == 1
        verify(new, last)
        with pytest.raises(WebhookVerificationError):
            verify(old, last)


def test_replay_one_and_since(org: Organisation, receiver: Receiver) -> None:
    endpoint, _ = endpoint_for(org, receiver.url)
    receiver.answer(410)
    make_incident(org)
    dispatch()
    deliver()
    webhooks.webhook_endpoint_set_status(endpoint=endpoint, actor=SYSTEM, status="active")
    message = WebhookMessage.all_tenants.get()
    webhooks.webhook_message_replay(message=message, actor=SYSTEM)
    deliver()
    assert WebhookMessage.all_tenants.get().status == "succeeded"
    assert len(receiver.received) == 2
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    WebhookMessage.all_tenants.update(status="exhausted")
    since = timezone.now() - timedelta(hours=1)
    assert webhooks.webhook_replay_failed(endpoint=endpoint, actor=SYSTEM, since=since) == 1


# --- API ----------------------------------------------------------------------------------------


def test_api_shows_the_secret_once(admin: APIClient, org: Organisation) -> None:
    created = admin.post(
        "/api/v1/orgs/xyz/webhooks/",
        {"url": "https://hooks.example.com/x", "event_types": ["incident.declared"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    listed = admin.get("/api/v1/orgs/xyz/webhooks/").content.decode()
    detail = admin.get(f"/api/v1/orgs/xyz/webhooks/{created.json()['id']}/").content.decode()
    assert secret not in listed
    assert secret not in detail
    assert secret[:10] in detail


def test_api_refuses_private_urls(admin: APIClient, settings: Any) -> None:
    settings.SSRF_ALLOWED_NETWORKS = []
    for url in ("http://127.0.0.1/", "http://10.1.2.3/", "http://169.254.169.254/latest"):
        response = admin.post("/api/v1/orgs/xyz/webhooks/", {"url": url}, format="json")
        assert response.status_code == 400, url


def test_api_test_event_reaches_only_that_endpoint(
    admin: APIClient, org: Organisation, receiver: Receiver
) -> None:
    target, secret = endpoint_for(org, receiver.url)
    endpoint_for(org, "https://other.example.com/")
    response = admin.post(f"/api/v1/orgs/xyz/webhooks/{target.pk}/test/")
    assert response.status_code == 202
    dispatch()
    deliver()
    assert WebhookMessage.all_tenants.count() == 1
    assert verify(secret, receiver.received[0])["type"] == "webhook.test"
    log = admin.get("/api/v1/orgs/xyz/webhook-deliveries/").json()["results"]
    assert log[0]["status"] == "succeeded"
    detail = admin.get(f"/api/v1/orgs/xyz/webhook-deliveries/{log[0]['id']}/").json()
    assert detail["log"][0]["status_code"] == 200


def test_pause_queues_and_resume_sends(
    admin: APIClient, org: Organisation, receiver: Receiver
) -> None:
    endpoint, _ = endpoint_for(org, receiver.url)
    assert (
        admin.post(f"/api/v1/orgs/xyz/webhooks/{endpoint.pk}/pause/").json()["status"] == "paused"
    )
    make_incident(org)
    dispatch()
    deliver()
    assert receiver.received == []
    admin.post(f"/api/v1/orgs/xyz/webhooks/{endpoint.pk}/resume/")
    deliver()
    assert len(receiver.received) == 1


def test_incident_events_flow_end_to_end(org: Organisation, receiver: Receiver) -> None:
    _, secret = endpoint_for(org, receiver.url)
    incident = make_incident(org)
    incident_services.incident_transition(incident=incident, action="resolve", actor=SYSTEM)
    dispatch()
    deliver()
    types = [verify(secret, r)["type"] for r in receiver.received]
    assert sorted(types) == ["incident.declared", "incident.status_changed"]
