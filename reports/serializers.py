"""Query parameters of reports and exports (strict: an unknown parameter is a 400)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rest_framework import serializers

from crisis_api.api.serializers import StrictInput, TenantRelatedField
from incidents.models import CrisisType, Severity
from monitoring.models import Source

MAX_RANGE = timedelta(days=366)


class ReportQueryInput(StrictInput):
    """`from` and `to` (required, ≤ 366 days apart) and optional filters."""

    to = serializers.DateTimeField(help_text="End of the range (exclusive), ISO 8601.")
    crisis_type = TenantRelatedField(
        CrisisType, required=False, help_text="Only incidents of this crisis type (id)."
    )
    severity = TenantRelatedField(
        Severity, required=False, help_text="Only incidents of this severity (id)."
    )
    source = TenantRelatedField(  # type: ignore[assignment]  # popped by the metaclass
        Source, required=False, help_text="Mention figures: only this source (id)."
    )
    format = serializers.ChoiceField(
        choices=("json", "csv"), required=False, help_text="`csv` for a CSV download."
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        # `from` is a Python keyword, so it cannot be declared as a class attribute.
        fields = {
            "from": serializers.DateTimeField(
                help_text="Start of the range (inclusive), ISO 8601."
            ),
            **fields,
        }
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs["from"], attrs["to"]
        if end <= start:
            raise serializers.ValidationError({"to": ["Must be later than `from`."]})
        if end - start > MAX_RANGE:
            raise serializers.ValidationError(
                {"to": [f"A report covers at most {MAX_RANGE.days} days."]}
            )
        return attrs


class IncidentExportQueryInput(ReportQueryInput):
    include_drills = serializers.BooleanField(
        required=False, default=False, help_text="Also list drills (excluded by default)."
    )


# --- Output shapes (for the OpenAPI schema; the selectors build plain dicts) ----------------------


class ReportDurationOutput(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    mean_seconds = serializers.FloatField(allow_null=True)
    p50_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(allow_null=True)


class ReportRefOutput(serializers.Serializer[Any]):
    id = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_blank=True)


class ReportSeverityRefOutput(ReportRefOutput):
    rank = serializers.IntegerField()


class ReportIncidentCountsOutput(serializers.Serializer[Any]):
    opened = serializers.IntegerField()
    declared = serializers.IntegerField()
    resolved = serializers.IntegerField()


class ReportTypeCountsOutput(ReportIncidentCountsOutput):
    crisis_type = ReportRefOutput()


class ReportSeverityCountsOutput(ReportIncidentCountsOutput):
    severity = ReportSeverityRefOutput()


class ReportMatrixCountsOutput(ReportIncidentCountsOutput):
    crisis_type = ReportRefOutput()
    severity = ReportSeverityRefOutput()


class ReportIncidentsOutput(serializers.Serializer[Any]):
    total = ReportIncidentCountsOutput()
    by_crisis_type = ReportTypeCountsOutput(many=True)
    by_severity = ReportSeverityCountsOutput(many=True)
    by_crisis_type_and_severity = ReportMatrixCountsOutput(many=True)


class ReportCadenceOutput(serializers.Serializer[Any]):
    updates = serializers.IntegerField()
    with_deadline = serializers.IntegerField()
    on_time = serializers.IntegerField()
    late = serializers.IntegerField()
    adherence = serializers.FloatField(allow_null=True)
    lapses_announced = serializers.IntegerField()


class ReportResponseOutput(serializers.Serializer[Any]):
    incidents = serializers.IntegerField()
    mtta = ReportDurationOutput()
    mttr = ReportDurationOutput()
    time_to_first_public_statement = ReportDurationOutput()
    public_update_cadence = ReportCadenceOutput()


class ReportApprovalStepOutput(ReportDurationOutput):
    policy = ReportRefOutput()
    step = serializers.IntegerField(help_text="0 is the first step.")
    step_name = serializers.CharField(allow_blank=True)


class ReportApprovalsOutput(serializers.Serializer[Any]):
    steps = ReportApprovalStepOutput(many=True)


class ReportSlaOutput(serializers.Serializer[Any]):
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    pending = serializers.IntegerField()
    compliance = serializers.FloatField(allow_null=True)


class ReportCasesOutput(serializers.Serializer[Any]):
    backlog_at_end = serializers.IntegerField()
    open_now = serializers.IntegerField()
    opened = serializers.IntegerField()
    resolved = serializers.IntegerField()
    first_response = ReportDurationOutput()
    sla = ReportSlaOutput()


class ReportRulePrecisionOutput(serializers.Serializer[Any]):
    rule = ReportRefOutput()
    signals = serializers.IntegerField()
    confirmed = serializers.IntegerField()
    false_positive = serializers.IntegerField()
    dismissed_other = serializers.IntegerField()
    untriaged = serializers.IntegerField()
    precision = serializers.FloatField(allow_null=True)


class ReportSignalsOutput(serializers.Serializer[Any]):
    rules = ReportRulePrecisionOutput(many=True)


class ReportIncidentRefOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    reference = serializers.CharField()


class ReportRecoveryItemOutput(serializers.Serializer[Any]):
    incident = ReportIncidentRefOutput()
    rule_name = serializers.CharField()
    baseline_negative_share = serializers.FloatField()
    window_seconds = serializers.IntegerField()
    recovery_seconds = serializers.FloatField(allow_null=True)


class ReportRecoveryOutput(serializers.Serializer[Any]):
    declared_incidents = serializers.IntegerField()
    with_signal = serializers.IntegerField()
    without_baseline = serializers.IntegerField()
    measured = serializers.IntegerField()
    recovered = serializers.IntegerField()
    not_recovered = serializers.IntegerField()
    recovery = ReportDurationOutput()
    incidents = ReportRecoveryItemOutput(many=True)


class ReportDayOutput(serializers.Serializer[Any]):
    day = serializers.DateField()
    mentions = serializers.IntegerField()
    negative = serializers.IntegerField()
    neutral = serializers.IntegerField()
    positive = serializers.IntegerField()
    negative_share = serializers.FloatField(allow_null=True)
    mean_sentiment = serializers.FloatField(allow_null=True)


class ReportMentionsOutput(serializers.Serializer[Any]):
    days = ReportDayOutput(many=True)


class ReportOutput(serializers.Serializer[Any]):
    incidents = ReportIncidentsOutput()
    response = ReportResponseOutput()
    approvals = ReportApprovalsOutput()
    cases = ReportCasesOutput()
    signals = ReportSignalsOutput()
    sentiment_recovery = ReportRecoveryOutput()
    mentions = ReportMentionsOutput()


SECTION_OUTPUTS: dict[str, type[serializers.Serializer[Any]]] = {
    "incidents": ReportIncidentsOutput,
    "response": ReportResponseOutput,
    "approvals": ReportApprovalsOutput,
    "cases": ReportCasesOutput,
    "signals": ReportSignalsOutput,
    "sentiment-recovery": ReportRecoveryOutput,
    "mentions": ReportMentionsOutput,
}
