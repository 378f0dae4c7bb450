"""The demo wave goes through the real push pipeline and, replayed, declares an incident."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from incidents.models import Incident
from monitoring.demo.replay import demo_replay, demo_setup, wave
from monitoring.models import Case, Mention, Signal, Source
from monitoring.services.detection import rules_evaluate
from monitoring.tasks_detection import after_ingest_task
from organisations.models import Organisation

pytestmark = pytest.mark.django_db


def test_the_wave_replays_once_and_a_spike_declares_an_incident(
    org: Organisation, unscoped: None
) -> None:
    source, scheduled = demo_setup(organisation=org, delay_seconds=10)
    assert scheduled
    history = [p for p in wave() if p.offset_seconds < 0]
    assert Mention.all_tenants.filter(source=source).count() == len(history)
    assert demo_replay() == 0  # not started yet
    start = timezone.now() + timedelta(seconds=10)
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        first = demo_replay()
        assert 0 < first < len(wave()) - len(history)
        assert demo_replay() == 0  # the same tick again pushes nothing
        after_ingest_task(
            str(org.pk), [str(pk) for pk in Mention.all_tenants.values_list("pk", flat=True)]
        )
    with time_machine.travel(start + timedelta(seconds=120), tick=False):
        rest = demo_replay()
        rules_evaluate(organisation_id=org.pk)
    assert first + rest + len(history) == len(wave()) == Mention.all_tenants.count()
    incident = Incident.all_tenants.get()
    assert (incident.source, incident.status, incident.crisis_type.slug) == (
        "signal",
        "active",
        "service-outage",
    )
    names = set(Signal.all_tenants.values_list("rule_name", flat=True))
    assert {"Negative spike", "Alarm words"} <= names
    assert Case.all_tenants.filter(mention_count__gte=2).exists()  # repeat complainants
    assert {"en", "pl"} <= set(Mention.all_tenants.values_list("language", flat=True))
    source.refresh_from_db()
    assert source.cursor["sent"] == len(wave())


def test_demo_wave_command_is_idempotent_and_restarts_on_request(
    org: Organisation, unscoped: None
) -> None:
    call_command("demo_wave", "--org", org.slug)
    run = Source.all_tenants.get().cursor["demo_replay"]
    call_command("demo_wave", "--org", org.slug)
    assert Source.all_tenants.get().cursor["demo_replay"] == run
    call_command("demo_wave", "--org", org.slug, "--restart")
    assert Source.all_tenants.get().cursor["demo_replay"] != run
    assert Source.all_tenants.count() == 1
