"""Where mentions come from: polled sources (feeds, social platforms) and inbound push, and the
organisation's watch terms that every mention is matched against."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from organisations.models import TenantModel, User


class Source(TenantModel):  # type: ignore[django-manager-missing]
    """One feed, account, search or push endpoint; its schedule, cursor and health are columns.

    Credentials are Fernet-encrypted and never leave through the API; a push source's `whsec_`
    secret is shown once on creation or rotation. `lease_token`/`lease_until` make a poll
    exclusive: a sweeper or worker polls only a source it has claimed.
    """

    class Kind(models.TextChoices):
        FEED = "feed", "RSS / Atom feed"
        MASTODON = "mastodon", "Mastodon"
        BLUESKY = "bluesky", "Bluesky"
        REDDIT = "reddit", "Reddit"
        X = "x", "X (Twitter)"
        PUSH = "push", "Inbound push"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    config = models.JSONField(default=dict, help_text="Validated per kind (URL, query, …).")
    credentials_ciphertext = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    poll_interval_seconds = models.PositiveIntegerField(default=300)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    cursor = models.JSONField(default=dict, help_text="ETag, since_id, after, … per kind.")
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    backoff_until = models.DateTimeField(null=True, blank=True)
    push_secret_ciphertext = models.TextField(blank=True)
    push_secret_hint = models.CharField(max_length=16, blank=True)
    previous_push_secret_ciphertext = models.TextField(blank=True)
    previous_push_secret_expires_at = models.DateTimeField(null=True, blank=True)
    mentions_stored = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "id")
        indexes = (
            models.Index(
                fields=("next_poll_at",),
                condition=models.Q(status="active") & ~models.Q(kind="push"),
                name="source_due",
            ),
        )

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_polled(self) -> bool:
        return self.kind != Source.Kind.PUSH

    @property
    def health(self) -> str:
        """ok, failing (last poll failed), backing_off (waiting out a failure) or unknown."""
        if self.backoff_until and self.backoff_until > timezone.now():
            return "backing_off"
        if self.consecutive_failures:
            return "failing"
        return "ok" if self.last_success_at else "unknown"


class WatchTerm(TenantModel):
    """A phrase the organisation watches for (its brand, products, people, alarm words)."""

    class Kind(models.TextChoices):
        BRAND = "brand", "Brand"
        PRODUCT = "product", "Product"
        PERSON = "person", "Person"
        ALARM = "alarm", "Alarm"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phrase = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BRAND)
    language = models.CharField(max_length=8, blank=True, help_text="Empty: any language.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("phrase", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "phrase", "language"), name="watchterm_unique_phrase"
            ),
        )

    def __str__(self) -> str:
        return self.phrase


class WatchTermVersion(models.Model):
    """Bumped on every watch-term change so workers know their cached matcher is stale."""

    organisation = models.OneToOneField(
        "organisations.Organisation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"watch terms v{self.version} of {self.organisation_id}"
