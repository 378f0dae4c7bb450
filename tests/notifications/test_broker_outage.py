"""Redis (the Celery broker) down while events commit, then back: every event is delivered.

Runs a private redis-server so the shared one is never disturbed, stops it while incidents are
declared (the after-commit wake-ups fail and are logged; the changes commit regardless), starts
it again, and lets a real worker — woken as beat would — relay and deliver everything."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from crisis_api.celery import app
from notifications import webhooks
from notifications.models import WebhookMessage
from notifications.tasks import outbox_relay_task
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.factories import OrganisationFactory, make_incident
from tests.notifications.stub import Receiver

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments, on PATH
            [
                REDIS_SERVER or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def broker() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    saved = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url = redis.url
    app.conf.broker_transport_options = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.1,
    }
    _reset_pools()
    yield redis
    redis.stop()
    app.conf.broker_url, app.conf.broker_transport_options = saved
    _reset_pools()


def _reset_pools() -> None:
    """Forget connections and producers bound to the previous broker URL."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def live_org(transactional_db: None, settings: Any) -> Organisation:
    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return OrganisationFactory(slug="outage")


def test_events_committed_while_redis_is_down_are_all_delivered(
    live_org: Organisation, receiver: Receiver, broker: PrivateRedis
) -> None:
    webhooks.webhook_endpoint_create(organisation=live_org, actor=Actor.system(), url=receiver.url)
    broker.stop()
    for _ in range(5):
        make_incident(live_org)  # commits; the wake-up after commit fails and is logged
    assert (
        Event.all_tenants.filter(dispatched_at__isnull=True, type="incident.declared").count() == 5
    )
    broker.start()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        outbox_relay_task.delay()  # what beat does every 10 s
        deadline = time.monotonic() + 20
        while len(receiver.received) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert len(receiver.received) == 5
    assert WebhookMessage.all_tenants.filter(status="succeeded").count() == 5
    assert not Event.all_tenants.filter(dispatched_at__isnull=True).exists()
