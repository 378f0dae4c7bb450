"""Who hears about an event, through which methods, and when: the rules of members who may see
the incident, personal events only to their person, quiet hours, and escalation policies
started for declared incidents. A constant number of queries per batch of events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Prefetch

from crisis_api.bulk import insert_columns
from incidents.models import DECLARED_STATUSES, CrisisType, Incident, RoleAssignment
from notifications.models import (
    ContactMethod,
    Escalation,
    EscalationPolicy,
    Notification,
    NotificationRule,
)
from organisations.models import Event, Membership, Role

NOTIFIABLE: tuple[str, ...] = (
    "incident.declared",
    "incident.status_changed",
    "incident.severity_changed",
    "incident.role_assigned",
    "incident.public_update_overdue",
    "task.overdue",
    "task.completed",
    "playbook_run.notification_requested",
    "signal.created",
    "signal.escalated",
)
PERSONAL = ("incident.role_assigned", "task.overdue")
ADDRESSED = ("playbook_run.notification_requested",)  # to the payload's `user_ids` only
SEE_RESTRICTED = (Role.OWNER, Role.ADMIN, Role.CRISIS_MANAGER)
CRITICAL_RANK = 1


def _incident_id(event: Event) -> str | None:
    ref = event.payload.get("incident")
    return str(ref["id"]) if isinstance(ref, dict) and "id" in ref else None


def _person_of(event: Event) -> str | None:
    if event.type == "incident.role_assigned":
        return str(event.payload.get("user", {}).get("id", "")) or None
    if event.type == "task.overdue":
        owner = event.payload.get("task", {}).get("owner_id")
        return str(owner) if owner else None
    return None


def _wants_notice(event: Event) -> bool:
    """A signal notifies members only when its rule's action is `notify` (others go to triage
    quietly, or declare an incident, which notifies in its own right)."""
    return event.type != "signal.created" or event.payload.get("notify") is True


def quiet_until(rule: NotificationRule, at: datetime) -> datetime | None:
    """The end of the rule's quiet hours if `at` falls inside them, else None."""
    if rule.quiet_start is None or rule.quiet_end is None or rule.quiet_start == rule.quiet_end:
        return None
    try:
        zone = ZoneInfo(rule.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = at.astimezone(zone)
    start, end, now = rule.quiet_start, rule.quiet_end, local.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    end_day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone)


def _matches(rule: NotificationRule, event: Event, incident: Incident | None) -> bool:
    if rule.event_types and event.type not in rule.event_types:
        return False
    if rule.max_severity_rank is not None:
        return incident is not None and incident.severity.rank <= rule.max_severity_rank
    return True


@dataclass
class NotificationPlan:
    """The notifications a batch of events asks for, as columns (one value per notification),
    and what starting their escalations needs."""

    events: list[Event]
    incidents: dict[str, Incident]
    columns: dict[str, list[Any]]

    @property
    def size(self) -> int:
        return len(self.columns["event_id"])

    def insert(self, db: BaseDatabaseWrapper | None = None) -> None:
        """Insert the planned notifications (a row planned before is skipped)."""
        insert_columns(Notification, self.columns, ignore_conflicts=True, db=db)

    def start_escalations(self) -> None:
        _start_escalations(self.events, self.incidents)

    def chunks(self, size: int) -> Iterator[NotificationPlan]:
        """The plan's notifications in plans of at most `size`, every recipient's first contact
        method first (escalations stay with the whole plan)."""
        order = sorted(range(self.size), key=self.columns["position"].__getitem__)
        for start in range(0, self.size, size):
            rows = order[start : start + size]
            yield NotificationPlan(
                self.events,
                self.incidents,
                {name: [values[i] for i in rows] for name, values in self.columns.items()},
            )


def plan_notifications(events: list[Event]) -> int:
    """Notifications for the batch from members' rules, plus escalations to start."""
    plan = notification_plan(events)
    plan.insert()
    plan.start_escalations()
    return plan.size


def notification_plan(events: list[Event]) -> NotificationPlan:
    """Who is notified of the batch, through which methods and when (nothing is written)."""
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "organisation_id",
            "event_id",
            "recipient_id",
            "contact_method_id",
            "channel",
            "incident_id",
            "next_attempt_at",
            "position",
        )
    }
    relevant = [e for e in events if e.type in NOTIFIABLE and _wants_notice(e)]
    if not relevant:
        return NotificationPlan(relevant, {}, columns)
    org_ids = {e.organisation_id for e in relevant}
    incident_ids = {i for i in map(_incident_id, relevant) if i is not None}
    incidents = {
        str(i.pk): i
        for i in Incident.all_tenants.filter(pk__in=incident_ids).select_related("severity")
    }
    rules: dict[Any, list[NotificationRule]] = defaultdict(list)
    for rule in NotificationRule.all_tenants.filter(organisation_id__in=org_ids, is_active=True):
        rules[rule.organisation_id].append(rule)
    # Plain values, not model instances: a 10,000-recipient organisation is read and planned
    # in Python in tens of milliseconds, then inserted by one statement.
    methods = {
        str(pk): (str(user_id), kind, pk)
        for pk, user_id, kind in ContactMethod.all_tenants.filter(
            organisation_id__in=org_ids, verified_at__isnull=False
        ).values_list("pk", "user_id", "kind")
    }
    roles = {
        (org_id, str(user_id)): role
        for org_id, user_id, role in Membership.all_tenants.filter(
            organisation_id__in=org_ids
        ).values_list("organisation_id", "user_id", "role")
    }
    assigned = {
        (str(incident_id), str(user_id))
        for incident_id, user_id in RoleAssignment.all_tenants.filter(
            incident_id__in=list(incidents), unassigned_at__isnull=True
        ).values_list("incident_id", "user_id")
    }
    for event in relevant:
        incident = incidents.get(_incident_id(event) or "")
        person = _person_of(event)
        for rule in rules.get(event.organisation_id, ()):
            user = str(rule.user_id)
            role = roles.get((event.organisation_id, user))
            if role is None or not _matches(rule, event, incident):
                continue
            if event.type in PERSONAL and person != user:
                continue
            if event.type in ADDRESSED and user not in event.payload.get("user_ids", ()):
                continue
            if (
                incident is not None
                and incident.visibility == "restricted"
                and role not in SEE_RESTRICTED
                and (str(incident.pk), user) not in assigned
            ):
                continue
            at = event.occurred_at + timedelta(minutes=rule.delay_minutes)
            critical = incident is not None and incident.severity.rank <= CRITICAL_RANK
            if not (critical and rule.critical_overrides_quiet):
                at = quiet_until(rule, at) or at
            position = 0
            for method_id in rule.contact_methods:
                method = methods.get(str(method_id))
                if method is None or method[0] != user:
                    continue
                columns["organisation_id"].append(event.organisation_id)
                columns["event_id"].append(event.pk)
                columns["recipient_id"].append(rule.user_id)
                columns["contact_method_id"].append(method[2])
                columns["channel"].append(method[1])
                columns["incident_id"].append(incident.pk if incident is not None else None)
                columns["next_attempt_at"].append(at)
                columns["position"].append(position)
                position += 1
    return NotificationPlan(relevant, incidents, columns)


def _starts_escalation(event: Event) -> bool:
    if event.type == "incident.declared":
        return bool(event.payload.get("status") == "active")
    if event.type == "incident.status_changed":
        return bool(event.payload.get("action") in ("declare", "reopen"))
    if event.type == "incident.severity_changed":
        return event.payload.get("escalated") is True
    return False


def _start_escalations(events: list[Event], incidents: dict[str, Incident]) -> None:
    starting = [e for e in events if _starts_escalation(e) and _incident_id(e) in incidents]
    if not starting:
        return
    policies: dict[Any, list[EscalationPolicy]] = defaultdict(list)
    # The relay runs outside any tenant scope, where a plain related manager (scoped) refuses.
    for policy in EscalationPolicy.all_tenants.filter(
        organisation_id__in={e.organisation_id for e in starting}, is_active=True
    ).prefetch_related(Prefetch("crisis_types", queryset=CrisisType.all_tenants.all())):
        policies[policy.organisation_id].append(policy)
    running = set(
        Escalation.all_tenants.filter(
            incident_id__in={_incident_id(e) for e in starting},
            status=Escalation.Status.ACTIVE,
        ).values_list("incident_id", "policy_id")
    )
    runs = []
    for event in starting:
        incident = incidents[_incident_id(event) or ""]
        if incident.status not in DECLARED_STATUSES:  # policies page for declared incidents
            continue
        for policy in policies.get(event.organisation_id, ()):
            if (incident.pk, policy.pk) in running:  # already paging: a second run would
                continue  # page everyone twice (e.g. severity raised mid-escalation)
            running.add((incident.pk, policy.pk))
            types = {t.pk for t in policy.crisis_types.all()}
            if types and incident.crisis_type_id not in types:
                continue
            rank = policy.max_severity_rank
            if rank is not None and incident.severity.rank > rank:
                continue
            runs.append(
                Escalation(
                    organisation_id=event.organisation_id,
                    incident=incident,
                    policy=policy,
                    event=event,
                    next_step_at=event.occurred_at,
                )
            )
    Escalation.all_tenants.bulk_create(runs, ignore_conflicts=True)


__all__ = [
    "NOTIFIABLE",
    "NotificationPlan",
    "notification_plan",
    "plan_notifications",
    "quiet_until",
]
