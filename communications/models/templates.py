"""Message templates: reusable texts with allow-listed `{{ variables }}` and legal approval."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from organisations.models import TenantModel, User


class Language(models.TextChoices):
    """Languages the content checker understands; every text declares one."""

    EN = "en", "English"
    PL = "pl", "Polish"


class Channel(models.TextChoices):
    """Where a message can be published."""

    STATUS_PAGE = "status_page", "Public status timeline"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Outbound webhooks"


# Platform limits on one post, in characters (Bluesky: graphemes, see services/renditions.py).
CHANNEL_LIMITS: dict[str, int] = {
    Channel.STATUS_PAGE: 5000,
    Channel.MASTODON: 500,
    Channel.BLUESKY: 300,
    Channel.EMAIL: 50_000,
    Channel.WEBHOOK: 10_000,
}
# Channels whose text the public reads (personal data there is a block, not a warning).
PUBLIC_CHANNELS = frozenset({Channel.STATUS_PAGE, Channel.MASTODON, Channel.BLUESKY})


class MessageKind(models.TextChoices):
    """What a message is for; approval policies and content rules are chosen by kind."""

    PUBLIC_STATEMENT = "public_statement", "Public statement"
    STATUS_UPDATE = "status_update", "Status update"
    REPLY = "reply", "Reply to a mention or case"
    INTERNAL_UPDATE = "internal_update", "Internal update"
    STAKEHOLDER_EMAIL = "stakeholder_email", "Stakeholder e-mail"


PUBLIC_KINDS = frozenset(
    {MessageKind.PUBLIC_STATEMENT, MessageKind.STATUS_UPDATE, MessageKind.REPLY}
)


class Audience(models.TextChoices):
    PUBLIC = "public", "Public"
    CUSTOMERS = "customers", "Customers"
    COMPLAINANT = "complainant", "One complainant"
    STAKEHOLDERS = "stakeholders", "Stakeholders"
    INTERNAL = "internal", "Internal"


class MessageTemplate(TenantModel):
    """A reusable text; only allow-listed variables, checked when saved and when rendered.

    Editing the body withdraws its legal approval; a legal approval lapses at its expiry."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=24, choices=MessageKind.choices)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.PUBLIC)
    channel = models.CharField(
        max_length=16, choices=Channel.choices, blank=True, help_text="Blank: any channel."
    )
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    variables = models.JSONField(default=list, help_text="Names used in title and body.")
    closes_the_loop = models.BooleanField(
        default=False,
        help_text="Proposed as a reply to every open case of an incident when it is resolved.",
    )
    requires_legal_approval = models.BooleanField(default=False)
    legal_approved_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    legal_approved_at = models.DateTimeField(null=True, blank=True)
    legal_approval_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "name", "language"), name="template_unique_name"
            ),
        )

    def __str__(self) -> str:
        return self.name

    @property
    def legal_status(self) -> str:
        if not self.requires_legal_approval:
            return "not_required"
        if self.legal_approved_at is None:
            return "pending"
        if self.legal_approval_expires_at and self.legal_approval_expires_at <= timezone.now():
            return "expired"
        return "approved"
