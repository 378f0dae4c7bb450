"""The planner: which members' rules fire for an event (type, severity, visibility, personal
events), when (delay, quiet hours in the member's time zone, critical override), and that the
relay plans each notification once, in a constant number of queries."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Incident
from notifications import relay
from notifications.models import ContactMethod, Notification, NotificationRule
from notifications.planner import plan_notifications, quiet_until
from organisations.events import Actor
from organisations.models import Event, Membership, Organisation, Role, User
from tests.factories import make_contact_method, make_incident, make_membership, severity_of

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
WARSAW = "Europe/Warsaw"


def member_with_rule(
    org: Organisation, role: str = Role.RESPONDER, **fields: Any
) -> tuple[User, NotificationRule]:
    user = make_membership(org, role).user
    method = make_contact_method(org, user)
    rule = NotificationRule.all_tenants.create(
        organisation=org, user=user, contact_methods=[str(method.pk)], **fields
    )
    return user, rule


def notified(event_type: str) -> set[Any]:
    return set(
        Notification.all_tenants.filter(event__type=event_type).values_list(
            "recipient_id", flat=True
        )
    )


def notification_of(user: User, event_type: str = "incident.declared") -> Notification:
    return Notification.all_tenants.get(recipient=user, event__type=event_type)


def dispatch() -> None:
    relay.outbox_relay()


# --- who ----------------------------------------------------------------------------------------


def test_rules_fire_for_their_event_types_only(org: Organisation, other_org: Organisation) -> None:
    declared, _ = member_with_rule(org, event_types=["incident.declared"])
    tasks, _ = member_with_rule(org, event_types=["task.completed"])
    everything, _ = member_with_rule(org, event_types=[])
    foreign, _ = member_with_rule(other_org)
    make_incident(org)
    dispatch()
    assert notified("incident.declared") == {declared.pk, everything.pk}
    assert tasks.pk not in notified("incident.declared")
    assert foreign.pk not in notified("incident.declared")
    notification = notification_of(declared)
    assert notification.channel == "email"
    assert notification.step == "rule"
    assert notification.status == "pending"
    assert notification.incident is not None


def test_max_severity_rank_means_this_rank_or_worse(org: Organisation) -> None:
    only_sev1, _ = member_with_rule(org, max_severity_rank=1)
    sev2_up, _ = member_with_rule(org, max_severity_rank=2)
    sev3_up, _ = member_with_rule(org, max_severity_rank=3)
    any_severity, _ = member_with_rule(org)
    make_incident(org, severity=severity_of(org, 2))
    dispatch()
    assert notified("incident.declared") == {sev2_up.pk, sev3_up.pk, any_severity.pk}
    make_incident(org, severity=severity_of(org, 1))
    dispatch()
    assert only_sev1.pk in notified("incident.declared")


def test_restricted_incidents_reach_only_assigned_people_and_managers(org: Organisation) -> None:
    viewer, _ = member_with_rule(org, Role.VIEWER, event_types=["incident.declared"])
    outside, _ = member_with_rule(org, Role.RESPONDER, event_types=["incident.declared"])
    inside, _ = member_with_rule(org, Role.RESPONDER, event_types=["incident.declared"])
    manager, _ = member_with_rule(org, Role.CRISIS_MANAGER, event_types=["incident.declared"])
    admin, _ = member_with_rule(org, Role.ADMIN, event_types=["incident.declared"])
    incident = make_incident(org, visibility="restricted")
    incident_services.incident_role_assign(
        incident=incident, user=inside, role="scribe", actor=SYSTEM
    )
    dispatch()
    assert notified("incident.declared") == {inside.pk, manager.pk, admin.pk}
    assert viewer.pk not in notified("incident.declared")
    assert outside.pk not in notified("incident.declared")
    make_incident(org)  # an open incident reaches everyone with a rule
    dispatch()
    assert Notification.all_tenants.filter(event__type="incident.declared").count() == 3 + 5


def test_role_assignments_reach_the_assignee_only(org: Organisation) -> None:
    assignee, _ = member_with_rule(org, event_types=["incident.role_assigned"])
    colleague, _ = member_with_rule(org, Role.ADMIN, event_types=["incident.role_assigned"])
    incident = make_incident(org)
    incident_services.incident_role_assign(
        incident=incident, user=assignee, role="comms_lead", actor=SYSTEM
    )
    dispatch()
    assert notified("incident.role_assigned") == {assignee.pk}
    assert colleague.pk not in notified("incident.role_assigned")


def test_overdue_tasks_reach_their_owner_only(org: Organisation) -> None:
    owner, _ = member_with_rule(org, event_types=["task.overdue"])
    member_with_rule(org, Role.OWNER, event_types=["task.overdue"])  # not theirs: not told
    incident = make_incident(org)
    incident_services.task_create(
        incident=incident,
        actor=SYSTEM,
        title="Call the journalist back",
        owner=owner,
        due_at=timezone.now() - timedelta(minutes=1),
    )
    assert incident_services.task_overdue_sweep() == 1
    dispatch()
    assert notified("task.overdue") == {owner.pk}


def test_members_who_left_or_inactive_rules_get_nothing(org: Organisation) -> None:
    left, _ = member_with_rule(org)
    paused, _ = member_with_rule(org, is_active=False)
    stays, _ = member_with_rule(org)
    Membership.all_tenants.filter(user=left).delete()
    make_incident(org)
    dispatch()
    assert notified("incident.declared") == {stays.pk}
    assert paused.pk not in notified("incident.declared")


def test_unverified_and_foreign_methods_are_never_used(org: Organisation) -> None:
    user, rule = member_with_rule(org)
    unverified = make_contact_method(org, user)
    ContactMethod.all_tenants.filter(pk=unverified.pk).update(verified_at=None)
    someone_elses = make_contact_method(org)
    rule.contact_methods = [*rule.contact_methods, str(unverified.pk), str(someone_elses.pk)]
    rule.save()
    make_incident(org)
    dispatch()
    used = Notification.all_tenants.values_list("contact_method_id", flat=True)
    assert [str(pk) for pk in used] == [rule.contact_methods[0]]


# --- when ---------------------------------------------------------------------------------------


def test_delay_minutes_postpone_the_notification(org: Organisation) -> None:
    user, _ = member_with_rule(org, delay_minutes=15)
    make_incident(org)
    dispatch()
    event = Event.all_tenants.get(type="incident.declared")
    assert notification_of(user).next_attempt_at == event.occurred_at + timedelta(minutes=15)


def waw(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(WARSAW))  # type: ignore[misc]


def nyc(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo("America/New_York"))  # type: ignore[misc]


NIGHTS = (time(22), time(7))
LUNCH = (time(12), time(14))


@pytest.mark.parametrize(
    ("zone", "window", "at", "until"),
    [
        # Across midnight: before and after it, and the edges (start inclusive, end exclusive).
        (WARSAW, NIGHTS, waw(2025, 1, 15, 23, 30), waw(2025, 1, 16, 7)),
        (WARSAW, NIGHTS, waw(2025, 1, 16, 3), waw(2025, 1, 16, 7)),
        (WARSAW, NIGHTS, waw(2025, 1, 15, 22), waw(2025, 1, 16, 7)),
        (WARSAW, NIGHTS, waw(2025, 1, 16, 7), None),
        (WARSAW, NIGHTS, waw(2025, 1, 15, 21, 59), None),
        (WARSAW, NIGHTS, waw(2025, 1, 15, 12), None),
        # Within one day.
        ("America/New_York", LUNCH, nyc(2025, 6, 2, 13), nyc(2025, 6, 2, 14)),
        ("America/New_York", LUNCH, nyc(2025, 6, 2, 14, 30), None),
        # The night clocks go forward: 07:00 is CEST (UTC+2), not CET.
        (WARSAW, NIGHTS, waw(2025, 3, 29, 23), datetime(2025, 3, 30, 5, tzinfo=UTC)),
        # No window.
        (WARSAW, (time(7), time(7)), waw(2025, 1, 15, 7), None),
    ],
)
def test_quiet_hours_end_in_the_members_time_zone(
    zone: str, window: tuple[time, time], at: datetime, until: datetime | None
) -> None:
    rule = NotificationRule(quiet_start=window[0], quiet_end=window[1], time_zone=zone)
    assert quiet_until(rule, at.astimezone(UTC)) == until


def test_quiet_hours_are_judged_in_the_rules_zone_not_utc() -> None:
    rule = NotificationRule(quiet_start=time(22), quiet_end=time(7), time_zone="Asia/Tokyo")
    at = datetime(2025, 1, 15, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo, 14:00 in UTC
    assert quiet_until(rule, at) == datetime(2025, 1, 15, 22, 0, tzinfo=UTC)  # 07:00 JST


QUIET = {"quiet_start": time(22), "quiet_end": time(7), "time_zone": WARSAW}
NIGHT = datetime(2025, 1, 15, 22, 30, tzinfo=UTC)  # 23:30 in Warsaw
MORNING = datetime(2025, 1, 16, 6, 0, tzinfo=UTC)  # 07:00 in Warsaw


@pytest.fixture
def at_night() -> Any:
    with time_machine.travel(NIGHT, tick=False):
        yield


def test_quiet_hours_delay_non_critical_notifications(org: Organisation, at_night: None) -> None:
    sleeper, _ = member_with_rule(org, **QUIET)
    awake, _ = member_with_rule(org)
    make_incident(org, severity=severity_of(org, 2))
    dispatch()
    assert notification_of(sleeper).next_attempt_at == MORNING
    assert notification_of(awake).next_attempt_at == NIGHT


def test_critical_incidents_override_quiet_hours_when_the_rule_says_so(
    org: Organisation, at_night: None
) -> None:
    overridden, _ = member_with_rule(org, **QUIET)
    strict, _ = member_with_rule(org, critical_overrides_quiet=False, **QUIET)
    make_incident(org, severity=severity_of(org, 1))
    dispatch()
    assert notification_of(overridden).next_attempt_at == NIGHT
    assert notification_of(strict).next_attempt_at == MORNING


def test_a_delay_that_ends_in_quiet_hours_waits_for_their_end(org: Organisation) -> None:
    with time_machine.travel(datetime(2025, 1, 15, 20, 55, tzinfo=UTC), tick=False):
        user, _ = member_with_rule(org, delay_minutes=10, **QUIET)  # 21:55 + 10 min in Warsaw
        make_incident(org)
        dispatch()
    assert notification_of(user).next_attempt_at == MORNING


# --- once, and cheaply --------------------------------------------------------------------------


def test_running_the_relay_twice_plans_nothing_twice(org: Organisation) -> None:
    for _ in range(3):
        member_with_rule(org)
    make_incident(org)
    dispatch()
    assert Notification.all_tenants.count() == 3
    dispatch()
    events = list(Event.all_tenants.all())
    plan_notifications(events)  # a replayed batch (a relay that died before marking it)
    Event.all_tenants.update(dispatched_at=None)
    dispatch()
    assert Notification.all_tenants.count() == 3
    assert Notification.all_tenants.values("recipient_id").distinct().count() == 3


def test_planning_queries_do_not_grow_with_recipients(org: Organisation) -> None:
    counts = []
    for n in (5, 50):
        for _ in range(n):
            member_with_rule(org)
        dispatch()
        incident = make_incident(org)
        with CaptureQueriesContext(connection) as captured:
            dispatch()
        counts.append(len(captured))
        assert Notification.all_tenants.filter(incident=incident).count() == (5 if n == 5 else 55)
    assert counts[0] == counts[1]
    assert Incident.all_tenants.count() == 2
