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
