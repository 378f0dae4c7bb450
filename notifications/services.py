"""Writes on members' contact methods, notification rules and escalation policies."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, RegexValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from crisis_api.api.errors import ConflictError, DomainError, LimitExceededError
from crisis_api.crypto import encrypt
from crisis_api.net import UnsafeURLError, check_url
from notifications.channels import Message, PermanentError, TransientError, sender_for
from notifications.delivery import usage_consume
from notifications.models import (
    PAID_CHANNELS,
    Channel,
    ContactMethod,
    EscalationLevel,
    EscalationPolicy,
    NotificationRule,
)
from organisations.events import Actor, event_record, subject_of
from organisations.models import Organisation, User

CODE_TTL_MINUTES = 30
RESEND_COOLDOWN_SECONDS = 60
MAX_VERIFY_ATTEMPTS = 5
E164 = RegexValidator(r"^\+[1-9]\d{6,14}$", "Use the international format, e.g. +48600100200.")


def _digest(organisation: Organisation, target: str) -> str:
    key = f"{settings.SECRET_KEY}:{organisation.pk}".encode()
    return hmac.new(key, target.strip().lower().encode(), hashlib.sha256).hexdigest()


def _hint(kind: str, target: str) -> str:
    if kind == Channel.EMAIL:
        name, _, domain = target.partition("@")
        return f"{name[:2]}…@{domain}"
    if kind == Channel.SMS:
        return f"…{target[-4:]}"
    return target.split("//", 1)[-1].split("/", 1)[0][:60]


def _validate_target(kind: str, target: str) -> str:
    target = target.strip()
    try:
        if kind == Channel.EMAIL:
            EmailValidator()(target)
        elif kind == Channel.SMS:
            E164(target)
        else:
            check_url(target)
    except DjangoValidationError as exc:
        raise DjangoValidationError({"target": exc.messages}) from exc
    except UnsafeURLError as exc:
        raise DjangoValidationError({"target": [str(exc)]}) from exc
    return target


def _send_code(method: ContactMethod, target: str) -> None:
    now = timezone.now()
    # Codes cost what notifications cost: they count against the plan's monthly cap, so
    # adding or re-verifying methods cannot send unlimited paid messages (OWASP API4).
    if method.kind in PAID_CHANNELS and not usage_consume(
        organisation=method.organisation, channel=method.kind, now=now
    ):
        raise LimitExceededError(f"This month's {method.kind} allowance is used up.")
    code = f"{secrets.randbelow(1_000_000):06d}"
    method.verification_code_hash = hashlib.sha256(code.encode()).hexdigest()
    method.verification_sent_at = now
    method.verification_attempts = 0
    method.save()
    text = f"Your crisis-api verification code is {code}. It expires in {CODE_TTL_MINUTES} minutes."
    message = Message(subject="Verify this contact method", text=text, short=text, link="")
    try:
        sender_for(method.kind).send(target, message)
    except (TransientError, PermanentError) as exc:
        raise DomainError(f"The verification message could not be sent: {exc}") from exc


@transaction.atomic
def contact_method_create(
    *, organisation: Organisation, user: User, kind: str, target: str, label: str, actor: Actor
) -> ContactMethod:
    """Add a way to reach a member and send it a verification code."""
    target = _validate_target(kind, target)
    try:
        with transaction.atomic():
            method = ContactMethod.all_tenants.create(
                organisation=organisation,
                user=user,
                kind=kind,
                label=label,
                target_ciphertext=encrypt(target),
                target_hint=_hint(kind, target),
                target_digest=_digest(organisation, target),
            )
    except IntegrityError as exc:
        raise ConflictError("This contact method exists already.") from exc
    event_record(
        organisation=organisation,
        actor=actor,
        type="contact_method.created",
        subject=subject_of(method),
        payload={"user_id": str(user.pk), "kind": kind, "hint": method.target_hint},
    )
    _send_code(method, target)
    return method


@transaction.atomic
def contact_method_resend_code(*, method: ContactMethod, actor: Actor) -> None:
    """Send a fresh code (the previous one stops working), at most once a minute, so the
    endpoint cannot be used to flood someone's phone, inbox or chat."""
    from crisis_api.crypto import decrypt

    if method.verified_at is not None:
        raise ConflictError("This contact method is verified already.")
    sent = method.verification_sent_at
    if sent is not None and (timezone.now() - sent).total_seconds() < RESEND_COOLDOWN_SECONDS:
        raise ConflictError("A code was sent less than a minute ago; wait before asking again.")
    _send_code(method, decrypt(method.target_ciphertext))


def contact_method_verify(*, method: ContactMethod, code: str, actor: Actor) -> ContactMethod:
    """Accept the code sent through the method; 5 wrong tries or 30 minutes void it."""
    with transaction.atomic():
        method = ContactMethod.all_tenants.select_for_update().get(pk=method.pk)
        if method.verified_at is not None:
            return method
        sent = method.verification_sent_at
        expired = sent is None or (timezone.now() - sent).total_seconds() > CODE_TTL_MINUTES * 60
        if expired or method.verification_attempts >= MAX_VERIFY_ATTEMPTS:
            raise ConflictError("The code expired or was tried too often; ask for a new one.")
        given = hashlib.sha256(code.strip().encode()).hexdigest()
        if hmac.compare_digest(given, method.verification_code_hash):
            method.verified_at = timezone.now()
            method.verification_code_hash = ""
            method.save()
            event_record(
                organisation=method.organisation,
                actor=actor,
                type="contact_method.verified",
                subject=subject_of(method),
                payload={"user_id": str(method.user_id), "kind": method.kind},
            )
            return method
        method.verification_attempts += 1
        method.save(update_fields=("verification_attempts",))
    # Refuse only after the failed try is committed: raising inside the block would roll the
    # count back, and the 5-try limit would never be reached.
    raise DjangoValidationError({"code": ["Wrong code."]})


@transaction.atomic
def contact_method_delete(*, method: ContactMethod, actor: Actor) -> None:
    event_record(
        organisation=method.organisation,
        actor=actor,
        type="contact_method.deleted",
        subject=subject_of(method),
        payload={"user_id": str(method.user_id), "kind": method.kind},
    )
    method.delete()


RULE_FIELDS = (
    "name",
    "event_types",
    "max_severity_rank",
    "contact_methods",
    "delay_minutes",
    "quiet_start",
    "quiet_end",
    "time_zone",
    "critical_overrides_quiet",
    "is_active",
)


def _check_methods(user: User, organisation: Organisation, ids: list[Any]) -> list[str]:
    ids = [str(i) for i in ids]
    own = {
        str(pk)
        for pk in ContactMethod.all_tenants.filter(
            organisation=organisation, user=user, pk__in=ids
        ).values_list("pk", flat=True)
    }
    missing = [i for i in ids if i not in own]
    if missing:
        raise DjangoValidationError({"contact_methods": [f"Not your contact methods: {missing}"]})
    return ids


@transaction.atomic
def rule_save(
    *,
    organisation: Organisation,
    user: User,
    actor: Actor,
    rule: NotificationRule | None = None,
    **fields: Any,
) -> NotificationRule:
    """Create or edit a member's notification rule."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise DomainError(f"Not part of a rule: {', '.join(sorted(unknown))}.")
    if "contact_methods" in fields:
        fields["contact_methods"] = _check_methods(user, organisation, fields["contact_methods"])
    created = rule is None
    rule = rule or NotificationRule(organisation=organisation, user=user)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.save()
    event_record(
        organisation=organisation,
        actor=actor,
        type="notification_rule.created" if created else "notification_rule.updated",
        subject=subject_of(rule),
        payload={"user_id": str(user.pk), "fields": sorted(fields)},
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: NotificationRule, actor: Actor) -> None:
    event_record(
        organisation=rule.organisation,
        actor=actor,
        type="notification_rule.deleted",
        subject=subject_of(rule),
        payload={"user_id": str(rule.user_id)},
    )
    rule.delete()


@transaction.atomic
def escalation_policy_save(
    *,
    organisation: Organisation,
    actor: Actor,
    policy: EscalationPolicy | None = None,
    levels: list[dict[str, Any]] | None = None,
    crisis_types: list[Any] | None = None,
    **fields: Any,
) -> EscalationPolicy:
    """Create or replace a policy; `levels` (if given) replaces all levels in order."""
    created = policy is None
    policy = policy or EscalationPolicy(organisation=organisation)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()
    if crisis_types is not None:
        policy.crisis_types.set(crisis_types)
    if levels is not None:
        if not levels:
            raise DjangoValidationError({"levels": ["A policy needs at least one level."]})
        EscalationLevel.all_tenants.filter(policy=policy).delete()
        for position, level in enumerate(levels):
            row = EscalationLevel.all_tenants.create(
                organisation=organisation,
                policy=policy,
                position=position,
                delay_minutes=level.get("delay_minutes", 5),
                incident_roles=level.get("incident_roles", []),
                organisation_roles=level.get("organisation_roles", []),
            )
            row.users.set(level.get("users", []))
    event_record(
        organisation=organisation,
        actor=actor,
        type="escalation_policy.created" if created else "escalation_policy.updated",
        subject=subject_of(policy),
        payload={"name": policy.name, "levels": len(levels) if levels is not None else None},
    )
    return policy


@transaction.atomic
def escalation_policy_delete(*, policy: EscalationPolicy, actor: Actor) -> None:
    """Deactivate a policy that ran; delete one that never did."""
    from django.db.models import ProtectedError

    try:
        with transaction.atomic():
            policy.delete()
        verb = "deleted"
    except ProtectedError:
        policy.is_active = False
        policy.save(update_fields=("is_active",))
        verb = "deactivated"
    event_record(
        organisation=policy.organisation,
        actor=actor,
        type=f"escalation_policy.{verb}",
        subject=("escalation_policy", str(policy.pk)),
        payload={"name": policy.name},
    )
