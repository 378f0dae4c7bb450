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


@pytest.mark.django_db(transaction=True)
def test_two_batches_of_one_author_at_once_open_one_case(org: Organisation, unscoped: None) -> None:
    from monitoring.models import Case, Mention
    from monitoring.services.cases import cases_group

    batches = [add_mentions(org, 3, at=timezone.now(), author_id="42") for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def group(batch: list[Mention]) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(cases_group(organisation_id=org.pk, mention_ids=[m.pk for m in batch]))
        except Exception as exc:  # surfaced by the assertion below
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=group, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [0, 1], results
    case = Case.all_tenants.get()
    assert case.mention_count == 6
    assert Mention.all_tenants.filter(case=case).count() == 6
    assert Event.all_tenants.filter(organisation=org, type="case.created").count() == 1
