"""Two evaluations of one rule at once (the ingest hook and the minute sweep, say): one signal,
one incident. Real transactions on PostgreSQL, each evaluation in its own thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from incidents.models import Incident
from monitoring.models import DetectionRule, Signal
from monitoring.services.detection import rule_evaluate
from organisations.models import Event, Organisation
from tests.factories import severity_of
from tests.monitoring_detect.helpers import add_mentions, make_rule


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("racers", [2, 4])
def test_racing_evaluations_declare_one_incident(
    org: Organisation, racers: int, unscoped: None
) -> None:
    rule = make_rule(
        org,
        method=DetectionRule.Method.RATIO,
        threshold=3.0,
        min_volume=10,
        action=DetectionRule.Action.AUTO_DECLARE,
        crisis_type=org.crisistype_set.first(),
        severity=severity_of(org),
    )
    add_mentions(org, 40, at=timezone.now())
    barrier = threading.Barrier(racers)
    results: list[Any] = []

    def evaluate() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(rule_evaluate(rule_id=rule.pk))
        except Exception as exc:  # surfaced by the assertion below
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluate) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == racers
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len([r for r in results if r is not None]) == 1
    assert Signal.all_tenants.count() == 1
    assert Incident.all_tenants.count() == 1
    declared = Event.all_tenants.filter(organisation=org, type="incident.declared").count()
    assert declared == 1
