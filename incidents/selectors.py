"""Reads of incidents: who may see which, the timeline, and the incident's metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from incidents.models import Incident, RoleAssignment
from organisations.models import Event, Organisation, Role, User

SEE_RESTRICTED = frozenset({Role.OWNER, Role.ADMIN, Role.CRISIS_MANAGER})


def incident_visible(
    queryset: QuerySet[Incident], *, user: User | None, role: str | None
) -> QuerySet[Incident]:
    """Restricted incidents only for the people assigned to them, whoever declared them, and
    owners/admins/crisis managers. API keys (no user) see open incidents only."""
    if role in SEE_RESTRICTED:
        return queryset
    if user is None:
        return queryset.filter(visibility=Incident.Visibility.OPEN)
    assigned = RoleAssignment.all_tenants.filter(
        incident=OuterRef("pk"), user=user, unassigned_at__isnull=True
    )
    return queryset.filter(
        Q(visibility=Incident.Visibility.OPEN) | Q(created_by=user) | Q(Exists(assigned))
    )


def incident_timeline(*, organisation: Organisation, incident: Incident) -> QuerySet[Event]:
    """The incident's events (status, severity, roles, tasks, notes, review), oldest first."""
    return Event.all_tenants.filter(
        organisation=organisation, subject_type="incident", subject_id=str(incident.pk)
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def first_public_update_at(incident: Incident) -> datetime | None:
    """When the first public statement or update went out (communications records it through
    `incident_public_update_record`, whose event is on the incident's timeline)."""
    first = (
        Event.all_tenants.filter(
            organisation_id=incident.organisation_id,
            subject_type="incident",
            subject_id=str(incident.pk),
            type="incident.public_update_recorded",
        )
        .order_by("seq")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return first


def incident_metrics(incident: Incident) -> dict[str, Any]:
    """Durations in seconds: report → declared, declared → contained, declared → resolved,
    declared → first public statement."""
    first_statement = first_public_update_at(incident) if incident.last_public_update_at else None
    return {
        "time_to_declare": _seconds(incident.created_at, incident.declared_at),
        "time_to_contain": _seconds(incident.declared_at, incident.contained_at),
        "time_to_resolve": _seconds(incident.declared_at, incident.resolved_at),
        "time_to_first_statement": _seconds(incident.declared_at, first_statement),
    }


def hide_restricted_incident_events(
    queryset: QuerySet[Event], organisation: Organisation, user: User | None, role: str | None
) -> QuerySet[Event]:
    """Event-log filter: events about restricted incidents (their subject, or the incident
    named in the payload) only for those who may see them."""
    if role in SEE_RESTRICTED:
        return queryset
    restricted = Incident.all_tenants.filter(
        organisation=organisation, visibility=Incident.Visibility.RESTRICTED
    )
    if user is not None:
        restricted = restricted.exclude(
            Exists(
                RoleAssignment.all_tenants.filter(
                    incident=OuterRef("pk"), user=user, unassigned_at__isnull=True
                )
            )
        )
    hidden = [str(pk) for pk in restricted.values_list("pk", flat=True)]
    if not hidden:
        return queryset
    # The incident's own events, and other apps' events about it (tasks, messages, …).
    return queryset.exclude(subject_type="incident", subject_id__in=hidden).exclude(
        payload__incident__id__in=hidden
    )


def incidents_for_metrics(queryset: QuerySet[Incident]) -> QuerySet[Incident]:
    """The incidents that count in metrics and reports: no drills, and no incident of a crisis
    type marked `exclude_from_metrics`. Every metric goes through this."""
    return queryset.filter(is_drill=False, crisis_type__exclude_from_metrics=False)
