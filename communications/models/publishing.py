"""Publishing: platform accounts, one publication per message and channel, the status page."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from communications.models.messages import Message
from communications.models.templates import Channel
from incidents.models import Incident
from organisations.models import TenantModel


class ChannelAccount(TenantModel):
    """The organisation's account on a social platform; credentials encrypted at rest."""

    class Platform(models.TextChoices):
        MASTODON = "mastodon", "Mastodon"
        BLUESKY = "bluesky", "Bluesky"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    base_url = models.URLField(
        help_text="Mastodon instance or Bluesky PDS, e.g. https://bsky.social"
    )
    handle = models.CharField(max_length=200, help_text="Bluesky identifier or Mastodon account.")
    credential_ciphertext = models.TextField()
    credential_hint = models.CharField(max_length=16, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("platform", "handle")
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "platform"),
                condition=models.Q(is_active=True),
                name="channel_account_one_active",
            ),
        )

    def __str__(self) -> str:
        return f"{self.platform}:{self.handle}"


class Publication(TenantModel):
    """One message on one channel for one content hash. Claimed by a conditional UPDATE before
    each attempt, so a retried publish never posts twice; `sent` is final."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (drill)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="publications")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    content_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=500, blank=True)
    external_url = models.URLField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    retryable = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "channel")
        constraints = (
            models.UniqueConstraint(
                fields=("message", "channel", "content_hash"), name="publication_unique"
            ),
        )

    def __str__(self) -> str:
        return f"{self.channel} of {self.message_id}: {self.status}"


class StatusPage(TenantModel):
    """The organisation's public status timeline settings (JSON + Atom at /public/{org}/)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    enabled = models.BooleanField(default=False)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    history_days = models.PositiveSmallIntegerField(default=90)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("organisation",), name="status_page_one_per_org"),
        )

    def __str__(self) -> str:
        return self.title or f"status page of {self.organisation_id}"


class StatusUpdate(TenantModel):
    """A published public update on the status timeline; written only by publishing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="status_update")
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    label = models.CharField(max_length=16, choices=Message.StatusLabel.choices, blank=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    published_at = models.DateTimeField()

    class Meta:
        ordering = ("-published_at", "-id")
        indexes = (models.Index(fields=("organisation", "-published_at"), name="status_recent"),)

    def __str__(self) -> str:
        return self.title
