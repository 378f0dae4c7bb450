"""Query-string filters of signals, cases and incident mention links."""

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from crisis_api.api.filters import TenantModelChoiceFilter, UtcIsoDateTimeFilter
from incidents.filters import MemberFilter, VisibleIncidentFilter
from monitoring.models import Case, DetectionRule, IncidentMention, Signal


@extend_schema_field(OpenApiTypes.UUID)
class MentionIncidentFilter(VisibleIncidentFilter):
    """`?incident=<id>` on the inbox: mentions attached to the incident as evidence, and the
    mentions of cases linked to it."""

    def apply(self, qs: QuerySet[Any], target: Any) -> QuerySet[Any]:
        attached = IncidentMention.all_tenants.filter(mention=OuterRef("pk"), incident=target)
        return qs.filter(Exists(attached) | Q(case__incident=target))


class SignalFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Signal.Status.choices)
    mode = django_filters.ChoiceFilter(choices=DetectionRule.Mode.choices)
    metric = django_filters.ChoiceFilter(choices=DetectionRule.Metric.choices)
    rule = TenantModelChoiceFilter(DetectionRule, field_name="rule")
    incident = VisibleIncidentFilter(field_name="incident")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Signal
        fields = ("status", "mode", "metric")


class CaseFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Case.Status.choices)
    assignee = MemberFilter(field_name="assignee")
    unassigned = django_filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    incident = VisibleIncidentFilter(field_name="incident")
    platform = django_filters.CharFilter()
    overdue = django_filters.BooleanFilter(
        method="filter_overdue", help_text="Past its first-response due time without one."
    )
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Case
        fields = ("status", "platform")

    def filter_overdue(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        late = Q(first_responded_at__isnull=True, first_response_due_at__lt=timezone.now())
        return queryset.filter(late) if value else queryset.exclude(late)


class IncidentMentionFilter(django_filters.FilterSet):
    incident = VisibleIncidentFilter(field_name="incident")

    class Meta:
        model = IncidentMention
        fields = ("incident",)
