"""Writes on tenants, members, invitations, keys and tokens; each records its event atomically."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from crisis_api.api.access import API_KEY_SCOPES
from crisis_api.api.errors import ConflictError, DomainError, LimitExceededError
from crisis_api.api.errors import PermissionDeniedError as RoleError
from organisations.events import Actor, event_record, subject_of
from organisations.models import (
    PLAN_LIMITS,
    ApiKey,
    AuthToken,
    EventChainHead,
    Invitation,
    Membership,
    Organisation,
    Role,
    User,
    normalise_email,
)
from organisations.secrets import APP_TOKEN, INVITATION, hash_secret, new_secret
from organisations.tasks import email_enqueue


class InvitationInvalidError(DomainError):
    """The invitation token is unknown, used, revoked or expired."""

    code = "invitation_invalid"


def _email_after_commit(*, to: str, subject: str, body: str) -> None:
    """Queue an account e-mail once the change commits (immediately outside a transaction)."""
    transaction.on_commit(lambda: email_enqueue(to=to, subject=subject, body=body))


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise DjangoValidationError({"password": exc.messages}) from exc


# --- Organisations ------------------------------------------------------------------------------


def _unique_slug(name: str) -> str:
    """A free slug derived from the name that the URL pattern accepts (a-z, 0-9, inner '-')."""
    base = slugify(name).replace("_", "-")[:50].strip("-") or "org"
    slug, n = base, 1
    while Organisation.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organisation_create(
    *,
    name: str,
    owner: User,
    slug: str | None = None,
    plan: str = Organisation.Plan.FREE,
    actor: Actor | None = None,
) -> Organisation:
    """Create a tenant with plan limits, its event chain, and `owner` as its first owner.

    The actor defaults to the owner (self-service sign-up); a platform admin passes themselves.
    """
    slug = slug or _unique_slug(name)
    if Organisation.objects.filter(slug=slug).exists():
        raise ConflictError(f"The slug {slug!r} is taken.")
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(
                name=name, slug=slug, plan=plan, **PLAN_LIMITS[plan]
            )
    except IntegrityError as exc:
        raise ConflictError(f"The slug {slug!r} is taken.") from exc
    EventChainHead.objects.create(organisation=organisation)
    actor = actor or Actor.of_user(owner)
    event_record(
        organisation=organisation,
        actor=actor,
        type="organisation.created",
        subject=subject_of(organisation),
        payload={"name": name, "slug": slug, "plan": plan},
    )
    membership = Membership.all_tenants.create(
        organisation=organisation, user=owner, role=Role.OWNER
    )
    _record_membership(membership, actor, "membership.created", {"role": Role.OWNER})
    return organisation


@transaction.atomic
def organisation_update(
    *, organisation: Organisation, actor: Actor, **changes: Any
) -> Organisation:
    """Change editable settings (name, drill_webhooks_enabled, first-response SLA); records what
    changed from what."""
    changed = {
        field: {"from": getattr(organisation, field), "to": value}
        for field, value in changes.items()
        if getattr(organisation, field) != value
    }
    if not changed:
        return organisation
    for field, value in changes.items():
        setattr(organisation, field, value)
    organisation.save(update_fields=list(changed))
    event_record(
        organisation=organisation,
        actor=actor,
        type="organisation.updated",
        subject=subject_of(organisation),
        payload={"changes": changed},
    )
    return organisation


@transaction.atomic
def organisation_set_limits(
    *, organisation: Organisation, actor: Actor, plan: str | None = None, **limits: int
) -> Organisation:
    """Change the plan (resetting its default limits) and/or override individual limits."""
    values: dict[str, Any] = dict(PLAN_LIMITS[plan]) if plan else {}
    if plan:
        values["plan"] = plan
    values.update(limits)
    changed = {k: {"from": getattr(organisation, k), "to": v} for k, v in values.items()}
    changed = {k: v for k, v in changed.items() if v["from"] != v["to"]}
    if not changed:
        return organisation
    for field, value in values.items():
        setattr(organisation, field, value)
    organisation.save(update_fields=list(changed))
    event_record(
        organisation=organisation,
        actor=actor,
        type="organisation.plan_changed",
        subject=subject_of(organisation),
        payload={"changes": changed},
    )
    return organisation


@transaction.atomic
def organisation_suspend(*, organisation: Organisation, actor: Actor, reason: str) -> Organisation:
    """Block the tenant's API access (403) without deleting anything."""
    locked = Organisation.objects.select_for_update().get(pk=organisation.pk)
    if locked.suspended_at is not None:
        return locked
    locked.suspended_at, locked.suspended_reason = timezone.now(), reason
    locked.save(update_fields=("suspended_at", "suspended_reason"))
    event_record(
        organisation=locked,
        actor=actor,
        type="organisation.suspended",
        subject=subject_of(locked),
        payload={"reason": reason},
    )
    return locked


@transaction.atomic
def organisation_unsuspend(*, organisation: Organisation, actor: Actor) -> Organisation:
    """Restore the tenant's API access."""
    locked = Organisation.objects.select_for_update().get(pk=organisation.pk)
    if locked.suspended_at is None:
        return locked
    locked.suspended_at, locked.suspended_reason = None, ""
    locked.save(update_fields=("suspended_at", "suspended_reason"))
    event_record(
        organisation=locked,
        actor=actor,
        type="organisation.unsuspended",
        subject=subject_of(locked),
        payload={},
    )
    return locked


# --- Memberships --------------------------------------------------------------------------------


def _record_membership(
    membership: Membership, actor: Actor, type: str, payload: dict[str, Any]
) -> None:
    event_record(
        organisation=membership.organisation,
        actor=actor,
        type=type,
        subject=subject_of(membership),
        payload={"user_id": str(membership.user_id), **payload},
    )


def _guard_owner_change(*, membership: Membership, actor_role: str, new_role: str | None) -> None:
    """Only owners touch owners; the last owner can be neither demoted nor removed."""
    touches_owner = membership.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner and actor_role != Role.OWNER:
        raise RoleError("Only an owner can grant, change or remove the owner role.")
    if membership.role == Role.OWNER and new_role != Role.OWNER:
        owners = Membership.all_tenants.select_for_update().filter(
            organisation_id=membership.organisation_id, role=Role.OWNER
        )
        if len(list(owners)) <= 1:
            raise ConflictError("An organisation must keep at least one owner.")


@transaction.atomic
def membership_change_role(
    *, membership: Membership, role: str, actor: Actor, actor_role: str
) -> Membership:
    """Give a member another role, within the owner rules."""
    if membership.role == role:
        return membership
    _guard_owner_change(membership=membership, actor_role=actor_role, new_role=role)
    previous = membership.role
    membership.role = role
    membership.save(update_fields=("role", "updated_at"))
    _record_membership(membership, actor, "membership.role_changed", {"from": previous, "to": role})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Actor, actor_role: str) -> None:
    """Remove a member from the organisation, within the owner rules."""
    _guard_owner_change(membership=membership, actor_role=actor_role, new_role=None)
    _record_membership(membership, actor, "membership.removed", {"role": membership.role})
    membership.delete()


# --- Invitations --------------------------------------------------------------------------------


def _seats_left(organisation: Organisation) -> int:
    members = Membership.all_tenants.filter(organisation=organisation).count()
    pending = Invitation.all_tenants.filter(
        organisation=organisation,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).count()
    return organisation.max_members - members - pending


def _send_invitation(invitation: Invitation, token: str) -> None:
    link = f"{settings.FRONTEND_URL}/invitations/accept?token={token}"
    _email_after_commit(
        to=invitation.email,
        subject=f"You are invited to {invitation.organisation.name} on crisis-api",
        body=(
            f"You have been invited to join {invitation.organisation.name} as "
            f"{Role(invitation.role).label}.\n\nAccept the invitation: {link}\n\n"
            f"The link expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
    )


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


@transaction.atomic
def invitation_create(
    *, organisation: Organisation, email: str, role: str, actor: Actor, actor_role: str
) -> IssuedInvitation:
    """Invite someone by e-mail; counts against the member limit while pending."""
    email = normalise_email(email)
    if role == Role.OWNER and actor_role != Role.OWNER:
        raise RoleError("Only an owner can invite another owner.")
    Organisation.objects.select_for_update().get(pk=organisation.pk)  # serialise seat counting
    if Membership.all_tenants.filter(organisation=organisation, user__email=email).exists():
        raise ConflictError(f"{email} is already a member.")
    Invitation.all_tenants.filter(
        organisation=organisation, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).filter(expires_at__lte=timezone.now()).update(revoked_at=timezone.now())
    if _seats_left(organisation) < 1:
        raise LimitExceededError(
            f"The plan allows {organisation.max_members} members, invitations included."
        )
    token, _, token_hash = new_secret(INVITATION)
    try:
        with transaction.atomic():
            invitation = Invitation.all_tenants.create(
                organisation=organisation,
                email=email,
                role=role,
                token_hash=token_hash,
                invited_by_id=actor.user_id,
                expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
            )
    except IntegrityError as exc:
        raise ConflictError(f"{email} already has a pending invitation.") from exc
    event_record(
        organisation=organisation,
        actor=actor,
        type="invitation.created",
        subject=subject_of(invitation),
        payload={"email": email, "role": role},
    )
    _send_invitation(invitation, token)
    return IssuedInvitation(invitation, token)


def _pending_or_conflict(invitation: Invitation) -> None:
    if invitation.status not in ("pending", "expired"):
        raise ConflictError(f"The invitation is {invitation.status}.")


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor: Actor) -> IssuedInvitation:
    """Issue a fresh token and expiry; the old link stops working."""
    _pending_or_conflict(invitation)
    token, _, token_hash = new_secret(INVITATION)
    invitation.token_hash = token_hash
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)
    invitation.save(update_fields=("token_hash", "expires_at"))
    event_record(
        organisation=invitation.organisation,
        actor=actor,
        type="invitation.resent",
        subject=subject_of(invitation),
        payload={"email": invitation.email},
    )
    _send_invitation(invitation, token)
    return IssuedInvitation(invitation, token)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Actor) -> Invitation:
    """Withdraw a pending invitation."""
    _pending_or_conflict(invitation)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=("revoked_at",))
    event_record(
        organisation=invitation.organisation,
        actor=actor,
        type="invitation.revoked",
        subject=subject_of(invitation),
        payload={"email": invitation.email},
    )
    return invitation


@transaction.atomic
def invitation_accept(
    *, token: str, user: User | None = None, password: str = "", full_name: str = ""
) -> Membership:
    """Turn a valid invitation into a membership; creates the account when there is none.

    A logged-in user must be the invited address; an anonymous caller sets a password, unless an
    account exists for the address already (then they must log in first).
    """
    invitation = (
        Invitation.all_tenants.select_for_update()
        .select_related("organisation")
        .filter(token_hash=hash_secret(token))
        .first()
    )
    if invitation is None or invitation.status != "pending":
        raise InvitationInvalidError("This invitation link is not valid any more.")
    if user is not None and user.email != invitation.email:
        raise RoleError("This invitation was sent to another address.")
    if user is None:
        if User.objects.filter(email=invitation.email).exists():
            raise ConflictError("An account exists for this address: log in, then accept.")
        _validate_password(password, User(email=invitation.email, full_name=full_name))
        user = User.objects.create_user(invitation.email, password, full_name=full_name)
    if Membership.all_tenants.filter(organisation=invitation.organisation, user=user).exists():
        raise ConflictError("You are already a member of this organisation.")
    invitation.accepted_at, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=("accepted_at", "accepted_by"))
    actor = Actor.of_user(user)
    event_record(
        organisation=invitation.organisation,
        actor=actor,
        type="invitation.accepted",
        subject=subject_of(invitation),
        payload={"email": invitation.email},
    )
    membership = Membership.all_tenants.create(
        organisation=invitation.organisation, user=user, role=invitation.role
    )
    _record_membership(membership, actor, "membership.created", {"role": invitation.role})
    return membership


# --- API keys -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(API_KEY_SCOPES))
    if unknown:
        raise DomainError(f"Unknown scopes: {', '.join(unknown)}.")
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(
    *,
    organisation: Organisation,
    name: str,
    scopes: Iterable[str],
    actor: Actor,
    expires_at: datetime | None = None,
) -> IssuedApiKey:
    """Issue a key; the secret is returned here once and only its hash is kept."""
    scopes = _check_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise DjangoValidationError({"expires_at": ["Must be in the future."]})
    Organisation.objects.select_for_update().get(pk=organisation.pk)
    active = (
        ApiKey.all_tenants.filter(organisation=organisation, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .count()
    )
    if active >= organisation.max_api_keys:
        raise LimitExceededError(f"The plan allows {organisation.max_api_keys} active API keys.")
    secret, prefix, key_hash = new_secret("cak")
    api_key = ApiKey.all_tenants.create(
        organisation=organisation,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        scopes=scopes,
        expires_at=expires_at,
        created_by_id=actor.user_id,
    )
    event_record(
        organisation=organisation,
        actor=actor,
        type="api_key.created",
        subject=subject_of(api_key),
        payload={"name": name, "prefix": prefix, "scopes": scopes, "expires_at": expires_at},
    )
    return IssuedApiKey(api_key, secret)


@transaction.atomic
def api_key_update(*, api_key: ApiKey, actor: Actor, name: str) -> ApiKey:
    """Rename a key (its secret and scopes never change: issue a new key instead)."""
    if api_key.name == name:
        return api_key
    previous, api_key.name = api_key.name, name
    api_key.save(update_fields=("name",))
    event_record(
        organisation=api_key.organisation,
        actor=actor,
        type="api_key.updated",
        subject=subject_of(api_key),
        payload={"changes": {"name": {"from": previous, "to": name}}},
    )
    return api_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke at once: the next request with it gets 401. Revoking twice is a no-op."""
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=("revoked_at",))
    event_record(
        organisation=api_key.organisation,
        actor=actor,
        type="api_key.revoked",
        subject=subject_of(api_key),
        payload={"name": api_key.name, "prefix": api_key.prefix},
    )
    return api_key


# --- App tokens and passwords -------------------------------------------------------------------


def auth_token_create(*, user: User, name: str = "") -> tuple[AuthToken, str]:
    """Issue an app token for a user who just proved their password."""
    secret, prefix, key_hash = new_secret(APP_TOKEN)
    token = AuthToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        expires_at=timezone.now() + timedelta(days=settings.AUTH_TOKEN_TTL_DAYS),
    )
    return token, secret


def auth_token_revoke(*, token: AuthToken) -> None:
    AuthToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def password_reset_request(*, email: str) -> None:
    """Mail a reset link if the address has an active account; says nothing either way."""
    user = User.objects.filter(email=normalise_email(email), is_active=True).first()
    if user is None:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = f"{settings.FRONTEND_URL}/password-reset?uid={uid}&token={token}"
    _email_after_commit(
        to=user.email,
        subject="Reset your crisis-api password",
        body=f"Someone asked to reset your password. If it was you, open:\n\n{link}\n",
    )


@transaction.atomic
def password_reset_confirm(*, user: User, password: str) -> None:
    """Set the new password and revoke every app token of the account."""
    _validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=("password",))
    AuthToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
