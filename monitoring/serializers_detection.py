"""Inputs (strict) and outputs of detection rules, signals, cases and incident mention links."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crisis_api.api.serializers import MemberField, StrictInput, TenantRelatedField
from incidents.models import CrisisType, Incident, Severity
from incidents.serializers import visible_incidents
from monitoring.models import Case, DetectionRule, Mention, Signal, Source
from monitoring.services.cases import allowed_case_actions
from monitoring.services.signals import allowed_signal_actions
from organisations.serializers import UserOutput

R = DetectionRule


class RefOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class IncidentRefOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    reference = serializers.CharField()
    status = serializers.CharField()


# --- rules --------------------------------------------------------------------------------------


class DetectionRuleOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    metric = serializers.ChoiceField(choices=R.Metric.choices)
    method = serializers.ChoiceField(choices=R.Method.choices)
    threshold = serializers.FloatField()
    window_minutes = serializers.IntegerField()
    baseline_minutes = serializers.IntegerField()
    min_volume = serializers.IntegerField()
    min_followers = serializers.IntegerField()
    keywords = serializers.ListField(child=serializers.CharField())
    languages = serializers.ListField(child=serializers.CharField())
    sources = serializers.ListField(child=serializers.UUIDField(), source="source_ids")
    cooldown_minutes = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=R.Mode.choices)
    action = serializers.ChoiceField(choices=R.Action.choices)
    crisis_type = RefOutput(allow_null=True)
    severity = RefOutput(allow_null=True)
    last_evaluated_at = serializers.DateTimeField(allow_null=True)
    last_fired_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DetectionRuleInput(StrictInput):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    metric = serializers.ChoiceField(choices=R.Metric.choices)
    method = serializers.ChoiceField(choices=R.Method.choices, default=R.Method.THRESHOLD)
    threshold = serializers.FloatField(default=1.0, min_value=0.0, max_value=1_000_000.0)
    window_minutes = serializers.IntegerField(default=60, min_value=1, max_value=7 * 24 * 60)
    baseline_minutes = serializers.IntegerField(default=720, min_value=1, max_value=30 * 24 * 60)
    min_volume = serializers.IntegerField(default=1, min_value=0, max_value=1_000_000)
    min_followers = serializers.IntegerField(default=10_000, min_value=0)
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=200, default=list
    )
    languages = serializers.ListField(
        child=serializers.CharField(max_length=8), max_length=20, default=list
    )
    sources = serializers.ListField(
        child=TenantRelatedField(Source), max_length=100, required=False
    )
    cooldown_minutes = serializers.IntegerField(default=60, min_value=1, max_value=30 * 24 * 60)
    mode = serializers.ChoiceField(choices=R.Mode.choices, default=R.Mode.MONITOR)
    action = serializers.ChoiceField(choices=R.Action.choices, default=R.Action.SIGNAL)
    crisis_type = TenantRelatedField(CrisisType, required=False, allow_null=True)
    severity = TenantRelatedField(Severity, required=False, allow_null=True)


# --- signals ------------------------------------------------------------------------------------


class SignalOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    rule = serializers.SerializerMethodField()
    metric = serializers.ChoiceField(choices=R.Metric.choices)
    mode = serializers.ChoiceField(choices=R.Mode.choices)
    status = serializers.ChoiceField(choices=Signal.Status.choices)
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    observed = serializers.FloatField()
    baseline = serializers.FloatField(allow_null=True)
    score = serializers.FloatField()
    breakdown = serializers.DictField()
    sample_mention_ids = serializers.ListField(child=serializers.UUIDField())
    dismiss_reason = serializers.CharField()
    note = serializers.CharField()
    snoozed_until = serializers.DateTimeField(allow_null=True)
    incident = IncidentRefOutput(allow_null=True)
    triaged_by = UserOutput(allow_null=True)
    triaged_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    allowed_actions = serializers.SerializerMethodField()

    def get_rule(self, signal: Signal) -> dict[str, Any]:
        return {"id": str(signal.rule_id) if signal.rule_id else None, "name": signal.rule_name}

    def get_allowed_actions(self, signal: Signal) -> list[str]:
        return allowed_signal_actions(signal.status)


class SignalEscalateInput(StrictInput):
    title = serializers.CharField(max_length=200, required=False, default="")
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    crisis_type = TenantRelatedField(CrisisType, required=False, allow_null=True)
    severity = TenantRelatedField(Severity, required=False, allow_null=True)


class IncidentLinkInput(StrictInput):
    incident = TenantRelatedField(Incident, limit=visible_incidents)


class SignalDismissInput(StrictInput):
    reason = serializers.ChoiceField(choices=Signal.DismissReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SignalSnoozeInput(StrictInput):
    until = serializers.DateTimeField()


# --- cases --------------------------------------------------------------------------------------


class CaseOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    platform = serializers.CharField()
    author_key = serializers.CharField()
    author_handle = serializers.CharField()
    author_name = serializers.CharField()
    status = serializers.ChoiceField(choices=Case.Status.choices)
    assignee = UserOutput(allow_null=True)
    incident = IncidentRefOutput(allow_null=True)
    mention_count = serializers.IntegerField()
    first_mention_at = serializers.DateTimeField(allow_null=True)
    last_mention_at = serializers.DateTimeField(allow_null=True)
    first_response_due_at = serializers.DateTimeField(allow_null=True)
    first_responded_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    allowed_actions = serializers.SerializerMethodField()

    def get_allowed_actions(self, case: Case) -> list[str]:
        return allowed_case_actions(case.status)


class CaseAssignInput(StrictInput):
    assignee = MemberField(allow_null=True)


class CaseLinkInput(StrictInput):
    incident = TenantRelatedField(Incident, limit=visible_incidents, allow_null=True)


class CaseMentionOutput(serializers.Serializer[Any]):
    """A mention of the case's thread (the inbox shows the full record)."""

    id = serializers.UUIDField()
    source_id = serializers.UUIDField()
    external_id = serializers.CharField()
    url = serializers.CharField()
    author_handle = serializers.CharField()
    text = serializers.CharField()
    posted_at = serializers.DateTimeField()
    language = serializers.CharField()
    sentiment = serializers.FloatField()
    sentiment_label = serializers.ChoiceField(choices=Mention.SentimentLabel.choices)
    toxicity = serializers.FloatField()


# --- incident mention links ---------------------------------------------------------------------


class IncidentMentionOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    incident = IncidentRefOutput()
    mention = CaseMentionOutput()
    signal_id = serializers.UUIDField(allow_null=True)
    added_by = UserOutput(allow_null=True)
    created_at = serializers.DateTimeField()


class IncidentMentionInput(StrictInput):
    incident = TenantRelatedField(Incident, limit=visible_incidents)
    mention = TenantRelatedField(Mention)
