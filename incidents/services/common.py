"""Helpers shared by the incident services: locking, monotonic clock, versioned saves, events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from incidents.models import Incident
from organisations.events import Actor, event_record

TIMESTAMP_FIELDS = (
    "created_at",
    "declared_at",
    "contained_at",
    "resolved_at",
    "closed_at",
    "declined_at",
    "merged_at",
    "cancelled_at",
    "reopened_at",
    "updated_at",
)


def lock(incident: Incident) -> Incident:
    """The incident's row, locked for this transaction, with its configuration loaded."""
    return (
        Incident.all_tenants.select_for_update(of=("self",))
        .select_related("organisation", "severity", "crisis_type")
        .get(pk=incident.pk)
    )


def monotonic_now(incident: Incident) -> datetime:
    """Now, but never earlier than any timestamp the incident already has (clock skew safe)."""
    stamps: list[datetime] = [timezone.now()]
    stamps += [s for s in (getattr(incident, name) for name in TIMESTAMP_FIELDS) if s is not None]
    return max(stamps)


def save_versioned(incident: Incident, fields: Iterable[str], now: datetime) -> None:
    """Persist `fields`, bump the version (the ETag) and the update time."""
    incident.version += 1
    incident.updated_at = now
    incident.save(update_fields=[*fields, "version", "updated_at"])


def incident_ref(incident: Incident) -> dict[str, Any]:
    return {"id": str(incident.pk), "reference": incident.reference}


def record(incident: Incident, actor: Actor, type: str, payload: dict[str, Any]) -> None:
    """An event on the incident's timeline (its subject is the incident)."""
    event_record(
        organisation=incident.organisation,
        actor=actor,
        type=type,
        subject=("incident", str(incident.pk)),
        payload={"incident": incident_ref(incident), **payload},
    )
