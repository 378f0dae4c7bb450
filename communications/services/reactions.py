"""How communications reacts to other apps: a playbook's draft_message step becomes a draft
from the named template (the reacting app depends on the acting one, never the reverse)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils.text import slugify
from rest_framework.exceptions import ValidationError

from communications.models import Channel, Message, MessageKind, MessageTemplate
from communications.services.messages import message_draft_from_template
from crisis_api.api.errors import DomainError
from incidents.models import Incident
from organisations.events import Actor

logger = logging.getLogger(__name__)
DEFAULT_CHANNELS: dict[str, list[str]] = {
    MessageKind.PUBLIC_STATEMENT: [Channel.STATUS_PAGE],
    MessageKind.STATUS_UPDATE: [Channel.STATUS_PAGE],
    MessageKind.INTERNAL_UPDATE: [Channel.WEBHOOK],
}


def template_find(*, organisation_id: Any, reference: str) -> MessageTemplate | None:
    """An active template named by id, by name, or by the slug of its name."""
    templates = MessageTemplate.all_tenants.filter(organisation_id=organisation_id, is_active=True)
    try:
        by_id = templates.filter(pk=uuid.UUID(reference)).first()
    except ValueError:
        by_id = None
    if by_id is not None:
        return by_id
    wanted = slugify(reference)
    matches = [t for t in templates.order_by("language", "name") if slugify(t.name) == wanted]
    return matches[0] if matches else None


def draft_for_playbook_step(step: Any, incident: Incident, actor: Actor) -> dict[str, Any] | None:
    """Playbooks hook: draft the step's message from its template, linked to the incident.
    Returns None (the step then waits for a person) when the template is missing or cannot
    be rendered yet — e.g. legal approval pending, or a variable only a person can fill."""
    reference = str(step.config.get("template") or "")
    template = template_find(organisation_id=incident.organisation_id, reference=reference)
    if template is None:
        logger.info("playbook step %s: no active template %r", step.key, reference)
        return None
    channels = [template.channel] if template.channel else DEFAULT_CHANNELS.get(template.kind, [])
    label = Message.StatusLabel.INVESTIGATING if Channel.STATUS_PAGE in channels else ""
    try:
        with transaction.atomic():  # a refusal must not spoil the run's transaction
            message = message_draft_from_template(
                organisation=incident.organisation,
                actor=actor,
                template=template,
                values={},
                channels=channels,
                incident=incident,
                status_label=label,
            )
    except (DomainError, ValidationError) as exc:
        logger.info("playbook step %s: template %s not drafted: %s", step.key, template.pk, exc)
        return None
    return {"message_id": str(message.pk), "template_id": str(template.pk)}
