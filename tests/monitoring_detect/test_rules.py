"""Rules against a frozen clock: what fires, once, and what each mode and action does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import Incident
from monitoring.models import DetectionRule, IncidentMention, Signal, WatchTerm
from monitoring.services import detection
from monitoring.services.detection import RuleConfigError, rule_create, rule_evaluate
from organisations.models import Organisation
from tests.factories import make_incident, make_source, severity_of
from tests.monitoring_detect.helpers import SYSTEM, add_mentions, event_types, make_rule

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
R = DetectionRule


@pytest.fixture(params=["grouped", "portable"])
def windows_counted(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Volume rules count windows by grouping (PostgreSQL) or by FILTERed counts (SQLite)."""
    monkeypatch.setattr(detection, "GROUP_WINDOWS_IN_DATABASE", request.param == "grouped")
    return str(request.param)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def baseline(org: Organisation, per_window: list[int], window: timedelta) -> None:
    """Negative mentions per past window, oldest first, ending where the current one starts."""
    for i, count in enumerate(reversed(per_window), start=1):
        if count:
            add_mentions(org, count, at=T0 - window * i - timedelta(seconds=1), spread=window / 2)


def spike_rule(org: Organisation, **fields: object) -> DetectionRule:
    defaults: dict[str, object] = {
        "method": R.Method.RATIO,
        "threshold": 3.0,
        "window_minutes": 60,
        "baseline_minutes": 12 * 60,
        "min_volume": 10,
        "cooldown_minutes": 60,
    }
    return make_rule(org, **{**defaults, **fields})


def test_spike_fires_once_with_observed_baseline_and_sample(
    org: Organisation, clock: time_machine.Traveller, unscoped: None, windows_counted: str
) -> None:
    rule = spike_rule(org)
    baseline(org, [2] * 12, timedelta(hours=1))
    spike = add_mentions(org, 20, at=T0, spread=timedelta(minutes=30))

    signal = rule_evaluate(rule_id=rule.pk)

    assert signal is not None
    assert (signal.observed, signal.baseline, signal.score) == (20, 2, 10)
    assert signal.breakdown["baseline_windows"] == [2] * 12
    assert signal.breakdown["ratio"] == 10
    assert len(signal.sample_mention_ids) == 10
    assert set(signal.sample_mention_ids) <= {str(m.pk) for m in spike}
    assert signal.status == Signal.Status.NEW
    assert rule_evaluate(rule_id=rule.pk) is None  # same window, same cooldown
    clock.shift(timedelta(minutes=5))
    assert rule_evaluate(rule_id=rule.pk) is None
    assert Signal.all_tenants.count() == 1
    assert event_types(org, "signal.") == ["signal.created"]


def test_cooldown_passes_and_a_lasting_spike_fires_again(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    rule = spike_rule(org, cooldown_minutes=30)
    add_mentions(org, 30, at=T0, spread=timedelta(minutes=50))
    assert rule_evaluate(rule_id=rule.pk) is not None
    clock.shift(timedelta(minutes=29))
    assert rule_evaluate(rule_id=rule.pk) is None
    clock.shift(timedelta(minutes=2))
    add_mentions(org, 15, at=T0 + timedelta(minutes=31), spread=timedelta(minutes=10))
    assert rule_evaluate(rule_id=rule.pk) is not None
    assert Signal.all_tenants.filter(rule=rule).count() == 2


def test_below_minimum_volume_nothing_fires_however_steep(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    rule = spike_rule(org, min_volume=10)
    add_mentions(org, 9, at=T0)  # 9 times a quiet baseline, but only 9 posts
    assert rule_evaluate(rule_id=rule.pk) is None
    add_mentions(org, 1, at=T0)
    assert rule_evaluate(rule_id=rule.pk) is not None


def test_quiet_baseline_counts_as_one_per_window(
    org: Organisation, clock: time_machine.Traveller, unscoped: None, windows_counted: str
) -> None:
    rule = spike_rule(org, threshold=5.0, min_volume=1)
    add_mentions(org, 4, at=T0)
    assert rule_evaluate(rule_id=rule.pk) is None  # 4 after nothing is not 5 times "one"
    add_mentions(org, 1, at=T0)
    assert rule_evaluate(rule_id=rule.pk) is not None


def test_zscore_path_uses_the_spread_of_the_baseline_windows(
    org: Organisation, clock: time_machine.Traveller, unscoped: None, windows_counted: str
) -> None:
    rule = spike_rule(org, method=R.Method.ZSCORE, threshold=3.0, baseline_minutes=4 * 60)
    baseline(org, [2, 6, 2, 6], timedelta(hours=1))  # mean 4, std 2
    add_mentions(org, 9, at=T0)  # z = (9 - 4) / 2 = 2.5
    assert rule_evaluate(rule_id=rule.pk) is None
    add_mentions(org, 1, at=T0)  # z = 3
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.breakdown["baseline_mean"] == 4
    assert signal.breakdown["std"] == 2
    assert signal.breakdown["z"] == 3
    assert signal.score == 3


def test_zscore_on_a_flat_baseline_uses_poisson_noise(
    org: Organisation, clock: time_machine.Traveller, unscoped: None, windows_counted: str
) -> None:
    rule = spike_rule(org, method=R.Method.ZSCORE, threshold=3.0, baseline_minutes=4 * 60)
    baseline(org, [4, 4, 4, 4], timedelta(hours=1))  # std 0: sigma = sqrt(4) = 2
    add_mentions(org, 10, at=T0)
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.breakdown["sigma"] == 2


def test_mentions_outside_the_rules_sources_and_languages_do_not_count(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    watched, other = make_source(org), make_source(org)
    rule = spike_rule(org, languages=["pl"])
    rule.sources.set([watched])
    add_mentions(org, 20, at=T0, source=other, language="pl")
    add_mentions(org, 20, at=T0, source=watched, language="en")
    assert rule_evaluate(rule_id=rule.pk) is None
    add_mentions(org, 10, at=T0, source=watched, language="pl")
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.observed == 10


def test_negative_share_threshold(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    rule = make_rule(
        org, metric=R.Metric.NEGATIVE_SHARE, threshold=0.5, min_volume=10, window_minutes=60
    )
    add_mentions(org, 6, at=T0, label="positive")
    add_mentions(org, 5, at=T0)
    assert rule_evaluate(rule_id=rule.pk) is None  # 5 of 11
    add_mentions(org, 2, at=T0)
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.observed == pytest.approx(7 / 13)
    assert signal.breakdown["negative_in_window"] == 7


def test_alarm_keyword_fires_on_an_alarm_watch_term_or_keyword(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    term = WatchTerm.all_tenants.create(organisation=org, phrase="zatrucie", kind="alarm")
    brand = WatchTerm.all_tenants.create(organisation=org, phrase="XYZ", kind="brand")
    rule = make_rule(org, metric=R.Metric.ALARM_KEYWORD, keywords=["recall"], cooldown_minutes=5)
    hit = {"term_id": str(brand.pk), "start": 0, "end": 3, "text": "XYZ"}
    add_mentions(org, 3, at=T0, matched_terms=[hit], label="neutral")
    assert rule_evaluate(rule_id=rule.pk) is None
    alarm = {"term_id": str(term.pk), "start": 4, "end": 12, "text": "zatrucia"}
    [poisoned] = add_mentions(org, 1, at=T0, matched_terms=[hit, alarm], label="neutral")
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.sample_mention_ids == [str(poisoned.pk)]
    assert signal.breakdown["alarm_terms"] == ["zatrucie"]
    clock.shift(timedelta(minutes=6))
    add_mentions(org, 1, at=T0 + timedelta(minutes=6), text="Is there a RECALL of XYZ?")
    assert rule_evaluate(rule_id=rule.pk) is not None


def test_high_reach_negative_needs_a_big_audience_and_negativity(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    rule = make_rule(org, metric=R.Metric.HIGH_REACH_NEGATIVE, min_followers=50_000)
    add_mentions(org, 5, at=T0, author_followers=49_999)
    add_mentions(org, 1, at=T0, author_followers=900_000, label="positive")
    assert rule_evaluate(rule_id=rule.pk) is None
    [critic] = add_mentions(org, 1, at=T0, author_followers=120_000)
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.sample_mention_ids == [str(critic.pk)]


def test_monitor_mode_records_what_would_have_fired_and_does_nothing(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    rule = spike_rule(
        org,
        mode=R.Mode.MONITOR,
        action=R.Action.AUTO_DECLARE,
        crisis_type=org.crisistype_set.first(),
        severity=severity_of(org),
    )
    add_mentions(org, 30, at=T0)
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.mode == "monitor"
    assert signal.status == "new"
    assert event_types(org, "signal.") == ["signal.monitored"]
    assert not Incident.all_tenants.exists()
    assert rule_evaluate(rule_id=rule.pk) is None  # the cooldown applies to monitoring too


def test_disabled_rule_is_not_evaluated(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    rule = spike_rule(org, mode=R.Mode.DISABLED)
    add_mentions(org, 30, at=T0)
    assert rule_evaluate(rule_id=rule.pk) is None
    rule.refresh_from_db()
    assert rule.last_evaluated_at is None


def test_snoozed_signal_keeps_its_rule_quiet_until_it_wakes(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    from monitoring.services.signals import signal_snooze, signals_wake

    rule = spike_rule(org, cooldown_minutes=10)
    add_mentions(org, 30, at=T0)
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    signal_snooze(signal=signal, until=T0 + timedelta(minutes=30), actor=SYSTEM)
    clock.shift(timedelta(minutes=15))
    add_mentions(org, 30, at=T0 + timedelta(minutes=15))
    assert rule_evaluate(rule_id=rule.pk) is None
    assert signals_wake() == 0
    clock.shift(timedelta(minutes=16))
    assert signals_wake() == 1
    signal.refresh_from_db()
    assert signal.status == "new"  # back in the triage queue
    assert signals_wake() == 0
    add_mentions(org, 30, at=T0 + timedelta(minutes=31))
    assert rule_evaluate(rule_id=rule.pk) is not None
    assert event_types(org, "signal.") == [
        "signal.created",
        "signal.snoozed",
        "signal.woke",
        "signal.created",
    ]


def test_auto_declare_opens_an_incident_once_and_joins_it_later(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    crisis_type = org.crisistype_set.first()
    rule = spike_rule(
        org,
        action=R.Action.AUTO_DECLARE,
        crisis_type=crisis_type,
        severity=severity_of(org),
        cooldown_minutes=10,
    )
    add_mentions(org, 30, at=T0)
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.status == "escalated"
    incident = Incident.all_tenants.get()
    assert (incident.status, incident.source) == ("active", "signal")
    assert (incident.crisis_type, incident.severity) == (crisis_type, severity_of(org))
    assert signal.incident == incident
    linked = IncidentMention.all_tenants.filter(incident=incident, signal=signal).count()
    assert linked == len(signal.sample_mention_ids) == 10
    assert event_types(org, "signal.") == ["signal.created", "signal.escalated"]
    assert "incident.declared" in event_types(org, "incident.")

    clock.shift(timedelta(minutes=11))
    add_mentions(org, 30, at=T0 + timedelta(minutes=11))
    second = rule_evaluate(rule_id=rule.pk)
    assert second is not None
    second.refresh_from_db()
    assert (second.status, second.incident) == ("linked", incident)
    assert Incident.all_tenants.count() == 1


def test_auto_declare_with_a_deactivated_type_leaves_the_signal_for_triage(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    crisis_type = org.crisistype_set.first()
    rule = spike_rule(
        org, action=R.Action.AUTO_DECLARE, crisis_type=crisis_type, severity=severity_of(org)
    )
    crisis_type.is_active = False
    crisis_type.save()
    add_mentions(org, 30, at=T0)
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    assert signal.status == "new"
    assert event_types(org, "signal.") == ["signal.created", "signal.action_failed"]
    assert not Incident.all_tenants.exists()


def test_link_action_joins_the_open_incident(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    rule = spike_rule(org, action=R.Action.LINK_INCIDENT)
    add_mentions(org, 30, at=T0)
    lonely = rule_evaluate(rule_id=rule.pk)
    assert lonely is not None
    assert lonely.status == "new"
    incident = make_incident(org)
    make_incident(org, is_drill=True)  # drills are never joined
    clock.shift(timedelta(minutes=61))
    add_mentions(org, 30, at=T0 + timedelta(minutes=61))
    signal = rule_evaluate(rule_id=rule.pk)
    assert signal is not None
    signal.refresh_from_db()
    assert (signal.status, signal.incident) == ("linked", incident)


def test_notify_action_marks_the_event_for_notification(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    from organisations.models import Event

    rule = spike_rule(org, action=R.Action.NOTIFY)
    add_mentions(org, 30, at=T0)
    assert rule_evaluate(rule_id=rule.pk) is not None
    event = Event.all_tenants.get(organisation=org, type="signal.created")
    assert event.payload["notify"] is True
    assert event.payload["observed"] == 30


def test_evaluation_costs_the_same_queries_whatever_the_volume(
    org: Organisation, clock: time_machine.Traveller, unscoped: None, windows_counted: str
) -> None:
    rule = spike_rule(org, method=R.Method.ZSCORE, threshold=1000.0)
    baseline(org, [1] * 12, timedelta(hours=1))
    add_mentions(org, 5, at=T0)
    with CaptureQueriesContext(connection) as few:
        assert rule_evaluate(rule_id=rule.pk) is None
    baseline(org, [40] * 12, timedelta(hours=1))
    add_mentions(org, 300, at=T0)
    with CaptureQueriesContext(connection) as many:
        assert rule_evaluate(rule_id=rule.pk) is None
    assert len(few) == len(many) <= 6


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"metric": R.Metric.ALARM_KEYWORD, "method": R.Method.ZSCORE}, "method"),
        ({"metric": R.Metric.NEGATIVE_SHARE, "threshold": 1.5}, "threshold"),
        ({"method": R.Method.RATIO, "window_minutes": 60, "baseline_minutes": 30}, "baseline"),
        ({"method": R.Method.RATIO, "window_minutes": 1, "baseline_minutes": 1000}, "baseline"),
        ({"action": R.Action.AUTO_DECLARE}, "action"),
    ],
)
def test_contradictory_rule_settings_are_refused(
    org: Organisation, fields: dict[str, object], problem: str, unscoped: None
) -> None:
    fields = {"name": "r", "metric": R.Metric.NEGATIVE_VOLUME, **fields}
    with pytest.raises(RuleConfigError) as raised:
        rule_create(organisation=org, actor=SYSTEM, **fields)
    assert raised.value.extra["field"].startswith(problem)
    assert not DetectionRule.all_tenants.exists()


@pytest.mark.parametrize(("action", "notified"), [(R.Action.NOTIFY, 1), (R.Action.SIGNAL, 0)])
def test_only_notify_rules_reach_members_through_the_dispatcher(
    org: Organisation, clock: time_machine.Traveller, action: str, notified: int, unscoped: None
) -> None:
    from notifications.models import Notification
    from notifications.planner import plan_notifications
    from organisations.models import Event
    from tests.factories import make_rule as make_notification_rule

    make_notification_rule(org)  # a member with a verified method, all notifiable types
    rule = spike_rule(org, action=action)
    add_mentions(org, 30, at=T0)
    assert rule_evaluate(rule_id=rule.pk) is not None
    plan_notifications(list(Event.all_tenants.filter(organisation=org, type="signal.created")))
    assert Notification.all_tenants.count() == notified
