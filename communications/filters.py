"""Query-string filters of messages and templates."""

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from communications.models import Channel, Language, Message, MessageKind, MessageTemplate
from crisis_api.api.filters import TenantModelChoiceFilter, UtcIsoDateTimeFilter
from incidents.filters import VisibleIncidentFilter
from monitoring.models import Case


class MessageFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Message.Status.choices)
    kind = django_filters.MultipleChoiceFilter(choices=MessageKind.choices)
    incident = VisibleIncidentFilter(field_name="incident")
    case = TenantModelChoiceFilter(Case, field_name="case")
    channel = django_filters.ChoiceFilter(choices=Channel.choices, method="filter_channel")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="search", help_text="Text in title or body.")

    class Meta:
        model = Message
        fields = ("status", "kind")

    def filter_channel(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(channels__contains=[value])

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(Q(title__icontains=value) | Q(body__icontains=value))


class TemplateFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=MessageKind.choices)
    language = django_filters.ChoiceFilter(choices=Language.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = MessageTemplate
        fields = ("kind", "language", "channel", "is_active")
