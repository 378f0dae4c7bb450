"""Helpers shared by the communications services: errors, the content hash, locking, events."""

from __future__ import annotations

import hashlib
import json
from http import HTTPStatus
from typing import Any

from communications.models import Message
from crisis_api.api.errors import ConflictError, DomainError
from organisations.events import Actor, event_record


class MessageTransitionError(ConflictError):
    """The action is not allowed from the message's current status."""

    code = "invalid_transition"


class MessageVersionError(DomainError):
    """If-Match named an older version than the stored one."""

    status_code = HTTPStatus.PRECONDITION_FAILED
    code = "version_mismatch"


class ApprovalError(DomainError):
    """The caller may not approve this message (self-approval, not an approver of the step)."""

    status_code = HTTPStatus.FORBIDDEN
    code = "approval_not_allowed"


class ContentBlockedError(ConflictError):
    """A content check blocks the current text and no admin has overridden it."""

    code = "content_blocked"


class NotApprovedError(ConflictError):
    """The text to publish is not the text that was approved (or the approval expired)."""

    code = "not_approved"


S = Message.Status

HASHED_FIELDS = (
    "kind",
    "language",
    "title",
    "body",
    "renditions",
    "channels",
    "status_label",
    "recipients",
    "reply_to",
)


def content_hash_of(message: Message) -> str:
    """SHA-256 over everything that goes out (and where it goes): any edit changes it."""
    material = {name: getattr(message, name) for name in HASHED_FIELDS}
    material["incident"] = str(message.incident_id or "")
    material["case"] = str(message.case_id or "")
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lock(message: Message) -> Message:
    """The message's row, locked for this transaction, with what the services read."""
    return (
        Message.all_tenants.select_for_update(of=("self",))
        .select_related("organisation", "incident", "incident__severity", "policy")
        .get(pk=message.pk)
    )


def check_version(message: Message, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != message.version:
        raise MessageVersionError(
            f"The message changed (version {message.version}, you sent {expected_version}); "
            "reload it and retry.",
            current_version=message.version,
        )


def require_status(message: Message, action: str, *allowed: str) -> None:
    if message.status not in allowed:
        raise MessageTransitionError(
            f"Cannot {action} a message that is {message.status}; it must be "
            f"{' or '.join(allowed)}.",
            current_status=message.status,
        )


def message_ref(message: Message) -> dict[str, Any]:
    return {"id": str(message.pk), "kind": message.kind, "title": message.title}


def record(message: Message, actor: Actor, type: str, payload: dict[str, Any]) -> None:
    """An event whose subject is the message; names the incident so drills and restricted
    incidents are filtered like the incident's own events."""
    body: dict[str, Any] = {"message": message_ref(message), **payload}
    if message.incident_id is not None:
        incident = message.incident
        assert incident is not None
        body["incident"] = {"id": str(incident.pk), "reference": incident.reference}
    event_record(
        organisation=message.organisation,
        actor=actor,
        type=type,
        subject=("message", str(message.pk)),
        payload=body,
    )
