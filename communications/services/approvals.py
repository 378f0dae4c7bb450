"""Approval policies (choice, eligibility, completion) and approvers' decisions.

The policy is chosen when a message is submitted — by kind, channel and the approval
strictness of the severities of open incidents — and re-chosen at every decision, so a crisis
escalating while a message waits tightens its approval automatically. Decisions count only for
the content hash they were given to, until they expire; nobody approves their own message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from communications.models import ApprovalDecision, ApprovalPolicy, ContentCheck, Message
from communications.services.common import (
    ApprovalError,
    ContentBlockedError,
    S,
    check_version,
    content_hash_of,
    lock,
    record,
    require_status,
)
from crisis_api.api.errors import ConflictError, DomainError
from incidents.models import OPEN_STATUSES, Incident, IncidentRole, RoleAssignment, Severity
from organisations.events import Actor
from organisations.models import Membership, Organisation, Role, User

STRICTNESS: dict[str, int] = {
    Severity.Strictness.STANDARD: 0,
    Severity.Strictness.ELEVATED: 1,
    Severity.Strictness.STRICT: 2,
}
MAX_STEPS = 5
DEFAULT_POLICY: dict[str, Any] = {
    "id": None,
    "name": "Default: one approver",
    "min_strictness": Severity.Strictness.STANDARD,
    "steps": [
        {
            "name": "Review",
            "roles": [Role.OWNER, Role.ADMIN, Role.CRISIS_MANAGER, Role.COMMS_LEAD, Role.APPROVER],
            "incident_roles": [],
            "users": [],
            "rule": "any",
        }
    ],
    "approval_ttl_minutes": 24 * 60,
    "review_timeout_minutes": 7 * 24 * 60,
    "require_apology": False,
    "require_next_step": False,
}


# --- policies -----------------------------------------------------------------------------------


def steps_validate(organisation: Organisation, steps: Any) -> list[dict[str, Any]]:
    """Normalise a policy's steps; a 400-style DomainError names what is wrong."""
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise DomainError(f"A policy has 1 to {MAX_STEPS} steps.")
    clean: list[dict[str, Any]] = []
    for position, step in enumerate(steps):
        roles = sorted(set(step.get("roles") or []))
        incident_roles = sorted(set(step.get("incident_roles") or []))
        users = sorted({str(u) for u in step.get("users") or []})
        if not (roles or incident_roles or users):
            raise DomainError(f"Step {position + 1} names no approvers.")
        if set(roles) - set(Role.values) or set(incident_roles) - set(IncidentRole.values):
            raise DomainError(f"Step {position + 1} names an unknown role.")
        members = {
            str(pk)
            for pk in Membership.all_tenants.filter(
                organisation=organisation, user_id__in=users
            ).values_list("user_id", flat=True)
        }
        if set(users) - members:
            raise DomainError(f"Step {position + 1}: approvers must be members.")
        rule = step.get("rule", "any")
        if rule not in ("any", "all"):
            raise DomainError(f"Step {position + 1}: rule is any or all.")
        name = str(step.get("name") or f"Step {position + 1}")[:100]
        clean.append(
            {
                "name": name,
                "roles": roles,
                "incident_roles": incident_roles,
                "users": users,
                "rule": rule,
            }
        )
    return clean


def _policy_record(policy: ApprovalPolicy, actor: Actor, type: str) -> None:
    from organisations.events import event_record

    event_record(
        organisation=policy.organisation,
        actor=actor,
        type=type,
        subject=("approval_policy", str(policy.pk)),
        payload={"policy": {"id": str(policy.pk), "name": policy.name}, "steps": policy.steps},
    )


@transaction.atomic
def approval_policy_create(
    *, organisation: Organisation, actor: Actor, **fields: Any
) -> ApprovalPolicy:
    """A new policy; its steps are validated (roles exist, named approvers are members)."""
    fields["steps"] = steps_validate(organisation, fields.get("steps"))
    policy = ApprovalPolicy.all_tenants.create(organisation=organisation, **fields)
    _policy_record(policy, actor, "approval_policy.created")
    return policy


@transaction.atomic
def approval_policy_update(
    *, policy: ApprovalPolicy, actor: Actor, **fields: Any
) -> ApprovalPolicy:
    """Edit a policy; messages already in review keep the snapshot they were submitted with
    unless the new one is stricter (see `policy_refresh`)."""
    if "steps" in fields:
        fields["steps"] = steps_validate(policy.organisation, fields["steps"])
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.updated_at = timezone.now()
    policy.save()
    _policy_record(policy, actor, "approval_policy.updated")
    return policy


@transaction.atomic
def approval_policy_delete(*, policy: ApprovalPolicy, actor: Actor) -> None:
    """Delete a policy (snapshots on messages keep what was chosen)."""
    _policy_record(policy, actor, "approval_policy.deleted")
    policy.delete()


def context_strictness(message: Message) -> str:
    """The strictest approval strictness among the message's incident and every open incident
    of the organisation: while a severe crisis is open, everything is reviewed harder."""
    open_incidents = Incident.all_tenants.filter(
        organisation_id=message.organisation_id, status__in=OPEN_STATUSES, is_drill=False
    )
    if message.incident_id is not None:
        open_incidents = Incident.all_tenants.filter(
            Q(pk__in=open_incidents.values("pk")) | Q(pk=message.incident_id)
        )
    levels = set(open_incidents.values_list("severity__approval_strictness", flat=True))
    return max(levels or {Severity.Strictness.STANDARD}, key=lambda s: STRICTNESS.get(s, 0))


def policy_snapshot(message: Message) -> dict[str, Any]:
    """The applicable policy, frozen as a dict: matching kind and channel, the highest
    `min_strictness` the current context reaches, then the highest priority."""
    strictness = context_strictness(message)
    level = STRICTNESS[strictness]
    candidates = [
        policy
        for policy in ApprovalPolicy.all_tenants.filter(
            organisation_id=message.organisation_id, is_active=True
        )
        if (not policy.kinds or message.kind in policy.kinds)
        and (not policy.channels or set(policy.channels) & set(message.channels))
        and STRICTNESS.get(policy.min_strictness, 0) <= level
    ]
    if not candidates:
        return {**DEFAULT_POLICY, "context_strictness": strictness}
    chosen = max(
        candidates, key=lambda p: (STRICTNESS.get(p.min_strictness, 0), p.priority, p.created_at)
    )
    return {
        "id": str(chosen.pk),
        "name": chosen.name,
        "min_strictness": chosen.min_strictness,
        "steps": chosen.steps,
        "approval_ttl_minutes": chosen.approval_ttl_minutes,
        "review_timeout_minutes": chosen.review_timeout_minutes,
        "require_apology": chosen.require_apology,
        "require_next_step": chosen.require_next_step,
        "context_strictness": strictness,
    }


def policy_refresh(message: Message, actor: Actor) -> bool:
    """Switch an in-review message to a stricter policy if the context tightened since it was
    submitted. Decisions already given still count where they satisfy the new steps."""
    fresh = policy_snapshot(message)
    old = message.policy_snapshot or {}
    if fresh.get("id") == old.get("id"):
        return False
    old_level = STRICTNESS.get(old.get("min_strictness", "standard"), 0)
    if STRICTNESS.get(fresh["min_strictness"], 0) <= old_level:
        return False
    message.policy_snapshot = fresh
    message.policy_id = fresh["id"]
    message.save(update_fields=("policy_snapshot", "policy"))
    record(
        message,
        actor,
        "message.policy_tightened",
        {"from": old.get("name"), "to": fresh["name"], "strictness": fresh["context_strictness"]},
    )
    return True


# --- decisions ----------------------------------------------------------------------------------


def _requirements(step: dict[str, Any]) -> list[str]:
    return (
        [f"role:{r}" for r in step["roles"]]
        + [f"incident_role:{r}" for r in step["incident_roles"]]
        + [f"user:{u}" for u in step["users"]]
    )


def capacities(
    step: dict[str, Any], *, user: User, role: str | None, incident_roles: Iterable[str]
) -> list[str]:
    """What `user` may approve this step as (empty: not an approver of it)."""
    held = [f"role:{role}"] if role else []
    held += [f"incident_role:{r}" for r in incident_roles]
    held.append(f"user:{user.pk}")
    return [c for c in held if c in _requirements(step)]


def valid_approvals(message: Message, now: datetime | None = None) -> list[ApprovalDecision]:
    """Approvals that still count: given to the current hash, in the current review round
    (a rejection or a request for changes ends a round), and not expired."""
    now = now or timezone.now()
    approvals = ApprovalDecision.all_tenants.filter(
        message=message,
        decision=ApprovalDecision.Decision.APPROVE,
        content_hash=message.content_hash,
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if message.submitted_at is not None:
        approvals = approvals.filter(round_started_at=message.submitted_at)
    return list(approvals.select_related("approver"))


def step_complete(step: dict[str, Any], approvals: Sequence[ApprovalDecision]) -> bool:
    if not approvals:
        return False
    if step["rule"] == "any":
        return True
    covered = {c for a in approvals for c in a.capacity}
    return set(_requirements(step)) <= covered


def current_step(message: Message, approvals: Sequence[ApprovalDecision]) -> int | None:
    """Index of the first step not yet complete; None when every step is."""
    for index, step in enumerate(message.policy_snapshot.get("steps", [])):
        if not step_complete(step, [a for a in approvals if a.step == index]):
            return index
    return None


def latest_check(message: Message) -> ContentCheck | None:
    return (
        ContentCheck.all_tenants.filter(message=message, content_hash=message.content_hash)
        .order_by("-created_at", "-id")
        .first()
    )


def _incident_roles(message: Message, user: User) -> list[str]:
    if message.incident_id is None:
        return []
    return list(
        RoleAssignment.all_tenants.filter(
            incident_id=message.incident_id, user=user, unassigned_at__isnull=True
        ).values_list("role", flat=True)
    )


def _decider(message: Message, user: User | None, role: str | None) -> tuple[User, int, list[str]]:
    """The step the user decides on and the capacities they hold for it; 403 otherwise."""
    if user is None:
        raise ApprovalError("Only a person can approve or reject; API keys cannot.")
    if user.pk in (message.author_id, message.submitted_by_id):
        raise ApprovalError("You wrote or submitted this message; someone else must review it.")
    approvals = valid_approvals(message)
    index = current_step(message, approvals)
    if index is None:
        raise ConflictError("Every step is already approved.")
    step = message.policy_snapshot["steps"][index]
    held = capacities(step, user=user, role=role, incident_roles=_incident_roles(message, user))
    if not held:
        raise ApprovalError(
            f"You are not an approver of step {index + 1} ({step['name']}); it needs "
            f"{', '.join(_requirements(step))}.",
            step=index,
        )
    if any(a.approver_id == user.pk for a in approvals):
        raise ConflictError("You already approved this version; another approver must.")
    return user, index, held


@transaction.atomic
def message_approve(
    *,
    message: Message,
    actor: Actor,
    user: User | None,
    role: str | None,
    comment: str = "",
    expected_version: int | None = None,
) -> Message:
    """Record one approval of the current step for the current content hash; when the last step
    completes the message is approved (and scheduled or published if it was asked to be)."""
    message = lock(message)
    check_version(message, expected_version)
    require_status(message, "approve", S.IN_REVIEW)
    assert message.submitted_at is not None  # set by every submission
    if content_hash_of(message) != message.content_hash:  # defence in depth: stored hash drifted
        raise ConflictError("The message's content changed; resubmit it.")
    check = latest_check(message)
    if check is None or check.blocks:
        raise ContentBlockedError(
            "The content check blocks this text; edit it, or an admin overrides the check with "
            "a reason.",
            check_id=str(check.pk) if check else None,
        )
    policy_refresh(message, actor)
    user, index, held = _decider(message, user, role)
    now = timezone.now()
    ttl = timedelta(minutes=message.policy_snapshot.get("approval_ttl_minutes") or 24 * 60)
    try:
        with transaction.atomic():
            ApprovalDecision.all_tenants.create(
                organisation_id=message.organisation_id,
                message=message,
                step=index,
                approver=user,
                decision=ApprovalDecision.Decision.APPROVE,
                content_hash=message.content_hash,
                round_started_at=message.submitted_at,
                capacity=held,
                comment=comment,
                decided_at=now,
                expires_at=now + ttl,
            )
    except IntegrityError as exc:
        raise ConflictError("You already approved this step of this version.") from exc
    record(
        message,
        actor,
        "message.approval_recorded",
        {
            "step": index,
            "approver": {"id": str(user.pk), "email": user.email},
            "capacity": held,
            "content_hash": message.content_hash,
        },
    )
    approvals = valid_approvals(message, now)
    if current_step(message, approvals) is None:
        _approved(message, actor, approvals, now)
    else:
        _touch(message, now)
    return message


def _touch(message: Message, now: datetime, *fields: str) -> None:
    message.version += 1
    message.updated_at = now
    message.save(update_fields=[*fields, "version", "updated_at"])


def _approved(
    message: Message, actor: Actor, approvals: Sequence[ApprovalDecision], now: datetime
) -> None:
    from communications.services.publishing import publish_locked

    message.status = S.APPROVED
    message.approved_hash = message.content_hash
    message.approved_at = now
    message.approval_expires_at = min(a.expires_at for a in approvals if a.expires_at)
    _touch(message, now, "status", "approved_hash", "approved_at", "approval_expires_at")
    record(
        message,
        actor,
        "message.approved",
        {
            "content_hash": message.content_hash,
            "policy": message.policy_snapshot.get("name"),
            "approvals": [
                {
                    "step": a.step,
                    "approver": {"id": str(a.approver_id), "email": a.approver.email},
                    "decided_at": a.decided_at,
                }
                for a in approvals
            ],
            "expires_at": message.approval_expires_at,
        },
    )
    if message.publish_on_approval:
        publish_locked(message, actor)
    elif message.scheduled_for is not None:
        if message.scheduled_for > message.approval_expires_at:
            message.scheduled_for = None  # approval would lapse first: needs a new time
            _touch(message, now, "scheduled_for")
        else:
            message.status = S.SCHEDULED
            _touch(message, now, "status")
            record(message, actor, "message.scheduled", {"scheduled_for": message.scheduled_for})


def _decide_against(
    message: Message,
    actor: Actor,
    user: User | None,
    role: str | None,
    reason: str,
    decision: str,
    status: str,
    event: str,
    expected_version: int | None,
) -> Message:
    message = lock(message)
    check_version(message, expected_version)
    require_status(message, decision.replace("_", " "), S.IN_REVIEW)
    assert message.submitted_at is not None  # set by every submission
    if not reason.strip():
        raise DomainError("Say why, so the author knows what to change.")
    user, index, _ = _decider(message, user, role)
    now = timezone.now()
    ApprovalDecision.all_tenants.create(
        organisation_id=message.organisation_id,
        message=message,
        step=index,
        approver=user,
        decision=decision,
        content_hash=message.content_hash,
        round_started_at=message.submitted_at,
        comment=reason,
        decided_at=now,
    )
    message.status = status
    message.closed_reason = reason.strip()
    _touch(message, now, "status", "closed_reason")
    record(
        message,
        actor,
        event,
        {
            "step": index,
            "reason": message.closed_reason,
            "by": {"id": str(user.pk), "email": user.email},
            "content_hash": message.content_hash,
        },
    )
    return message


@transaction.atomic
def message_reject(
    *,
    message: Message,
    actor: Actor,
    user: User | None,
    role: str | None,
    reason: str,
    expected_version: int | None = None,
) -> Message:
    """An approver of the current step rejects the message (final until edited)."""
    return _decide_against(
        message,
        actor,
        user,
        role,
        reason,
        ApprovalDecision.Decision.REJECT,
        S.REJECTED,
        "message.rejected",
        expected_version,
    )


@transaction.atomic
def message_request_changes(
    *,
    message: Message,
    actor: Actor,
    user: User | None,
    role: str | None,
    reason: str,
    expected_version: int | None = None,
) -> Message:
    """An approver of the current step sends the message back to its author."""
    return _decide_against(
        message,
        actor,
        user,
        role,
        reason,
        ApprovalDecision.Decision.REQUEST_CHANGES,
        S.CHANGES_REQUESTED,
        "message.changes_requested",
        expected_version,
    )


def message_expire_sweep(*, now: datetime | None = None, batch: int = 200) -> int:
    """Expire messages pending review too long, and approved ones whose approval lapsed."""
    now = now or timezone.now()
    expired = 0
    due = Q(status=S.IN_REVIEW, review_due_at__lt=now) | Q(
        status__in=(S.APPROVED, S.SCHEDULED), approval_expires_at__lt=now
    )
    while True:
        with transaction.atomic():
            rows = list(
                Message.all_tenants.select_for_update(skip_locked=True, of=("self",))
                .select_related("organisation", "incident")
                .filter(due)
                .order_by("created_at")[:batch]
            )
            for message in rows:
                reason = (
                    "It waited in review past its deadline."
                    if message.status == S.IN_REVIEW
                    else "Its approval lapsed before it was published."
                )
                previous = message.status
                message.status = S.EXPIRED
                message.closed_reason = reason
                _touch(message, now, "status", "closed_reason")
                record(
                    message,
                    Actor.system("message expiry sweep"),
                    "message.expired",
                    {"from": previous, "reason": reason},
                )
                expired += 1
        if len(rows) < batch:
            return expired
