"""Writes on messages before approval: drafting (by hand or from a template), editing (which
voids approvals), content checks and their override, submission, withdrawal and scheduling."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from communications import checker
from communications.models import (
    PUBLIC_CHANNELS,
    PUBLIC_KINDS,
    BannedTerm,
    Channel,
    ChannelAccount,
    ContentCheck,
    Message,
    MessageTemplate,
)
from communications.services.approvals import latest_check, policy_snapshot
from communications.services.common import (
    HASHED_FIELDS,
    S,
    check_version,
    content_hash_of,
    lock,
    record,
    require_status,
)
from communications.services.content import validate_content
from communications.services.templates import template_render
from crisis_api.api.errors import ConflictError, DomainError, PermissionDeniedError
from incidents.models import Incident
from monitoring.models import Case
from organisations.events import Actor
from organisations.models import Organisation, User

CONTENT_FIELDS = (*HASHED_FIELDS, "incident")  # what a create or an edit may set
OTHER_FIELDS = ("publish_on_approval",)
EDITABLE = (S.DRAFT, S.IN_REVIEW, S.CHANGES_REQUESTED, S.REJECTED, S.APPROVED, S.SCHEDULED)


def _content(message: Message) -> dict[str, Any]:
    return {name: getattr(message, name) for name in CONTENT_FIELDS}


@transaction.atomic
def message_create(
    *,
    organisation: Organisation,
    actor: Actor,
    template: MessageTemplate | None = None,
    case: Case | None = None,
    **fields: Any,
) -> Message:
    """A new draft; its content is validated (channels for the kind, platform limits)."""
    unknown = set(fields) - set(CONTENT_FIELDS) - set(OTHER_FIELDS)
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    incident: Incident | None = fields.get("incident")
    if incident is not None and incident.organisation_id != organisation.pk:
        raise DomainError("The incident belongs to another organisation.")
    message = Message(
        organisation=organisation,
        author_id=actor.user_id,
        author_label=actor.label,
        template=template,
        case=case,
        **fields,
    )
    validate_content(_content(message))
    message.content_hash = content_hash_of(message)
    message.updated_at = message.created_at
    message.save(force_insert=True)
    record(
        message,
        actor,
        "message.created",
        {
            "channels": message.channels,
            "content_hash": message.content_hash,
            "template": str(template.pk) if template else None,
            "case": str(case.pk) if case else None,
        },
    )
    return message


@transaction.atomic
def message_draft_from_template(
    *,
    organisation: Organisation,
    actor: Actor,
    template: MessageTemplate,
    values: Mapping[str, object],
    channels: list[str] | None = None,
    incident: Incident | None = None,
    **fields: Any,
) -> Message:
    """A draft whose title and body are the template rendered with `values` (allow-listed
    variables only; a missing one is an error). Playbook steps and case replies use this."""
    defaults: dict[str, object] = {"organisation_name": organisation.name}
    if incident is not None:
        defaults.update(incident_reference=incident.reference, incident_title=incident.title)
    title, body = template_render(template=template, values={**defaults, **values})
    return message_create(
        organisation=organisation,
        actor=actor,
        template=template,
        kind=template.kind,
        language=template.language,
        title=title,
        body=body,
        channels=channels or ([template.channel] if template.channel else []),
        incident=incident,
        **fields,
    )


@transaction.atomic
def message_update(
    *, message: Message, actor: Actor, expected_version: int | None = None, **fields: Any
) -> Message:
    """Edit a message. A content change after submission voids every approval given so far
    (they name the old hash) and sends the message back to draft."""
    unknown = set(fields) - set(CONTENT_FIELDS) - set(OTHER_FIELDS)
    if unknown:
        raise DomainError(f"Not editable: {', '.join(sorted(unknown))}.")
    message = lock(message)
    check_version(message, expected_version)
    require_status(message, "edit", *EDITABLE)
    changed = [name for name, value in fields.items() if getattr(message, name) != value]
    if not changed:
        return message
    for name in changed:
        setattr(message, name, fields[name])
    validate_content(_content(message))
    old_hash = message.content_hash
    message.content_hash = content_hash_of(message)
    now = timezone.now()
    payload: dict[str, Any] = {"changed": sorted(changed), "content_hash": message.content_hash}
    update = [*changed, "content_hash"]
    if message.content_hash != old_hash and message.status != S.DRAFT:
        payload.update(previous_status=message.status, approvals_voided=True)
        message.status = S.DRAFT
        message.approved_hash = ""
        message.approved_at = message.approval_expires_at = None
        update += ["status", "approved_hash", "approved_at", "approval_expires_at"]
    message.version += 1
    message.updated_at = now
    message.save(update_fields=[*update, "version", "updated_at"])
    record(message, actor, "message.updated", payload)
    return message


def _banned(organisation_id: Any) -> list[checker.Banned]:
    return [
        checker.Banned(t.term, t.language, t.severity, t.reason, t.match_inflections)
        for t in BannedTerm.all_tenants.filter(organisation_id=organisation_id)
    ]


def run_check(message: Message, actor: Actor) -> ContentCheck:
    """Check the current text (title, body, every rendition); recorded with its findings."""
    snapshot = message.policy_snapshot or policy_snapshot(message)
    public = message.kind in PUBLIC_KINDS or bool(PUBLIC_CHANNELS & set(message.channels))
    fields = [("title", message.title), ("body", message.body)] + [
        (f"renditions.{channel}", text)
        for channel, text in sorted(message.renditions.items())
        if isinstance(text, str)
    ]
    findings = checker.check_texts(
        fields,
        language=message.language,
        public=public,
        banned=_banned(message.organisation_id),
        require_apology=bool(snapshot.get("require_apology")),
        require_next_step=bool(snapshot.get("require_next_step")),
    )
    result = checker.result_of(findings)
    # An admin's override holds for the text it was given to: re-checking the same text with
    # the same engine and the same findings keeps it (a new finding needs a new decision).
    previous = (
        ContentCheck.all_tenants.filter(
            message=message,
            content_hash=message.content_hash,
            engine_version=checker.ENGINE_VERSION,
            overridden_at__isnull=False,
        )
        .order_by("-created_at")
        .first()
    )
    findings_data = [f.as_dict() for f in findings]
    carried = previous is not None and previous.findings == findings_data
    check = ContentCheck.all_tenants.create(
        organisation_id=message.organisation_id,
        message=message,
        content_hash=message.content_hash,
        engine_version=checker.ENGINE_VERSION,
        result=result,
        findings=findings_data,
        overridden_by_id=previous.overridden_by_id if carried and previous else None,
        overridden_at=previous.overridden_at if carried and previous else None,
        override_reason=previous.override_reason if carried and previous else "",
    )
    record(
        message,
        actor,
        "message.checked",
        {
            "check_id": str(check.pk),
            "result": check.result,
            "findings": len(findings),
            "content_hash": message.content_hash,
            "engine_version": check.engine_version,
        },
    )
    return check


@transaction.atomic
def message_check(*, message: Message, actor: Actor) -> ContentCheck:
    """Run the content checker on demand (any status; nothing else changes)."""
    return run_check(lock(message), actor)


@transaction.atomic
def message_check_override(
    *, message: Message, actor: Actor, user: User | None, reason: str
) -> ContentCheck:
    """An admin lets a blocked text through approval, with a reason that is recorded."""
    if user is None:
        raise PermissionDeniedError("Only a person can override a content check.")
    if not reason.strip():
        raise DomainError("Give the reason for overriding the check.")
    message = lock(message)
    check = latest_check(message)
    if check is None or check.result != ContentCheck.Result.BLOCK:
        raise ConflictError("The current text has no blocking check to override.")
    if check.overridden_at is None:
        check.overridden_by, check.overridden_at = user, timezone.now()
        check.override_reason = reason.strip()
        check.save(update_fields=("overridden_by", "overridden_at", "override_reason"))
        record(
            message,
            actor,
            "message.check_overridden",
            {
                "check_id": str(check.pk),
                "reason": check.override_reason,
                "content_hash": message.content_hash,
                "findings": [f["category"] for f in check.findings if f["severity"] == "block"],
            },
        )
    return check


def _require_accounts(message: Message) -> None:
    platforms = [c for c in message.channels if c in (Channel.MASTODON, Channel.BLUESKY)]
    if not platforms:
        return
    active = set(
        ChannelAccount.all_tenants.filter(
            organisation_id=message.organisation_id, platform__in=platforms, is_active=True
        ).values_list("platform", flat=True)
    )
    missing = sorted(set(platforms) - active)
    if missing:
        raise ConflictError(
            f"Connect an account first: no active {', '.join(missing)} account.", missing=missing
        )


class PolicyUnsatisfiableError(ConflictError):
    """A step of the applicable policy names only incident roles, and there is no incident."""

    code = "policy_unsatisfiable"


def _require_approvers(message: Message) -> None:
    if message.incident_id is not None:
        return
    for position, step in enumerate(message.policy_snapshot["steps"]):
        if not step["roles"] and not step["users"]:
            raise PolicyUnsatisfiableError(
                f"Step {position + 1} ({step['name']}) of {message.policy_snapshot['name']!r} is "
                "approved by incident roles only; link the message to an incident.",
            )


@transaction.atomic
def message_submit(
    *, message: Message, actor: Actor, expected_version: int | None = None
) -> tuple[Message, ContentCheck]:
    """Send a draft for approval: choose the policy, start the review clock, run the checks."""
    message = lock(message)
    check_version(message, expected_version)
    require_status(message, "submit", S.DRAFT, S.CHANGES_REQUESTED, S.REJECTED)
    _require_accounts(message)
    now = timezone.now()
    message.policy_snapshot = policy_snapshot(message)
    message.policy_id = message.policy_snapshot["id"]
    _require_approvers(message)
    message.status = S.IN_REVIEW
    message.submitted_at = now
    message.submitted_by_id = actor.user_id
    minutes = message.policy_snapshot.get("review_timeout_minutes") or 7 * 24 * 60
    message.review_due_at = now + timedelta(minutes=minutes)
    message.closed_reason = ""
    message.version += 1
    message.updated_at = now
    message.save(
        update_fields=(
            "policy_snapshot",
            "policy",
            "status",
            "submitted_at",
            "submitted_by",
            "review_due_at",
            "closed_reason",
            "version",
            "updated_at",
        )
    )
    record(
        message,
        actor,
        "message.submitted",
        {
            "content_hash": message.content_hash,
            "policy": message.policy_snapshot["name"],
            "strictness": message.policy_snapshot["context_strictness"],
            "steps": len(message.policy_snapshot["steps"]),
            "review_due_at": message.review_due_at,
        },
    )
    check = run_check(message, actor)
    return message, check


@transaction.atomic
def message_withdraw(
    *, message: Message, actor: Actor, reason: str = "", expected_version: int | None = None
) -> Message:
    """Take a message back before it is published (final)."""
    message = lock(message)
    check_version(message, expected_version)
    require_status(
        message,
        "withdraw",
        S.DRAFT,
        S.IN_REVIEW,
        S.CHANGES_REQUESTED,
        S.REJECTED,
        S.APPROVED,
        S.SCHEDULED,
        S.FAILED,
    )
    if message.status == S.FAILED and message.publications.filter(status="sent").exists():
        raise ConflictError("Part of this message is already published; it cannot be withdrawn.")
    previous = message.status
    message.status = S.WITHDRAWN
    message.closed_reason = reason.strip()
    message.version += 1
    message.updated_at = timezone.now()
    message.save(update_fields=("status", "closed_reason", "version", "updated_at"))
    record(message, actor, "message.withdrawn", {"from": previous, "reason": message.closed_reason})
    return message


@transaction.atomic
def message_schedule(
    *, message: Message, actor: Actor, at: datetime, expected_version: int | None = None
) -> Message:
    """Publish at `at`: an approved message becomes scheduled; one still in review will be
    scheduled when approved. The time must fall before the approval lapses."""
    message = lock(message)
    check_version(message, expected_version)
    require_status(message, "schedule", S.IN_REVIEW, S.APPROVED, S.SCHEDULED)
    now = timezone.now()
    if at <= now:
        raise DomainError("The time to publish must be in the future.")
    if message.approval_expires_at and at > message.approval_expires_at:
        raise ConflictError(
            "The approval lapses before that time; pick an earlier one or have it re-approved.",
            approval_expires_at=message.approval_expires_at.isoformat(),
        )
    message.scheduled_for = at
    if message.status in (S.APPROVED, S.SCHEDULED):
        message.status = S.SCHEDULED
    message.version += 1
    message.updated_at = now
    message.save(update_fields=("scheduled_for", "status", "version", "updated_at"))
    record(message, actor, "message.scheduled", {"scheduled_for": at, "status": message.status})
    return message
