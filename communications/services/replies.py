"""Personalised replies to complaint cases: drafted from a template with the complainant's
details, aimed at the case's latest post; "closing the loop" with every open case when its
incident is resolved (each reply still its own message through approval); a published reply
is the case's response (its first-response time is set once)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from rest_framework.exceptions import ValidationError

from communications.models import Channel, Message, MessageKind, MessageTemplate
from communications.services.messages import message_create, message_draft_from_template
from crisis_api.api.errors import ConflictError, DomainError
from monitoring.models import Case, Mention
from monitoring.models.cases import OPEN_CASE_STATUSES
from monitoring.services.cases import TRANSITIONS as CASE_TRANSITIONS
from monitoring.services.cases import case_transition
from organisations.events import Actor
from organisations.models import Event, Organisation

logger = logging.getLogger(__name__)
REPLY_PLATFORMS = (Channel.MASTODON, Channel.BLUESKY)


class CaseNotReplyableError(ConflictError):
    """The case is on a platform we cannot publish to (reply there by hand)."""

    code = "case_not_replyable"


def case_values(case: Case) -> dict[str, object]:
    """The template variables a case fills in."""
    values: dict[str, object] = {
        "complainant_name": case.author_name or case.author_handle,
        "complainant_handle": "@" + case.author_handle.lstrip("@") if case.author_handle else "",
        "case_reference": f"CASE-{str(case.pk)[:8].upper()}",
    }
    if case.incident is not None:
        values.update(
            incident_reference=case.incident.reference, incident_title=case.incident.title
        )
    return values


def _latest_mention(case: Case) -> Mention:
    mention = (
        Mention.all_tenants.filter(case=case)
        .select_related("source")
        .order_by("-posted_at")
        .first()
    )
    if mention is None:
        raise CaseNotReplyableError("The case has no post to reply to.")
    return mention


def _reply_target(case: Case) -> tuple[str, dict[str, Any], str]:
    """(channel, reply_to, language) for the case's latest post."""
    if case.platform not in REPLY_PLATFORMS:
        raise CaseNotReplyableError(
            f"Replies on {case.platform} are not published from here; answer there and mark "
            "the case responded.",
            platform=case.platform,
        )
    mention = _latest_mention(case)
    if case.platform == Channel.MASTODON:
        target: dict[str, Any] = {"url": mention.url}
    else:
        target = {"uri": mention.external_id}
    return case.platform, {case.platform: target}, mention.language


@transaction.atomic
def message_reply_from_case(
    *,
    case: Case,
    actor: Actor,
    template: MessageTemplate | None = None,
    body: str = "",
    values: Mapping[str, object] | None = None,
) -> Message:
    """A draft reply to the case's latest post: from a template (the complainant's details
    filled in) or a written body."""
    if case.status not in OPEN_CASE_STATUSES:
        raise ConflictError(f"The case is {case.status}; reopen it to reply.")
    channel, reply_to, language = _reply_target(case)
    common: dict[str, Any] = {
        "organisation": case.organisation,
        "actor": actor,
        "channels": [channel],
        "incident": case.incident,
        "case": case,
        "reply_to": reply_to,
    }
    if template is not None:
        if template.kind != MessageKind.REPLY:
            raise DomainError("Reply with a template of kind `reply`.")
        return message_draft_from_template(
            template=template, values={**case_values(case), **(values or {})}, **common
        )
    if not body.strip():
        raise DomainError("Give a template or a body.")
    return message_create(
        kind=MessageKind.REPLY,
        language=language if language in ("en", "pl") else "en",
        body=body,
        **common,
    )


def case_responded(message: Message, actor: Actor) -> None:
    """A published reply answers its case (first response set once; later replies are
    responses too, but the case may already be past that state)."""
    if message.case_id is None:
        return
    case = Case.all_tenants.select_related("organisation").get(pk=message.case_id)
    if case.status in CASE_TRANSITIONS["respond"].sources:
        case_transition(case=case, action="respond", actor=actor)


def _closing_template(organisation: Organisation, language: str) -> MessageTemplate | None:
    templates = MessageTemplate.all_tenants.filter(
        organisation=organisation, kind=MessageKind.REPLY, closes_the_loop=True, is_active=True
    ).order_by("name")
    return templates.filter(language=language).first() or templates.first()


def close_the_loop_on_resolution(event: Event, actor: Actor) -> None:
    """incident.status_changed subscriber: when an incident is resolved, propose a closing
    reply to each open case linked to it, from the organisation's closing-the-loop template."""
    if event.payload.get("to") != "resolved":
        return
    incident_id = event.payload["incident"]["id"]
    cases = Case.all_tenants.filter(
        organisation_id=event.organisation_id,
        incident_id=incident_id,
        status__in=OPEN_CASE_STATUSES,
        platform__in=REPLY_PLATFORMS,
    ).select_related("organisation", "incident")
    for case in cases:
        if Message.all_tenants.filter(
            case=case, incident_id=incident_id, template__closes_the_loop=True
        ).exists():
            continue  # resolved, reopened and resolved again: one proposal per case
        mention_language = _latest_mention(case).language if case.mentions.exists() else ""
        template = _closing_template(case.organisation, mention_language or "en")
        if template is None:
            return
        try:
            with transaction.atomic():
                message_reply_from_case(case=case, actor=actor, template=template)
        except (DomainError, ValidationError) as exc:  # one bad case must not stop the others
            logger.info("closing the loop: case %s not drafted: %s", case.pk, exc)
