"""Mentions: one stored post per source and external id, with its scores and inbox state."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from monitoring.models.sources import Source
from organisations.models import TenantModel, User


class Mention(TenantModel):
    """A post about the organisation, scored once at ingest; unique per (source, external id)
    so a repeated poll or push never stores it twice."""

    class SentimentLabel(models.TextChoices):
        NEGATIVE = "negative", "Negative"
        NEUTRAL = "neutral", "Neutral"
        POSITIVE = "positive", "Positive"

    class Status(models.TextChoices):
        NEW = "new", "New"
        REVIEWED = "reviewed", "Reviewed"
        IGNORED = "ignored", "Ignored"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="mentions")
    external_id = models.CharField(max_length=255)
    url = models.URLField(max_length=2000, blank=True)
    author_handle = models.CharField(max_length=255, blank=True)
    author_name = models.CharField(max_length=255, blank=True)
    author_id = models.CharField(max_length=255, blank=True)
    author_followers = models.PositiveBigIntegerField(null=True, blank=True)
    reach = models.FloatField(default=0.0, help_text="0..1 from the author's audience.")
    text = models.TextField()
    posted_at = models.DateTimeField()
    fetched_at = models.DateTimeField(default=timezone.now)
    language = models.CharField(max_length=8, blank=True)
    language_confidence = models.FloatField(default=0.0)
    sentiment = models.FloatField(default=0.0, help_text="-1 (negative) .. 1 (positive).")
    sentiment_label = models.CharField(
        max_length=16, choices=SentimentLabel.choices, default=SentimentLabel.NEUTRAL
    )
    toxicity = models.FloatField(default=0.0)
    offensive = models.BooleanField(default=False)
    matched_terms = models.JSONField(
        default=list, help_text="[{term_id, start, end, text}] watch-term hits with spans."
    )
    explanation = models.JSONField(default=dict)
    engine_version = models.CharField(max_length=32, blank=True)
    flagged = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    case = models.ForeignKey(
        "monitoring.Case", on_delete=models.SET_NULL, null=True, blank=True, related_name="mentions"
    )
    # True from insert until `cases_group` has looked at the mention (in its transaction): a
    # batch whose after-commit grouping task was lost (broker down, worker killed) is found by
    # the grouping sweep. A column default, so storing a batch costs no extra statement (and
    # in the database too: a row inserted by any other means is pending, never lost).
    grouping_pending = models.BooleanField(default=True, db_default=True, editable=False)

    class Meta:
        ordering = ("-posted_at", "-id")
        constraints = (
            models.UniqueConstraint(fields=("source", "external_id"), name="mention_once"),
        )
        indexes = (
            models.Index(fields=("organisation", "posted_at"), name="mention_by_time"),
            models.Index(
                fields=("organisation", "posted_at"),
                condition=models.Q(sentiment_label="negative"),
                name="mention_negative_by_time",
            ),
            models.Index(fields=("organisation", "source", "posted_at"), name="mention_by_source"),
            models.Index(fields=("organisation", "status", "posted_at"), name="mention_by_status"),
            models.Index(
                fields=("organisation", "posted_at"),
                condition=models.Q(flagged=True),
                name="mention_flagged",
            ),
            models.Index(
                fields=("organisation", "fetched_at"),
                condition=models.Q(grouping_pending=True),
                name="mention_grouping_pending",
            ),
        )

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"
