"""Query-string filters of incidents and tasks."""

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from crisis_api.api.filters import TenantModelChoiceFilter, UtcIsoDateTimeFilter
from incidents.models import CrisisType, Incident, Severity, Task
from incidents.selectors import incident_visible
from organisations.models import Membership


class MemberFilter(TenantModelChoiceFilter):
    """`?owner=<user id>`: a user who must be a member of the organisation."""

    lookup = "user_id"
    noun = "member"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Membership, **kwargs)


class VisibleIncidentFilter(TenantModelChoiceFilter):
    """`?incident=<id>`: an incident the caller may see. A restricted one they may not see is
    answered 404 like a missing one, not with an empty page that confirms it exists."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Incident, **kwargs)

    def candidates(self, request: Any, organisation: Any) -> QuerySet[Any]:
        view = (getattr(request, "parser_context", None) or {}).get("view")
        membership = getattr(view, "membership", None)
        return incident_visible(
            super().candidates(request, organisation),
            user=membership.user if membership else None,
            role=membership.role if membership else None,
        )


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Incident.Status.choices)
    severity = TenantModelChoiceFilter(Severity, field_name="severity")
    crisis_type = TenantModelChoiceFilter(CrisisType, field_name="crisis_type")
    commander = MemberFilter(field_name="commander")
    is_drill = django_filters.BooleanFilter()
    visibility = django_filters.ChoiceFilter(choices=Incident.Visibility.choices)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="search", help_text="Text in title or summary.")

    class Meta:
        model = Incident
        fields = ("status", "is_drill", "visibility")

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(Q(title__icontains=value) | Q(summary__icontains=value))


class TaskFilter(django_filters.FilterSet):
    incident = VisibleIncidentFilter(field_name="incident")
    owner = MemberFilter(field_name="owner")
    status = django_filters.MultipleChoiceFilter(choices=Task.Status.choices)
    source = django_filters.ChoiceFilter(choices=Task.Source.choices)
    overdue = django_filters.BooleanFilter(method="filter_overdue")

    class Meta:
        model = Task
        fields = ("status", "source")

    def filter_overdue(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        late = Q(due_at__lt=timezone.now(), status__in=(Task.Status.OPEN, Task.Status.IN_PROGRESS))
        return queryset.filter(late) if value else queryset.exclude(late)
