"""Reads of communications: which messages a reader may see, a message's approval progress,
and the public status timeline (published, not drills, not restricted)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from communications.models import (
    ApprovalDecision,
    Message,
    Publication,
    StatusPage,
    StatusUpdate,
)
from communications.services.approvals import current_step, latest_check, valid_approvals
from incidents.models import Incident
from incidents.selectors import SEE_RESTRICTED, incident_visible
from organisations.models import Organisation, User


def message_visible(
    queryset: QuerySet[Message], *, organisation: Organisation, user: User | None, role: str | None
) -> QuerySet[Message]:
    """Messages about incidents the reader may not see are hidden like the incidents."""
    if role in SEE_RESTRICTED:
        return queryset
    visible = incident_visible(
        Incident.all_tenants.filter(organisation=organisation), user=user, role=role
    )
    return queryset.filter(Q(incident__isnull=True) | Q(incident__in=visible))


def message_detail(message: Message) -> dict[str, Any]:
    """What the detail view adds: approval progress, the latest check, publications."""
    decisions = list(
        ApprovalDecision.all_tenants.filter(message=message).select_related("approver")
    )
    return {
        "approval": {
            "policy": message.policy_snapshot,
            "current_step": (
                current_step(message, valid_approvals(message))
                if message.status == Message.Status.IN_REVIEW
                else None
            ),
            "decisions": decisions,
        },
        "check": latest_check(message),
        "publications": list(Publication.all_tenants.filter(message=message)),
    }


def public_status(*, organisation: Organisation, page: StatusPage) -> dict[str, Any]:
    """The public timeline: published updates of the last `history_days`, grouped by
    incident; drills, restricted incidents and anything unpublished never appear."""
    since = timezone.now() - timedelta(days=page.history_days)
    updates = list(
        StatusUpdate.all_tenants.filter(
            organisation=organisation,
            published_at__gte=since,
            message__status=Message.Status.PUBLISHED,
        )
        .filter(
            Q(incident__isnull=True)
            | Q(incident__is_drill=False, incident__visibility=Incident.Visibility.OPEN)
        )
        .order_by("-published_at", "-id")[:500]
    )
    by_incident: dict[Any, list[StatusUpdate]] = defaultdict(list)
    announcements = []
    for update in updates:
        if update.incident_id is None:
            announcements.append(update)
        else:
            by_incident[update.incident_id].append(update)
    incidents = []
    for incident_id, items in by_incident.items():
        latest = items[0]
        incidents.append(
            {
                "id": incident_id,
                "title": latest.title,
                "status": next((u.label for u in items if u.label), ""),
                "started_at": items[-1].published_at,
                "updated_at": latest.published_at,
                "updates": items,
            }
        )
    incidents.sort(key=lambda i: i["updated_at"], reverse=True)
    ongoing = any(i["status"] != Message.StatusLabel.RESOLVED for i in incidents)
    return {
        "organisation": {"name": organisation.name, "slug": organisation.slug},
        "page": {"title": page.title or organisation.name, "description": page.description},
        "status": "incident" if ongoing else "operational",
        "incidents": incidents,
        "announcements": announcements,
        "generated_at": updates[0].published_at if updates else page.updated_at,
    }
