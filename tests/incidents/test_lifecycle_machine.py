"""The lifecycle as a state machine: random actions and severity changes on a fresh incident per
example, with the clock moving (and sometimes skewing backwards) between steps.

Invariants: the status is always one of the eight; an allowed action lands on its documented
target and records exactly one `incident.status_changed`; a refused one raises and changes
nothing (same row, same version, no event); lifecycle timestamps stay in order and never move
backwards; closing needs a completed review when the severity requires one; cancelling needs a
reason; reopening clears `resolved_at` and sets `reopened_at`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.forms.models import model_to_dict
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from crisis_api.api.errors import DomainError
from incidents import services
from incidents.models import DECLARED_STATUSES, OPEN_STATUSES, Incident, Severity
from incidents.services import TRANSITIONS, IncidentTransitionError
from incidents.services.common import TIMESTAMP_FIELDS
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.factories import make_incident

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("lifecycle machine")
START = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
CHRONOLOGY = ("created_at", "declared_at", "contained_at", "resolved_at", "closed_at")
STATUSES = frozenset(Incident.Status.values)
FORWARD = frozenset({"declare", "contain", "resolve", "close", "reopen"})
MINUTES = st.integers(0, 24 * 60)  # the clock moves before each step


def snapshot(incident: Incident) -> dict[str, Any]:
    """Every column of the stored row."""
    return model_to_dict(Incident.all_tenants.get(pk=incident.pk), fields=None, exclude=())


def count(incident: Incident, type: str) -> int:
    return Event.all_tenants.filter(
        subject_type="incident", subject_id=str(incident.pk), type=type
    ).count()


def build_machine(organisation: Organisation) -> type[RuleBasedStateMachine]:
    severities = {s.rank: s for s in Severity.all_tenants.filter(organisation=organisation)}
    merge_target = make_incident(organisation, title="The incident duplicates merge into")

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.traveller = time_machine.travel(START, tick=False)
            self.clock = self.traveller.start()

        def teardown(self) -> None:
            self.traveller.stop()

        @initialize(status=st.sampled_from(["triage", "active"]), rank=st.integers(1, 4))
        def declare(self, status: str, rank: int) -> None:
            self.incident = make_incident(organisation, status=status, severity=severities[rank])
            self.status = status
            self.review_completed = False
            self.transitions = 0
            self.version = self.incident.version

        # --- rules ------------------------------------------------------------------------------

        @rule(seconds=st.integers(1, 2 * 3600))
        def skew_clock_backwards(self, seconds: int) -> None:
            """Another server's clock, or NTP stepping back: timestamps must not follow."""
            self.clock.shift(timedelta(seconds=-seconds))

        @rule(
            action=st.sampled_from(sorted(TRANSITIONS)),
            reason=st.sampled_from(["", "  ", "Duplicate of another report"]),
            minutes=MINUTES,
        )
        def any_action(self, action: str, reason: str, minutes: int) -> None:
            self.clock.shift(timedelta(minutes=minutes))
            self.apply(action, reason)

        @precondition(lambda self: services.allowed_actions(self.status))
        @rule(data=st.data(), reason=st.sampled_from(["", "Duplicate"]), minutes=MINUTES)
        def an_allowed_action(self, data: st.DataObject, reason: str, minutes: int) -> None:
            """Mostly forward, so runs reach the deep end of the lifecycle (reopen, close)."""
            allowed = services.allowed_actions(self.status)
            choices = [a for a in allowed if a in FORWARD] * 3 + allowed
            self.clock.shift(timedelta(minutes=minutes))
            self.apply(data.draw(st.sampled_from(choices)), reason)

        def apply(self, action: str, reason: str) -> None:
            before = snapshot(self.incident)
            changed_before = count(self.incident, "incident.status_changed")
            received_before = count(merge_target, "incident.merge_received")
            allowed = self.status in TRANSITIONS[action].sources
            needs_review = (
                action == "close"
                and Severity.all_tenants.get(pk=before["severity"]).review_required
                and not self.review_completed
            )
            call = {
                "incident": self.incident,
                "action": action,
                "actor": ACTOR,
                "reason": reason,
                "target": merge_target if action == "merge" else None,
            }

            if not allowed or needs_review:
                with pytest.raises(IncidentTransitionError) as refused:
                    services.incident_transition(**call)
                assert refused.value.extra["allowed"] == services.allowed_actions(self.status)
                if allowed:
                    assert refused.value.extra["missing"] == "review"
                self.assert_unchanged(before, changed_before)
                return
            if action == "cancel" and not reason.strip():
                with pytest.raises(DomainError) as refused_reason:
                    services.incident_transition(**call)
                assert not isinstance(refused_reason.value, IncidentTransitionError)
                self.assert_unchanged(before, changed_before)
                return

            services.incident_transition(**call)

            after = snapshot(self.incident)
            self.status = TRANSITIONS[action].target
            self.transitions += 1
            self.version += 1
            assert after["status"] == self.status
            assert after["version"] == before["version"] + 1
            assert count(self.incident, "incident.status_changed") == changed_before + 1
            [event] = Event.all_tenants.filter(
                subject_id=str(self.incident.pk), type="incident.status_changed"
            ).order_by("-seq")[:1]
            assert event.payload["from"] == before["status"]
            assert event.payload["to"] == self.status
            assert event.payload["action"] == action
            for name in TIMESTAMP_FIELDS:
                old, new = before[name], after[name]
                if old is not None and new is not None:
                    assert new >= old, f"{name} went backwards on {action}"
            if action == "reopen":
                assert after["resolved_at"] is None
                assert after["reopened_at"] is not None
                assert after["reopened_at"] >= before["resolved_at"]
            if action == "cancel":
                assert after["status_reason"] == reason.strip()
                assert after["cancelled_at"] is not None
            if action == "merge":
                assert after["merged_into"] == merge_target.pk
                assert count(merge_target, "incident.merge_received") == received_before + 1
            if action in ("resolve", "merge", "cancel", "decline"):
                assert after["next_public_update_due_at"] is None

        @rule(rank=st.integers(1, 4), minutes=MINUTES)
        def change_severity(self, rank: int, minutes: int) -> None:
            self.clock.shift(timedelta(minutes=minutes))
            before = snapshot(self.incident)
            changed_before = count(self.incident, "incident.status_changed")
            severity_events = count(self.incident, "incident.severity_changed")
            if self.status not in OPEN_STATUSES:
                with pytest.raises(IncidentTransitionError):
                    services.incident_change_severity(
                        incident=self.incident, severity=severities[rank], actor=ACTOR
                    )
                self.assert_unchanged(before, changed_before)
                return
            services.incident_change_severity(
                incident=self.incident, severity=severities[rank], actor=ACTOR
            )
            after = snapshot(self.incident)
            same = before["severity"] == severities[rank].pk
            self.version += 0 if same else 1
            assert after["severity"] == severities[rank].pk
            assert after["version"] == self.version
            assert count(self.incident, "incident.severity_changed") == severity_events + (not same)
            assert count(self.incident, "incident.status_changed") == changed_before

        @rule(minutes=MINUTES)
        def publish_a_public_update(self, minutes: int) -> None:
            """Communications published a statement: the cadence restarts from it."""
            self.clock.shift(timedelta(minutes=minutes))
            before = snapshot(self.incident)
            services.incident_public_update_record(incident=self.incident, actor=ACTOR)
            after = snapshot(self.incident)
            self.version += 1
            assert after["last_public_update_at"] >= (before["last_public_update_at"] or START)
            if self.status not in DECLARED_STATUSES:
                assert after["next_public_update_due_at"] == before["next_public_update_due_at"]

        @precondition(lambda self: self.status == "resolved" and not self.review_completed)
        @rule()
        def complete_review(self) -> None:
            services.review_update(
                incident=self.incident, actor=ACTOR, summary="A config push took checkout down."
            )
            services.review_complete(incident=self.incident, actor=ACTOR)
            self.review_completed = True

        # --- invariants -------------------------------------------------------------------------

        @invariant()
        def status_is_one_of_the_eight_and_as_expected(self) -> None:
            stored = Incident.all_tenants.get(pk=self.incident.pk)
            assert stored.status in STATUSES
            assert stored.status == self.status
            assert stored.version == self.version

        @invariant()
        def lifecycle_timestamps_are_in_order(self) -> None:
            stored = snapshot(self.incident)
            stamps = [stored[name] for name in CHRONOLOGY if stored[name] is not None]
            assert stamps == sorted(stamps), {name: stored[name] for name in CHRONOLOGY}
            for name in TIMESTAMP_FIELDS:
                assert stored[name] is None or stored[name] >= stored["created_at"]
            if stored["status"] in ("resolved", "closed"):
                assert stored["resolved_at"] is not None
            if stored["status"] == "closed":
                assert stored["closed_at"] is not None

        @invariant()
        def public_updates_are_due_one_interval_after_the_latest_start(self) -> None:
            stored = Incident.all_tenants.select_related("severity").get(pk=self.incident.pk)
            if stored.status not in DECLARED_STATUSES:
                assert stored.next_public_update_due_at is None
                return
            starts = (stored.declared_at, stored.reopened_at, stored.last_public_update_at)
            anchor = max(s for s in starts if s is not None)
            expected = anchor + stored.severity.public_update_interval
            assert stored.next_public_update_due_at == expected

        @invariant()
        def one_status_event_per_successful_transition(self) -> None:
            assert count(self.incident, "incident.status_changed") == self.transitions

        def assert_unchanged(self, before: dict[str, Any], changed_before: int) -> None:
            assert snapshot(self.incident) == before
            assert count(self.incident, "incident.status_changed") == changed_before

    return Lifecycle


def test_lifecycle_holds_its_invariants_under_random_actions(
    org: Organisation, unscoped: None
) -> None:
    run_state_machine_as_test(
        build_machine(org),
        settings=settings(
            max_examples=50,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
