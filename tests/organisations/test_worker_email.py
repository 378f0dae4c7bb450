"""Account e-mail goes through a real Celery worker on the Redis broker, after commit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction

from crisis_api.celery import app
from organisations import services
from organisations.events import Actor
from organisations.models import Organisation, Role
from tests.factories import OrganisationFactory


@pytest.fixture
def worker(transactional_db: None) -> Iterator[None]:
    assert app.conf.broker_url.startswith("redis://"), "tests run against the Redis broker"
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


@pytest.fixture
def live_org(transactional_db: None) -> Organisation:
    return OrganisationFactory(slug="worker-org")


def wait_for_mail(count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_invitation_mail_is_sent_by_a_worker_after_commit(
    live_org: Organisation, worker: None
) -> None:
    issued = services.invitation_create(
        organisation=live_org,
        email="new.person@example.test",
        role=Role.RESPONDER,
        actor=Actor.system(),
        actor_role=Role.OWNER,
    )
    wait_for_mail(1)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.test"]
    assert issued.token in message.body
    assert live_org.name in message.subject


def test_nothing_is_queued_when_the_change_rolls_back(live_org: Organisation, worker: None) -> None:
    def invite_then_fail() -> None:
        with transaction.atomic():
            services.invitation_create(
                organisation=live_org,
                email="ghost@example.test",
                role=Role.RESPONDER,
                actor=Actor.system(),
                actor_role=Role.OWNER,
            )
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        invite_then_fail()
    time.sleep(1)
    assert mail.outbox == []
