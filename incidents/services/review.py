"""The post-incident review and its action items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import Incident, Review, Task
from incidents.services.common import lock, record
from incidents.services.tasks import task_create
from organisations.events import Actor
from organisations.models import User

REVIEW_FIELDS = ("summary", "went_well", "went_badly", "contributing_factors")
REVIEWABLE = (Incident.Status.RESOLVED, Incident.Status.CLOSED)


def _review_for(incident: Incident) -> Review:
    review, _ = Review.all_tenants.select_for_update().get_or_create(
        incident=incident, defaults={"organisation_id": incident.organisation_id}
    )
    return review


@transaction.atomic
def review_update(*, incident: Incident, actor: Actor, **fields: Any) -> Review:
    """Write or edit the review (created on first write) once the incident is resolved."""
    unknown = set(fields) - set(REVIEW_FIELDS)
    if unknown:
        raise DomainError(f"Not part of a review: {', '.join(sorted(unknown))}.")
    incident = lock(incident)  # its current status, held until we commit (e.g. against reopen)
    if incident.status not in REVIEWABLE:
        raise ConflictError(f"Review an incident once it is resolved; it is {incident.status}.")
    review = _review_for(incident)
    if review.status == Review.Status.COMPLETED and incident.status == Incident.Status.CLOSED:
        raise ConflictError("The review of a closed incident is final.")
    changed = [name for name, value in fields.items() if getattr(review, name) != value]
    if not changed:
        return review
    for name in changed:
        setattr(review, name, fields[name])
    review.updated_at = timezone.now()
    review.save()
    record(incident, actor, "review.updated", {"review_id": str(review.pk), "fields": changed})
    return review


@transaction.atomic
def review_complete(*, incident: Incident, actor: Actor) -> Review:
    """Mark the review complete (it needs a summary); the incident may then be closed."""
    incident = lock(incident)
    if incident.status not in REVIEWABLE:
        raise ConflictError(f"Review an incident once it is resolved; it is {incident.status}.")
    review = _review_for(incident)
    if review.status == Review.Status.COMPLETED:
        return review
    if not review.summary.strip():
        raise DomainError("Write the review's summary before completing it.")
    review.status = Review.Status.COMPLETED
    review.completed_at = timezone.now()
    review.completed_by_id = actor.user_id
    review.save()
    record(incident, actor, "review.completed", {"review_id": str(review.pk)})
    return review


@transaction.atomic
def review_action_item_add(
    *,
    incident: Incident,
    actor: Actor,
    title: str,
    description: str = "",
    owner: User | None = None,
    due_at: datetime | None = None,
    priority: str = Task.Priority.MEDIUM,
) -> Task:
    """An action item from the review: a task with source `review`."""
    incident = lock(incident)
    if incident.status not in REVIEWABLE:
        raise ConflictError(f"Review an incident once it is resolved; it is {incident.status}.")
    return task_create(
        incident=incident,
        actor=actor,
        title=title,
        description=description,
        owner=owner,
        due_at=due_at,
        priority=priority,
        source=Task.Source.REVIEW,
    )
