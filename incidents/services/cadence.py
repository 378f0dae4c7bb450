"""The public-update cadence: when the next public update is due, and the overdue sweep."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents.models import DECLARED_STATUSES, Incident
from incidents.services.common import lock, monotonic_now, record, save_versioned
from organisations.events import Actor


@transaction.atomic
def incident_public_update_record(
    *, incident: Incident, actor: Actor, published_at: datetime | None = None
) -> Incident:
    """A public update went out: the next one is due one severity interval later.

    Communications calls this when it publishes a statement or status update.
    """
    incident = lock(incident)
    at = published_at or monotonic_now(incident)
    # The deadline this update answered (None while in triage: no cadence runs yet); reports
    # compute cadence adherence from `on_time`.
    due_at = incident.next_public_update_due_at
    incident.last_public_update_at = at
    fields = ["last_public_update_at"]
    if incident.status in DECLARED_STATUSES:
        incident.next_public_update_due_at = at + incident.severity.public_update_interval
        fields.append("next_public_update_due_at")
    save_versioned(incident, fields, monotonic_now(incident))
    record(
        incident,
        actor,
        "incident.public_update_recorded",
        {
            "published_at": at,
            "next_due_at": incident.next_public_update_due_at,
            "due_at": due_at,
            "on_time": None if due_at is None else at <= due_at,
        },
    )
    return incident


def public_update_overdue_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Announce `incident.public_update_overdue` once per lapse of `next_public_update_due_at`."""
    now = now or timezone.now()
    announced = 0
    lapsed = Q(public_update_overdue_for__isnull=True) | ~Q(
        public_update_overdue_for=F("next_public_update_due_at")
    )
    while True:
        with transaction.atomic():
            due = list(
                Incident.all_tenants.select_for_update(skip_locked=True, of=("self",))
                .select_related("organisation", "severity")
                .filter(status__in=DECLARED_STATUSES, next_public_update_due_at__lt=now)
                .filter(lapsed)
                .order_by("next_public_update_due_at")[:batch]
            )
            for incident in due:
                if (
                    Incident.all_tenants.filter(pk=incident.pk)
                    .filter(lapsed)
                    .update(public_update_overdue_for=F("next_public_update_due_at"))
                ):
                    record(
                        incident,
                        Actor.system("public-update sweep"),
                        "incident.public_update_overdue",
                        {
                            "due_at": incident.next_public_update_due_at,
                            "last_public_update_at": incident.last_public_update_at,
                            "severity": {"name": incident.severity.name},
                        },
                    )
                    announced += 1
        if len(due) < batch:
            return announced
