"""Query-string filters of the mention inbox, sources and watch terms."""

from typing import Any

import django_filters
from django.db.models import QuerySet

from crisis_api.api.filters import TenantModelChoiceFilter, UtcIsoDateTimeFilter
from incidents.filters import MemberFilter
from monitoring.filters_detection import MentionIncidentFilter
from monitoring.models import Case, Mention, Source, WatchTerm


class MentionFilter(django_filters.FilterSet):
    source = TenantModelChoiceFilter(Source, field_name="source")
    sentiment_min = django_filters.NumberFilter(field_name="sentiment", lookup_expr="gte")
    sentiment_max = django_filters.NumberFilter(field_name="sentiment", lookup_expr="lte")
    sentiment_label = django_filters.MultipleChoiceFilter(choices=Mention.SentimentLabel.choices)
    toxicity_min = django_filters.NumberFilter(field_name="toxicity", lookup_expr="gte")
    offensive = django_filters.BooleanFilter()
    language = django_filters.CharFilter(max_length=8)
    flagged = django_filters.BooleanFilter()
    status = django_filters.MultipleChoiceFilter(choices=Mention.Status.choices)
    assignee = MemberFilter(field_name="assignee")
    case = TenantModelChoiceFilter(Case, field_name="case")
    incident = MentionIncidentFilter(field_name="incident")
    posted_after = UtcIsoDateTimeFilter(field_name="posted_at", lookup_expr="gte")
    posted_before = UtcIsoDateTimeFilter(field_name="posted_at", lookup_expr="lt")
    q = django_filters.CharFilter(
        method="search", max_length=200, help_text="Text in the post (case-insensitive)."
    )

    class Meta:
        model = Mention
        fields = ("language", "flagged", "offensive")

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(text__icontains=value)


class SourceFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=Source.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Source.Status.choices)

    class Meta:
        model = Source
        fields = ("kind", "status")


class WatchTermFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=WatchTerm.Kind.choices)
    language = django_filters.CharFilter(max_length=8)

    class Meta:
        model = WatchTerm
        fields = ("kind", "language")
