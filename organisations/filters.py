"""Query-string filters of the organisations endpoints (documented in the schema)."""

from typing import Any

import django_filters
from django.db.models import QuerySet

from crisis_api.api.filters import UtcIsoDateTimeFilter
from organisations.models import Event, Invitation, Membership, Role


class MembershipFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ("role",)


class InvitationFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    role = django_filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Invitation
        fields = ("email", "role")


class EventFilter(django_filters.FilterSet):
    type = django_filters.CharFilter(method="filter_type", help_text="Exact, or `incident.*`.")
    subject_type = django_filters.CharFilter()
    subject_id = django_filters.CharFilter()
    actor_type = django_filters.ChoiceFilter(choices=Event.ActorType.choices)
    actor_id = django_filters.CharFilter()
    occurred_after = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ("type", "subject_type", "subject_id", "actor_type", "actor_id")

    def filter_type(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        if value.endswith(".*"):
            return queryset.filter(type__startswith=value[:-1])
        return queryset.filter(type=value)
