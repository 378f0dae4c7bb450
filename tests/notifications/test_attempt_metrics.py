"""Delivery attempts are counted for /metrics by channel and outcome, once their record commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from notifications import delivery, relay, webhooks
from organisations.events import Actor
from organisations.models import Organisation
from tests.factories import make_incident
from tests.notifications.stub import Receiver
from tests.notifications.test_delivery import declare, subscribe

pytestmark = pytest.mark.django_db


def attempts(channel: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "crisis_delivery_attempts_total", {"channel": channel, "status": status}
    )
    return value or 0.0


def test_webhook_attempts_are_counted_by_outcome_after_commit(
    org: Organisation,
    receiver: Receiver,
    settings: Any,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    webhooks.webhook_endpoint_create(organisation=org, actor=Actor.system("t"), url=receiver.url)
    make_incident(org)
    relay.outbox_relay()
    before = attempts("webhook_endpoint", "failed"), attempts("webhook_endpoint", "succeeded")
    receiver.answer(500)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.deliver_due(limit=10)
    assert attempts("webhook_endpoint", "failed") == before[0] + 1
    assert attempts("webhook_endpoint", "succeeded") == before[1]


def test_notification_attempts_are_counted_by_channel_after_commit(
    org: Organisation, settings: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    subscribe(org, "email", "ann@example.com")
    declare(org)
    before = attempts("email", "sent")
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.deliver_due() == 1
    assert attempts("email", "sent") == before + 1
