"""/metrics: request and task counters, state read at scrape time, access, valid exposition."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from crisis_api.celery import app
from notifications.models import Notification
from organisations.models import Organisation
from tests.factories import make_event, make_notification
from tests.problems import assert_problem


def scrape(
    client: Client | None = None, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    families = list(text_string_to_metric_families(text))
    names = [family.name for family in families]
    assert len(names) == len(set(names)), "every metric family appears once"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db
def test_requests_are_counted_by_route_pattern_and_status() -> None:
    before = value(
        scrape(), "crisis_http_requests_total", method="GET", route="^healthz$", status="200"
    )
    client = Client()
    client.get("/healthz")
    client.get("/healthz")
    client.get("/api/v1/orgs/no-such-org/incidents/")
    samples = scrape()
    after = value(
        samples, "crisis_http_requests_total", method="GET", route="^healthz$", status="200"
    )
    assert after == before + 2
    # Routes are patterns, never the ids or slugs of a request.
    routes = {
        dict(labels).get("route", "")
        for (name, labels) in samples
        if name.startswith("crisis_http")
    }
    assert not any("no-such-org" in route for route in routes)
    assert (
        value(
            samples, "crisis_http_request_duration_seconds_count", method="GET", route="^healthz$"
        )
        >= 2
    )


@pytest.mark.django_db
def test_overdue_notifications_and_outbox_lag_are_exposed(org: Organisation) -> None:
    with time_machine.travel(timezone.now() - timedelta(hours=1)):
        stuck = make_notification(org)  # pending, due an hour ago, and its event never relayed
        scheduled = make_notification(org)
    Notification.all_tenants.filter(pk=scheduled.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=30)  # a retry that waits its turn
    )
    samples = scrape()
    assert value(samples, "crisis_delivery_audit_overdue", kind="notification") == 1
    assert (
        value(samples, "crisis_notifications_in_flight", channel=stuck.channel, status="pending")
        == 2
    )
    assert value(samples, "crisis_outbox_lag_seconds") >= 3500
    assert value(samples, "crisis_outbox_undispatched_events") >= 2
    assert value(samples, "crisis_metrics_source_failed", source="deliveries") == 0


@pytest.mark.django_db
def test_queue_depth_counts_waiting_messages() -> None:
    app.control.purge()
    before = value(scrape(), "crisis_celery_queue_depth", queue="detect")
    app.send_task("detection.nothing", queue="detect")
    try:
        assert value(scrape(), "crisis_celery_queue_depth", queue="detect") == before + 1
    finally:
        app.control.purge()


@pytest.mark.django_db
def test_a_failing_source_costs_only_its_own_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("broker down")

    monkeypatch.setattr(app, "connection_for_read", broken)
    samples = scrape()
    assert value(samples, "crisis_metrics_source_failed", source="queue_depths") == 1
    assert ("crisis_outbox_lag_seconds", ()) in samples


@pytest.mark.django_db
@override_settings(METRICS_TOKEN="metrics-secret-token")
def test_a_configured_token_is_required() -> None:
    client = APIClient()
    body = assert_problem(client.get("/metrics"), 401, "not_authenticated")
    assert "token" in body["detail"]
    assert_problem(client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong"), 401)
    scrape(HTTP_AUTHORIZATION="Bearer metrics-secret-token")


@pytest.mark.django_db
@override_settings(METRICS_TOKEN="", PRODUCTION=True)
def test_production_without_a_token_exposes_nothing() -> None:
    assert_problem(APIClient().get("/metrics"), 404)


@pytest.mark.django_db
def test_readyz_is_degraded_when_the_outbox_lags(org: Organisation) -> None:
    response = Client().get("/readyz")
    assert response.json()["checks"]["outbox"]["ok"] is True
    with time_machine.travel(timezone.now() - timedelta(minutes=10)):
        make_event(org)
    response = Client().get("/readyz")
    assert response.status_code == 200  # the web tier still serves; the workers are behind
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["outbox"]["ok"] is False
    assert body["checks"]["outbox"]["lag_seconds"] >= 590


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
def test_probes_answer_get_only_with_a_problem(path: str) -> None:
    response = APIClient().post(path)
    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
