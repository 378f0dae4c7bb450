"""Tenants and who may do what in them: users, organisations, memberships, keys, the event log."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager


class Role(models.TextChoices):
    """A member's role in one organisation; each API action lists the roles it admits."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    CRISIS_MANAGER = "crisis_manager", "Crisis manager"
    COMMS_LEAD = "comms_lead", "Communications lead"
    APPROVER = "approver", "Approver"
    RESPONDER = "responder", "Responder"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


class UserManager(BaseUserManager["User"]):
    """Users are found by their e-mail address, stored lower-cased so look-ups are exact."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=normalise_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]
    """A person; logs in with e-mail. Which organisations they see comes from memberships."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May log in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email


class Organisation(models.Model):  # type: ignore[django-manager-missing]
    """A tenant. Suspending one blocks its API access; nothing of it is deleted."""

    class Plan(models.TextChoices):
        FREE = "free", "Free"
        TEAM = "team", "Team"
        ENTERPRISE = "enterprise", "Enterprise"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.FREE)
    max_members = models.PositiveIntegerField(default=10)
    max_api_keys = models.PositiveIntegerField(default=5)
    max_sources = models.PositiveIntegerField(default=10)
    sms_monthly_cap = models.PositiveIntegerField(default=100)
    email_monthly_cap = models.PositiveIntegerField(default=5000)
    mention_retention_days = models.PositiveIntegerField(default=90)
    drill_webhooks_enabled = models.BooleanField(
        default=False,
        help_text="Deliver drill incidents' events to customer webhooks (off: drills stay inside).",
    )
    first_response_sla_minutes = models.PositiveIntegerField(
        default=60, help_text="Complaint cases are due a first response within this time."
    )
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


PLAN_LIMITS: dict[str, dict[str, int]] = {
    Organisation.Plan.FREE: {
        "max_members": 10,
        "max_api_keys": 5,
        "max_sources": 10,
        "sms_monthly_cap": 100,
        "email_monthly_cap": 5_000,
        "mention_retention_days": 90,
    },
    Organisation.Plan.TEAM: {
        "max_members": 100,
        "max_api_keys": 25,
        "max_sources": 100,
        "sms_monthly_cap": 2_000,
        "email_monthly_cap": 50_000,
        "mention_retention_days": 365,
    },
    Organisation.Plan.ENTERPRISE: {
        "max_members": 2_000,
        "max_api_keys": 200,
        "max_sources": 2_000,
        "sms_monthly_cap": 50_000,
        "email_monthly_cap": 1_000_000,
        "mention_retention_days": 730,
    },
}


class TenantModel(models.Model):
    """Base of every tenant-owned row: `objects` refuses to query outside an organisation scope.

    The scope is opened once per request by the tenant base viewset (and per task by tasks), so a
    query that forgot the tenant fails loudly instead of leaking. `all_tenants` is the explicit,
    greppable way out for authentication, admin and cross-tenant sweepers.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE)

    objects = ScopedManager(organisation="organisation")  # type: ignore[django-manager-missing]
    all_tenants = models.Manager()  # noqa: DJ012 - `objects` (scoped) must stay the default

    class Meta:
        abstract = True


class Membership(TenantModel):
    """One user's role in one organisation; an organisation always keeps at least one owner."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("organisation", "user"), name="membership_unique_user"),
        )
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organisation_id} as {self.role}"


class Invitation(TenantModel):
    """An e-mailed offer to join with a role; the token is stored hashed and works once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField()
    role = models.CharField(max_length=32, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending_per_email",
            ),
        )

    def __str__(self) -> str:
        return f"invitation of {self.email}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiKey(TenantModel):
    """An integrator's credential: only a SHA-256 of the secret is kept; the prefix finds it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class AuthToken(models.Model):
    """A first-party app's bearer token for one user; hashed like API keys, expiring, revocable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"token {self.prefix} of {self.user_id}"


class EventChainHead(models.Model):
    """The last link of one organisation's event chain; locked FOR UPDATE to append in order."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, primary_key=True, related_name="event_chain"
    )
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"chain head {self.organisation_id}@{self.seq}"


class Event(TenantModel):
    """Append-only, hash-chained record of every state change: audit log, timeline and outbox.

    Every column but `dispatched_at` (the outbox's progress) is covered by `hash`, which also
    covers the previous event's hash; on PostgreSQL a trigger refuses UPDATE of covered columns
    and DELETE.
    """

    class ActorType(models.TextChoices):
        USER = "user", "User"
        API_KEY = "api_key", "API key"
        SYSTEM = "system", "System"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT)
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("organisation", "seq")
        constraints = (
            models.UniqueConstraint(fields=("organisation", "seq"), name="event_unique_seq"),
        )
        indexes = (
            models.Index(fields=("organisation", "type", "seq"), name="event_type_idx"),
            models.Index(
                fields=("organisation", "subject_type", "subject_id", "seq"),
                name="event_subject_idx",
            ),
            models.Index(fields=("organisation", "occurred_at"), name="event_time_idx"),
            models.Index(
                fields=("occurred_at",),
                condition=models.Q(dispatched_at__isnull=True),
                name="event_undispatched_idx",
            ),
        )

    def __str__(self) -> str:
        return f"{self.type} #{self.seq}"
