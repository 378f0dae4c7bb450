"""Escalation runs: notify one level, wait its delay, notify the next; repeat the policy; stop
for good when someone acknowledges. Each step rotates the run's token, so a duplicate or
stale sweep that read the old token changes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from crisis_api.api.errors import ConflictError
from incidents.models import DECLARED_STATUSES, Incident, RoleAssignment
from notifications.models import ContactMethod, Escalation, EscalationLevel, Notification
from notifications.planner import SEE_RESTRICTED
from organisations.events import Actor, event_record
from organisations.models import Membership, User


def _targets(escalation: Escalation, position: int) -> set[str]:
    """Whom a level pages: current members only and, for a restricted incident, only those
    who may see it (managers and people assigned to it), as for rules in the planner."""
    # Explicit all_tenants queries: the sweep runs outside any tenant scope, where the scoped
    # related managers (policy.levels, …) refuse to query.
    level = (
        EscalationLevel.all_tenants.filter(policy_id=escalation.policy_id, position=position)
        .prefetch_related("users")
        .first()
    )
    if level is None:
        return set()
    roles = {
        str(m.user_id): m.role
        for m in Membership.all_tenants.filter(organisation_id=escalation.organisation_id)
    }
    assignments = {
        str(a.user_id): a.role
        for a in RoleAssignment.all_tenants.filter(incident=escalation.incident, unassigned_at=None)
    }
    users = {str(u.pk) for u in level.users.all()}
    users |= {user for user, role in assignments.items() if role in level.incident_roles}
    users |= {user for user, role in roles.items() if role in level.organisation_roles}
    restricted = escalation.incident.visibility == Incident.Visibility.RESTRICTED
    return {
        user
        for user in users
        if user in roles
        and (not restricted or roles[user] in SEE_RESTRICTED or user in assignments)
    }


def _notify_level(escalation: Escalation, position: int, now: datetime) -> int:
    users = _targets(escalation, position)
    methods = ContactMethod.all_tenants.filter(
        organisation_id=escalation.organisation_id, user_id__in=users, verified_at__isnull=False
    )
    step = f"esc:{escalation.pk}:{escalation.repeat}:{position}"
    rows = [
        Notification(
            organisation_id=escalation.organisation_id,
            event_id=escalation.event_id,
            step=step,
            recipient_id=method.user_id,
            contact_method=method,
            channel=method.kind,
            incident_id=escalation.incident_id,
            escalation=escalation,
            next_attempt_at=now,
        )
        for method in methods
    ]
    Notification.all_tenants.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def escalation_advance(*, escalation_id: uuid.UUID, token: uuid.UUID) -> bool:
    """Run the due step of one escalation if `token` is still its token."""
    now = timezone.now()
    with transaction.atomic():
        escalation = (
            Escalation.all_tenants.select_for_update()
            .select_related("policy", "incident")
            .filter(pk=escalation_id, token=token, status=Escalation.Status.ACTIVE)
            .first()
        )
        if escalation is None:
            return False
        levels = list(
            EscalationLevel.all_tenants.filter(policy_id=escalation.policy_id)
            .order_by("position")
            .values_list("position", "delay_minutes")
        )
        if escalation.incident.status not in DECLARED_STATUSES:  # resolved, closed, …
            escalation.status = Escalation.Status.CANCELLED
            escalation.next_step_at = None
            Notification.all_tenants.filter(
                escalation=escalation, status=Notification.Status.PENDING
            ).update(status=Notification.Status.SUPPRESSED, error="incident no longer declared")
        else:
            if (
                escalation.level >= len(levels)
                and escalation.repeat < escalation.policy.repeat_count
            ):
                escalation.repeat += 1  # start over, paging level 0 now rather than next sweep
                escalation.level = 0
            if escalation.level < len(levels):
                position, delay = levels[escalation.level]
                _notify_level(escalation, position, now)
                escalation.level += 1
                escalation.next_step_at = now + timedelta(minutes=delay)
            else:
                escalation.status = Escalation.Status.EXHAUSTED
                escalation.next_step_at = None
        escalation.token = uuid.uuid4()
        escalation.save()
    return True


def escalation_advance_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Sweep: advance every active escalation whose next step is due."""
    now = now or timezone.now()
    due = list(
        Escalation.all_tenants.filter(status=Escalation.Status.ACTIVE, next_step_at__lte=now)
        .order_by("next_step_at")
        .values_list("pk", "token")[:limit]
    )
    return sum(escalation_advance(escalation_id=pk, token=token) for pk, token in due)


@transaction.atomic
def notification_acknowledge(
    *, notification: Notification, user: User, actor: Actor
) -> Notification:
    """Acknowledge a page: its escalation stops (token rotated, unsent steps suppressed), and
    the incident's timeline records who acknowledged."""
    notification = Notification.all_tenants.select_for_update().get(pk=notification.pk)
    if notification.recipient_id != user.pk:
        raise ConflictError("Only the recipient can acknowledge this notification.")
    now = timezone.now()
    if notification.acknowledged_at is None:
        notification.acknowledged_at = now
        notification.save(update_fields=("acknowledged_at",))
    escalation = notification.escalation
    if escalation is not None:
        escalation = Escalation.all_tenants.select_for_update().get(pk=escalation.pk)
        if escalation.status == Escalation.Status.ACTIVE:
            escalation.status = Escalation.Status.ACKNOWLEDGED
            escalation.acknowledged_at, escalation.acknowledged_by = now, user
            escalation.next_step_at, escalation.token = None, uuid.uuid4()
            escalation.save()
            Notification.all_tenants.filter(
                escalation=escalation, status=Notification.Status.PENDING
            ).update(status=Notification.Status.SUPPRESSED, error="acknowledged")
            if notification.incident_id:
                event_record(
                    organisation=notification.organisation,
                    actor=actor,
                    type="incident.acknowledged",
                    subject=("incident", str(notification.incident_id)),
                    payload={
                        "incident": {"id": str(notification.incident_id)},
                        "escalation_id": str(escalation.pk),
                        "user": {"id": str(user.pk), "email": user.email},
                    },
                )
    return notification
