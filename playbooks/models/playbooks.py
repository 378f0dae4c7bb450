"""A playbook is an editable draft plus the immutable versions published from it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, NoReturn

from django.db import models
from django.utils import timezone
from django_scopes import ScopedManager

from incidents.models import CrisisType
from organisations.models import TenantModel, User


class StepKind(models.TextChoices):
    """What a playbook step does when its dependencies are done."""

    TASK = "task", "Task"
    NOTIFY = "notify", "Notify"
    DRAFT_MESSAGE = "draft_message", "Draft a message from a template"
    APPROVAL_GATE = "approval_gate", "Approval gate"
    WAIT = "wait", "Wait"


AUDIENCES: tuple[str, ...] = (
    "public",
    "customers",
    "employees",
    "press",
    "partners",
    "executives",
    "regulators",
)
CHANNELS: tuple[str, ...] = (
    "email",
    "sms",
    "phone",
    "social",
    "website",
    "status_page",
    "press_release",
    "intranet",
    "slack",
    "teams",
    "meeting",
)
RACI_LETTERS: tuple[str, ...] = ("R", "A", "C", "I")


class Playbook(TenantModel):  # type: ignore[django-manager-missing]
    """The plan for a kind of crisis. Its draft contents are edited freely; publishing freezes
    them into a new numbered PlaybookVersion, which is what runs use."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    crisis_types = models.ManyToManyField(
        CrisisType, blank=True, related_name="+", help_text="Empty: applies to every type."
    )
    min_severity_rank = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Applies to incidents of this rank or worse (1 is worst)."
    )
    auto_start = models.BooleanField(
        default=True, help_text="Start on matching incidents without anyone asking."
    )
    steps = models.JSONField(default=list, blank=True)
    raci = models.JSONField(default=list, blank=True)
    comms_matrix = models.JSONField(default=list, blank=True)
    holding_statements = models.JSONField(default=list, blank=True)
    review_period_days = models.PositiveIntegerField(default=180)
    next_review_at = models.DateTimeField(null=True, blank=True)
    review_reminded_for = models.DateTimeField(
        null=True, blank=True, help_text="The review time whose lapse was already announced."
    )
    current_version = models.ForeignKey(
        "PlaybookVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    has_draft_changes = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name", "id")
        constraints = (
            models.UniqueConstraint(fields=("organisation", "name"), name="playbook_unique_name"),
        )
        indexes = (
            models.Index(
                fields=("next_review_at",),
                condition=models.Q(next_review_at__isnull=False),
                name="playbook_review_due",
            ),
        )

    def __str__(self) -> str:
        return self.name

    @property
    def review_period(self) -> timedelta:
        return timedelta(days=self.review_period_days)


class ImmutableQuerySet(models.QuerySet["PlaybookVersion"]):
    """Bulk writes would bypass `save()`; a published version refuses them too."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise PublishedVersionImmutableError("A published playbook version cannot be changed.")

    def delete(self) -> NoReturn:
        raise PublishedVersionImmutableError("A published playbook version cannot be deleted.")


class PublishedVersionImmutableError(Exception):
    """Something tried to change or delete a published playbook version."""


class PlaybookVersion(TenantModel):  # type: ignore[django-manager-missing]
    """One published, numbered, frozen copy of a playbook: conditions, steps, RACI, comms matrix
    and holding statements. Never updated nor deleted (refused by the model, its queryset and,
    on PostgreSQL, a trigger)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    crisis_type_ids = models.JSONField(default=list, blank=True)
    min_severity_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    steps = models.JSONField(default=list)
    raci = models.JSONField(default=list)
    comms_matrix = models.JSONField(default=list)
    holding_statements = models.JSONField(default=list)
    content_hash = models.CharField(max_length=64)
    note = models.TextField(blank=True, help_text="What changed, in the publisher's words.")
    published_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager(  # type: ignore[misc, django-manager-missing]
        organisation="organisation",
        _manager_class=models.Manager.from_queryset(ImmutableQuerySet),
    )
    all_tenants = models.Manager.from_queryset(ImmutableQuerySet)()  # type: ignore[misc]

    class Meta:
        ordering = ("playbook", "-number")
        constraints = (
            models.UniqueConstraint(fields=("playbook", "number"), name="playbookversion_unique"),
        )

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PublishedVersionImmutableError("A published playbook version cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PublishedVersionImmutableError("A published playbook version cannot be deleted.")

    def step(self, key: str) -> dict[str, Any] | None:
        return next((s for s in self.steps if s["key"] == key), None)
