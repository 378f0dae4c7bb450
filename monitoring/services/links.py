"""Mentions attached to incidents as evidence, by hand; the incident's timeline records it."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from crisis_api.api.errors import ConflictError
from incidents.models import Incident
from monitoring.models import IncidentMention, Mention
from organisations.events import Actor, event_record


def _record(link: IncidentMention, actor: Actor, type: str) -> None:
    incident: Incident = link.incident
    mention: Mention = link.mention
    payload: dict[str, Any] = {
        "incident": {"id": str(incident.pk), "reference": incident.reference},
        "mention": {"id": str(mention.pk), "url": mention.url, "author": mention.author_handle},
        "link_id": str(link.pk),
    }
    event_record(
        organisation=incident.organisation,
        actor=actor,
        type=type,
        subject=("incident", str(incident.pk)),
        payload=payload,
    )


@transaction.atomic
def incident_mention_link(*, incident: Incident, mention: Mention, actor: Actor) -> IncidentMention:
    """Attach a mention to an incident; attaching it twice is a 409."""
    link, created = IncidentMention.all_tenants.get_or_create(
        organisation_id=incident.organisation_id,
        incident=incident,
        mention=mention,
        defaults={"added_by_id": actor.user_id},
    )
    if not created:
        raise ConflictError("This mention is already linked to the incident.")
    _record(link, actor, "incident.mention_linked")
    return link


@transaction.atomic
def incident_mention_unlink(*, link: IncidentMention, actor: Actor) -> None:
    """Detach a mention from an incident."""
    _record(link, actor, "incident.mention_unlinked")
    link.delete()
