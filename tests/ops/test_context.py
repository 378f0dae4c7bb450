"""Structured logs carry the request id, organisation and actor, also in Celery tasks that a
request queued; the delivery audit reports what is overdue and nothing else."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from rest_framework.test import APIClient

from crisis_api.celery import app
from crisis_api.context import context_scope, context_snapshot
from crisis_api.ops.logs import JsonFormatter
from notifications.audit import delivery_audit_get, delivery_audit_task
from notifications.models import Notification, WebhookMessage
from organisations.models import Organisation
from organisations.views import MembershipViewSet
from tests.factories import make_notification, make_webhook_message

seen_in_task: list[dict[str, str]] = []
task_ran = threading.Event()


@app.task(name="tests.ops.remember_context")
def remember_context() -> None:
    seen_in_task.append(context_snapshot())
    task_ran.set()


class Collect(logging.Handler):
    """Formats at emit time, as the console handler does, while the context is live."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def collected() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def test_json_lines_carry_the_context_and_extra_fields(collected: Collect) -> None:
    with context_scope({"request_id": "req-12345678", "organisation": "xyz", "actor": "user:7"}):
        logging.getLogger("crisis.test").warning("hello %s", "world", extra={"attempt": 3})
    logging.getLogger("crisis.test").warning("outside")
    inside, outside = collected.lines[-2:]
    assert inside["message"] == "hello world"
    assert inside["level"] == "WARNING"
    assert (inside["request_id"], inside["organisation"], inside["actor"]) == (
        "req-12345678",
        "xyz",
        "user:7",
    )
    assert inside["attempt"] == 3
    assert "request_id" not in outside
    assert "organisation" not in outside


def test_a_tenant_request_binds_its_organisation_and_actor(
    org: Organisation,
    member_client: Callable[..., APIClient],
    collected: Collect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = member_client(org, "admin")
    original = MembershipViewSet.list

    def list_and_log(self: MembershipViewSet, request: Any, *args: Any, **kwargs: Any) -> Any:
        logging.getLogger("crisis.test").info("listing members")
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(MembershipViewSet, "list", list_and_log)
    logging.getLogger("crisis.test").setLevel(logging.INFO)
    response = client.get(f"/api/v1/orgs/{org.slug}/members/", HTTP_X_REQUEST_ID="trace-abcdef12")
    assert response.status_code == 200
    line = next(line for line in collected.lines if line["message"] == "listing members")
    assert line["request_id"] == "trace-abcdef12"
    assert line["organisation"] == org.slug
    assert line["actor"] == f"user:{client.user.pk}"  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_a_task_runs_with_the_context_of_the_request_that_queued_it() -> None:
    seen_in_task.clear()
    task_ran.clear()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        with context_scope(
            {"request_id": "req-from-web-1", "organisation": "xyz", "actor": "user:9"}
        ):
            remember_context.delay()
        assert task_ran.wait(15)
    assert seen_in_task == [
        {"request_id": "req-from-web-1", "organisation": "xyz", "actor": "user:9"}
    ]
    assert context_snapshot() == {}


@pytest.mark.django_db
def test_the_audit_reports_overdue_rows_only(
    org: Organisation, caplog: pytest.LogCaptureFixture
) -> None:
    with time_machine.travel(timezone.now() - timedelta(hours=1)):
        pending = make_notification(org)
        sending = make_notification(org)
        retry_later = make_notification(org)
        sent = make_notification(org)
        message = make_webhook_message(org)
    now = timezone.now()
    Notification.all_tenants.filter(pk=sending.pk).update(
        status="sending", claimed_until=now - timedelta(minutes=20)
    )
    Notification.all_tenants.filter(pk=retry_later.pk).update(
        next_attempt_at=now + timedelta(minutes=30)
    )
    Notification.all_tenants.filter(pk=sent.pk).update(status="sent", sent_at=now)
    WebhookMessage.all_tenants.filter(pk=message.pk).update(status="succeeded")
    fresh = make_notification(org)  # due now: within the grace period

    audit = delivery_audit_get()
    assert (audit.stuck_notifications, audit.stuck_webhook_messages) == (2, 0)
    assert set(audit.samples) == {str(pending.pk), str(sending.pk)}
    assert str(fresh.pk) not in audit.samples

    with caplog.at_level(logging.ERROR, logger="notifications.audit"):
        assert delivery_audit_task() == 2
    assert "2 notifications and 0 webhook messages overdue" in caplog.text

    Notification.all_tenants.filter(pk__in=[pending.pk, sending.pk]).update(status="failed")
    caplog.clear()
    assert delivery_audit_task() == 0
    assert caplog.text == ""
