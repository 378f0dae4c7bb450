"""The incident lifecycle: declaring, editing, and every status transition.

    triage ──declare──▶ active ──contain──▶ contained ──resolve──▶ resolved ──close──▶ closed
      │                   ▲ │                    │                    │
      ├─decline─▶ declined │ └──────resolve──────┘◀─────────────────── reopen
      └─ (triage|active|contained) ──merge──▶ merged   ──cancel──▶ cancelled (reason)

Timestamps never go backwards; an invalid transition is a 409 naming the allowed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

from django.db import transaction

from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import (
    DECLARED_STATUSES,
    OPEN_STATUSES,
    CrisisType,
    Incident,
    IncidentCounter,
    IncidentRole,
    Severity,
)
from incidents.services.common import incident_ref, lock, monotonic_now, record, save_versioned
from organisations.events import Actor
from organisations.models import Organisation, User

S = Incident.Status


class IncidentTransitionError(ConflictError):
    """The transition is not allowed from the incident's current status."""

    code = "invalid_transition"


class IncidentVersionError(DomainError):
    """If-Match named an older version than the stored one."""

    status_code = HTTPStatus.PRECONDITION_FAILED
    code = "version_mismatch"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str


TRANSITIONS: dict[str, Transition] = {
    "declare": Transition(frozenset({S.TRIAGE}), S.ACTIVE),
    "decline": Transition(frozenset({S.TRIAGE}), S.DECLINED),
    "contain": Transition(frozenset({S.ACTIVE}), S.CONTAINED),
    "resolve": Transition(frozenset({S.ACTIVE, S.CONTAINED}), S.RESOLVED),
    "close": Transition(frozenset({S.RESOLVED}), S.CLOSED),
    "reopen": Transition(frozenset({S.RESOLVED}), S.ACTIVE),
    "merge": Transition(frozenset(OPEN_STATUSES), S.MERGED),
    "cancel": Transition(frozenset(OPEN_STATUSES), S.CANCELLED),
}

MergeHook = Callable[[Incident, Incident, Actor], None]
_merge_hooks: list[MergeHook] = []


def register_merge_hook(hook: MergeHook) -> None:
    """Let another app move its links (signals, mentions, …) when an incident is merged."""
    if hook not in _merge_hooks:
        _merge_hooks.append(hook)


def allowed_actions(status: str) -> list[str]:
    return sorted(name for name, t in TRANSITIONS.items() if status in t.sources)


def _check_version(incident: Incident, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != incident.version:
        raise IncidentVersionError(
            f"The incident changed (version {incident.version}, you sent {expected_version}); "
            "reload it and retry.",
            current_version=incident.version,
        )


def _schedule_public_update(incident: Incident, base: datetime) -> None:
    incident.next_public_update_due_at = base + incident.severity.public_update_interval


@transaction.atomic
def incident_declare(
    *,
    organisation: Organisation,
    actor: Actor,
    title: str,
    crisis_type: CrisisType,
    severity: Severity,
    summary: str = "",
    impact: str = "",
    visibility: str = Incident.Visibility.OPEN,
    source: str = Incident.Source.MANUAL,
    is_drill: bool = False,
    status: str = S.TRIAGE,
    commander: User | None = None,
) -> Incident:
    """Open an incident, in triage or straight away active, with the next INC number."""
    if status not in (S.TRIAGE, S.ACTIVE):
        raise DomainError("A new incident starts in triage or active.")
    if not crisis_type.is_active:
        raise DomainError("This crisis type is deactivated.")
    counter, _ = IncidentCounter.objects.select_for_update().get_or_create(
        organisation=organisation
    )
    counter.last_number += 1
    counter.save(update_fields=("last_number",))
    incident = Incident(
        organisation=organisation,
        number=counter.last_number,
        title=title,
        summary=summary,
        impact=impact,
        crisis_type=crisis_type,
        severity=severity,
        status=status,
        visibility=visibility,
        source=source,
        is_drill=is_drill,
        created_by_id=actor.user_id,
    )
    incident.updated_at = incident.created_at
    if status == S.ACTIVE:
        incident.declared_at = incident.created_at
        _schedule_public_update(incident, incident.created_at)
    incident.save(force_insert=True)
    record(
        incident,
        actor,
        "incident.declared",
        {
            "title": title,
            "status": status,
            "severity": _severity_ref(severity),
            "crisis_type": {"id": str(crisis_type.pk), "slug": crisis_type.slug},
            "visibility": visibility,
            "source": source,
            "is_drill": is_drill,
        },
    )
    if commander is not None:
        from incidents.services.people import incident_role_assign

        incident_role_assign(
            incident=incident, user=commander, role=IncidentRole.COMMANDER, actor=actor
        )
        incident.refresh_from_db()
    return incident


EDITABLE_FIELDS = ("title", "summary", "impact", "crisis_type", "visibility")


@transaction.atomic
def incident_update(
    *, incident: Incident, actor: Actor, expected_version: int | None = None, **fields: Any
) -> Incident:
    """Edit descriptive fields (not status, severity or roles: those have their own services)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(f"Not editable here: {', '.join(sorted(unknown))}.")
    incident = lock(incident)
    _check_version(incident, expected_version)
    if incident.status not in (*OPEN_STATUSES, S.RESOLVED):
        raise IncidentTransitionError(f"A {incident.status} incident can no longer be edited.")
    new_type = fields.get("crisis_type")
    if new_type is not None and new_type.pk != incident.crisis_type_id and not new_type.is_active:
        raise DomainError("This crisis type is deactivated.")  # as when declaring
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        old = getattr(incident, name)
        if old != value:
            changes[name] = {"from": _plain(old), "to": _plain(value)}
            setattr(incident, name, value)
    if changes:
        save_versioned(incident, list(changes), monotonic_now(incident))
        record(incident, actor, "incident.updated", {"changes": changes})
    return incident


def _plain(value: Any) -> Any:
    if isinstance(value, CrisisType):
        return {"id": str(value.pk), "slug": value.slug}
    return value


def _severity_ref(severity: Severity) -> dict[str, Any]:
    return {"id": str(severity.pk), "name": severity.name, "rank": severity.rank}


@transaction.atomic
def incident_change_severity(
    *, incident: Incident, severity: Severity, actor: Actor, expected_version: int | None = None
) -> Incident:
    """Raise or lower the severity while the incident is open; the update cadence follows."""
    incident = lock(incident)
    _check_version(incident, expected_version)
    if incident.status not in OPEN_STATUSES:
        raise IncidentTransitionError(
            f"Severity can change only while the incident is open; it is {incident.status}.",
            allowed=allowed_actions(incident.status),
        )
    if severity.pk == incident.severity_id:
        return incident
    previous = incident.severity
    incident.severity = severity
    fields = ["severity"]
    if incident.status in DECLARED_STATUSES:
        # From the latest start of the cadence: the last update, else the (re)declaration.
        # A reopened incident's older updates must not make it overdue the moment it changes.
        starts = (incident.last_public_update_at, incident.declared_at, incident.reopened_at)
        base = max(start for start in starts if start is not None)
        _schedule_public_update(incident, base)
        fields.append("next_public_update_due_at")
    save_versioned(incident, fields, monotonic_now(incident))
    record(
        incident,
        actor,
        "incident.severity_changed",
        {
            "from": _severity_ref(previous),
            "to": _severity_ref(severity),
            "escalated": severity.rank < previous.rank,
        },
    )
    return incident


@transaction.atomic
def incident_transition(
    *,
    incident: Incident,
    action: str,
    actor: Actor,
    reason: str = "",
    target: Incident | None = None,
    expected_version: int | None = None,
) -> Incident:
    """Apply one lifecycle action under a row lock; 409 naming the allowed ones otherwise."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise DomainError(f"Unknown action {action!r}.")
    if action == "merge" and target is not None and target.pk != incident.pk:
        # Both rows get locked; always in the same order, so A→B and B→A at once cannot
        # deadlock (one waits, then finds the other no longer open).
        lock(min(incident, target, key=lambda i: str(i.pk)))
    incident = lock(incident)
    _check_version(incident, expected_version)
    if incident.status not in transition.sources:
        allowed = allowed_actions(incident.status)
        raise IncidentTransitionError(
            f"Cannot {action} a {incident.status} incident; allowed: "
            f"{', '.join(allowed) or 'nothing (it is final)'}.",
            current_status=incident.status,
            allowed=allowed,
        )
    now = monotonic_now(incident)
    previous = incident.status
    fields = ["status"]
    payload: dict[str, Any] = {"from": previous, "to": transition.target, "action": action}

    def stamp(*names: str) -> None:
        for name in names:
            setattr(incident, name, now)
        fields.extend(names)

    def stop_cadence() -> None:
        incident.next_public_update_due_at = None
        fields.append("next_public_update_due_at")

    if action == "declare":
        stamp("declared_at")
        _schedule_public_update(incident, now)
        fields.append("next_public_update_due_at")
    elif action == "contain":
        stamp("contained_at")
    elif action == "resolve":
        if incident.contained_at is None:
            stamp("contained_at")
        stamp("resolved_at")
        stop_cadence()
    elif action == "close":
        _require_review(incident)
        stamp("closed_at")
    elif action == "reopen":
        stamp("reopened_at")
        incident.resolved_at = None
        fields.append("resolved_at")
        _schedule_public_update(incident, now)
        fields.append("next_public_update_due_at")
    elif action in ("decline", "cancel"):
        if action == "cancel" and not reason.strip():
            raise DomainError("A reason is required to cancel an incident.")
        stamp("declined_at" if action == "decline" else "cancelled_at")
        incident.status_reason = reason.strip()
        fields.append("status_reason")
        payload["reason"] = incident.status_reason
        stop_cadence()
    elif action == "merge":
        target = _merge_target(incident, target)
        stamp("merged_at")
        incident.merged_into = target
        fields.append("merged_into")
        payload["merged_into"] = incident_ref(target)
        stop_cadence()
    incident.status = transition.target
    save_versioned(incident, fields, now)
    record(incident, actor, "incident.status_changed", payload)
    if action == "merge" and target is not None:
        for hook in _merge_hooks:
            hook(incident, target, actor)
        record(target, actor, "incident.merge_received", {"merged": incident_ref(incident)})
    return incident


def _merge_target(incident: Incident, target: Incident | None) -> Incident:
    if target is None:
        raise DomainError("Name the incident to merge into.")
    if target.pk == incident.pk:
        raise ConflictError("An incident cannot be merged into itself.")
    if target.organisation_id != incident.organisation_id:  # callers other than the API
        raise DomainError("Merge into an incident of the same organisation.")
    target = lock(target)
    if target.status not in OPEN_STATUSES:
        raise ConflictError(f"{target.reference} is {target.status}; merge into an open incident.")
    return target


def _require_review(incident: Incident) -> None:
    if not incident.severity.review_required:
        return
    from incidents.models import Review

    completed = Review.all_tenants.filter(
        incident=incident, status=Review.Status.COMPLETED
    ).exists()
    if not completed:
        raise IncidentTransitionError(
            f"{incident.severity.name} incidents need a completed review before closing.",
            allowed=allowed_actions(incident.status),
            missing="review",
        )
