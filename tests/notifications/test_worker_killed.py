"""A worker process SIGKILLed in the middle of a webhook delivery loses nothing: the claimed
message is requeued once its claim expires and delivered again with the same webhook-id.

The process runs exactly what the `webhooks.deliver` task runs (`deliver_due`), against the
test database, and dies while the endpoint is still answering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications import relay, webhooks
from notifications.models import WebhookMessage
from organisations.events import Actor
from organisations.models import Organisation
from tests.factories import OrganisationFactory, make_incident
from tests.notifications.stub import Receiver


@pytest.fixture
def live_org(transactional_db: None, settings: Any) -> Organisation:
    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return OrganisationFactory(slug="killed")


def _worker_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL or "",
        SSRF_ALLOWED_NETWORKS="127.0.0.1/32",
        DJANGO_ENV="test",
    )
    return env


def test_a_worker_killed_mid_delivery_loses_nothing(
    live_org: Organisation, receiver: Receiver
) -> None:
    webhooks.webhook_endpoint_create(organisation=live_org, actor=Actor.system(), url=receiver.url)
    receiver.delay_first = 5.0  # the first request hangs long enough to kill the worker in it
    make_incident(live_org)
    relay.outbox_relay()
    code = (
        "import django; django.setup();"
        "from notifications import webhooks; webhooks.deliver_due(limit=10)"
    )
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        env={**_worker_env(), "DJANGO_SETTINGS_MODULE": "crisis_api.settings"},
        cwd=settings.BASE_DIR,
    )
    deadline = time.monotonic() + 20
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.received, "the worker never reached the endpoint"
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    message = WebhookMessage.all_tenants.get()
    assert message.status == "sending"  # claimed by the dead worker, outcome never recorded

    later = timezone.now() + timedelta(seconds=webhooks.CLAIM_SECONDS + 1)
    with time_machine.travel(later):  # the claim expires; the periodic requeue finds it
        assert webhooks.requeue_stale() == 1
        webhooks.deliver_due(limit=10)

    message.refresh_from_db()
    assert message.status == "succeeded"
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(receiver.received) == 2
    assert ids == {message.webhook_id}  # the duplicate is deduplicable by the receiver


@pytest.mark.django_db
def test_a_message_that_keeps_killing_its_worker_is_failed_not_looped(org: Organisation) -> None:
    from tests.factories import make_webhook_message

    message = make_webhook_message(org)
    WebhookMessage.all_tenants.filter(pk=message.pk).update(status="pending")
    for round_number in range(1, webhooks.MAX_LOST_CLAIMS + 1):
        _, claimed = webhooks.claim_due(limit=1)
        assert [m.pk for m in claimed] == [message.pk]  # a worker takes it … and dies
        later = timezone.now() + timedelta(seconds=webhooks.CLAIM_SECONDS + 1)
        with time_machine.travel(later):
            webhooks.requeue_stale()
        message.refresh_from_db()
        assert message.lost_claims == round_number
        expected = "failed" if round_number == webhooks.MAX_LOST_CLAIMS else "pending"
        assert message.status == expected
        WebhookMessage.all_tenants.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert webhooks.claim_due(limit=1)[1] == []
