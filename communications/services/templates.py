"""Writes on message templates: create, edit (voids legal approval), legal approval, delete."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from communications.models import MessageTemplate
from communications.templating import render, template_variables
from crisis_api.api.errors import ConflictError, DomainError
from organisations.events import Actor, event_record
from organisations.models import Organisation, User

TEMPLATE_FIELDS = (
    "name",
    "kind",
    "audience",
    "channel",
    "language",
    "title",
    "body",
    "closes_the_loop",
    "requires_legal_approval",
    "is_active",
)


def _record(template: MessageTemplate, actor: Actor, type: str, payload: dict[str, Any]) -> None:
    event_record(
        organisation=template.organisation,
        actor=actor,
        type=type,
        subject=("message_template", str(template.pk)),
        payload={"template": {"id": str(template.pk), "name": template.name}, **payload},
    )


def _variables(title: str, body: str) -> list[str]:
    names = template_variables(title)
    return names + [name for name in template_variables(body) if name not in names]


def _save(template: MessageTemplate, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            template.save(**kwargs)
    except IntegrityError as exc:
        raise ConflictError("A template with this name and language exists.") from exc


@transaction.atomic
def template_create(*, organisation: Organisation, actor: Actor, **fields: Any) -> MessageTemplate:
    """A new template; placeholders are checked against the allow-list now, not at send time."""
    template = MessageTemplate(organisation=organisation, created_by_id=actor.user_id, **fields)
    template.variables = _variables(template.title, template.body)
    _save(template, force_insert=True)
    _record(template, actor, "message_template.created", {"variables": template.variables})
    return template


@transaction.atomic
def template_update(*, template: MessageTemplate, actor: Actor, **fields: Any) -> MessageTemplate:
    """Edit a template; a changed text withdraws its legal approval and bumps its version."""
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise DomainError(f"Not editable: {', '.join(sorted(unknown))}.")
    template = MessageTemplate.all_tenants.select_for_update().get(pk=template.pk)
    changed = [name for name, value in fields.items() if getattr(template, name) != value]
    if not changed:
        return template
    for name in changed:
        setattr(template, name, fields[name])
    template.variables = _variables(template.title, template.body)
    payload: dict[str, Any] = {"changed": sorted(changed)}
    if {"title", "body", "language"} & set(changed) and template.legal_approved_at is not None:
        template.legal_approved_at = template.legal_approval_expires_at = None
        template.legal_approved_by = None
        payload["legal_approval_voided"] = True
    template.version += 1
    template.updated_at = timezone.now()
    _save(template)
    _record(template, actor, "message_template.updated", payload)
    return template


@transaction.atomic
def template_legal_approve(
    *, template: MessageTemplate, actor: Actor, user: User, expires_at: datetime | None
) -> MessageTemplate:
    """Legal signs off this version of the text, optionally until a date."""
    template = MessageTemplate.all_tenants.select_for_update().get(pk=template.pk)
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise DomainError("expires_at must be in the future.")
    template.legal_approved_by, template.legal_approved_at = user, now
    template.legal_approval_expires_at = expires_at
    template.save(
        update_fields=("legal_approved_by", "legal_approved_at", "legal_approval_expires_at")
    )
    _record(
        template,
        actor,
        "message_template.legal_approved",
        {"version": template.version, "expires_at": expires_at},
    )
    return template


@transaction.atomic
def template_delete(*, template: MessageTemplate, actor: Actor) -> None:
    """Delete a template (messages made from it keep their text)."""
    _record(template, actor, "message_template.deleted", {})
    template.delete()


def template_render(*, template: MessageTemplate, values: Mapping[str, object]) -> tuple[str, str]:
    """(title, body) with the values filled in; refuses inactive or legally unapproved ones."""
    if not template.is_active:
        raise ConflictError("This template is deactivated.")
    if template.legal_status in ("pending", "expired"):
        raise ConflictError(
            f"This template needs legal approval (it is {template.legal_status}).",
            legal_status=template.legal_status,
        )
    return render(template.title, values), render(template.body, values)
