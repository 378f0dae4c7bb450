"""Detection: rules that watch the mention stream (negative volume against a baseline, negative
share, alarm keywords, high-reach critics), and the signals they raise."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

from incidents.models import CrisisType, Incident, Severity
from monitoring.models.sources import Source
from organisations.models import TenantModel, User


class DetectionRule(TenantModel):  # type: ignore[django-manager-missing]
    """What counts as a crisis signal for one organisation, and what happens when it fires.

    Counts are computed in the database over the rule's window and baseline; a rule fires at
    most once per cooldown (the rule row is locked while it is evaluated, and a signal's
    dedupe key is unique). In monitor mode it records what would have fired and acts on nothing.
    """

    class Metric(models.TextChoices):
        NEGATIVE_VOLUME = "negative_volume", "Negative volume vs baseline"
        NEGATIVE_SHARE = "negative_share", "Share of negative mentions"
        ALARM_KEYWORD = "alarm_keyword", "Alarm keywords"
        HIGH_REACH_NEGATIVE = "high_reach_negative", "Negative post by a high-reach author"

    class Method(models.TextChoices):
        THRESHOLD = "threshold", "Observed value ≥ threshold"
        RATIO = "ratio", "Observed ≥ threshold times the baseline"
        ZSCORE = "zscore", "Z-score against the baseline windows ≥ threshold"

    class Mode(models.TextChoices):
        ACTIVE = "active", "Active"
        MONITOR = "monitor", "Monitor (record only, no actions)"
        DISABLED = "disabled", "Disabled"

    class Action(models.TextChoices):
        SIGNAL = "signal", "Create a signal for triage"
        NOTIFY = "notify", "Create a signal and notify members"
        AUTO_DECLARE = "auto_declare", "Declare an incident"
        LINK_INCIDENT = "link_incident", "Link to the open incident"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    metric = models.CharField(max_length=32, choices=Metric.choices)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.THRESHOLD)
    threshold = models.FloatField(default=1.0)
    window_minutes = models.PositiveIntegerField(default=60)
    baseline_minutes = models.PositiveIntegerField(
        default=720, help_text="History the window is compared with (ratio, z-score)."
    )
    min_volume = models.PositiveIntegerField(
        default=1, help_text="Mentions the window needs before the rule can fire."
    )
    min_followers = models.PositiveBigIntegerField(
        default=10_000, help_text="High-reach negative: the author's audience at least this."
    )
    keywords = models.JSONField(
        default=list, help_text="Alarm keyword: words besides the alarm watch terms."
    )
    languages = models.JSONField(default=list, help_text="Only these languages (empty: any).")
    sources = models.ManyToManyField(Source, blank=True, related_name="+")
    cooldown_minutes = models.PositiveIntegerField(default=60)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.MONITOR)
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.SIGNAL)
    crisis_type = models.ForeignKey(
        CrisisType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    severity = models.ForeignKey(
        Severity, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name", "id")
        indexes = (
            models.Index(
                fields=("organisation",),
                condition=~models.Q(mode="disabled"),
                name="rule_enabled",
            ),
        )

    def __str__(self) -> str:
        return self.name

    @property
    def source_ids(self) -> list[uuid.UUID]:
        """The sources it watches (empty: all); reads the prefetched relation."""
        return [source.pk for source in self.sources.all()]

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @property
    def cooldown(self) -> timedelta:
        return timedelta(minutes=self.cooldown_minutes)


class Signal(TenantModel):
    """One firing of a rule: what it saw against its baseline, and its triage.

    new → escalated (an incident was declared) | linked (to an existing incident) |
    dismissed (with a reason) | snoozed (until a time; the rule stays quiet meanwhile).
    `dedupe_key` (rule + cooldown period) is unique, so a re-run never raises it twice.
    """

    class Status(models.TextChoices):
        NEW = "new", "New"
        ESCALATED = "escalated", "Escalated"
        LINKED = "linked", "Linked"
        DISMISSED = "dismissed", "Dismissed"
        SNOOZED = "snoozed", "Snoozed"

    class DismissReason(models.TextChoices):
        FALSE_POSITIVE = "false_positive", "False positive"
        BENIGN = "benign", "Benign"
        INSUFFICIENT_INFORMATION = "insufficient_information", "Insufficient information"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rule = models.ForeignKey(
        DetectionRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="signals"
    )
    rule_name = models.CharField(max_length=200)
    metric = models.CharField(max_length=32, choices=DetectionRule.Metric.choices)
    mode = models.CharField(max_length=16, choices=DetectionRule.Mode.choices)
    dedupe_key = models.CharField(max_length=100)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    observed = models.FloatField()
    baseline = models.FloatField(null=True, blank=True)
    score = models.FloatField(help_text="Observed against the threshold, as the rule computed.")
    breakdown = models.JSONField(default=dict, help_text="Everything the rule computed.")
    sample_mention_ids = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    dismiss_reason = models.CharField(max_length=32, choices=DismissReason.choices, blank=True)
    note = models.TextField(blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    triaged_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    triaged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (
            models.UniqueConstraint(
                fields=("organisation", "dedupe_key"), name="signal_once_per_rule_period"
            ),
        )
        indexes = (
            models.Index(fields=("organisation", "status", "-created_at"), name="signal_status"),
            models.Index(fields=("rule", "status"), name="signal_rule_status"),
        )

    def __str__(self) -> str:
        return f"{self.rule_name} at {self.window_end:%Y-%m-%d %H:%M}"


class IncidentMention(TenantModel):
    """A mention attached to an incident as evidence (by hand, or from an escalated signal)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    mention = models.ForeignKey("monitoring.Mention", on_delete=models.CASCADE, related_name="+")
    signal = models.ForeignKey(
        Signal, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (
            models.UniqueConstraint(fields=("incident", "mention"), name="incident_mention_once"),
        )

    def __str__(self) -> str:
        return f"{self.mention_id} in {self.incident_id}"
