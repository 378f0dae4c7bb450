"""Query-string filters of playbooks, runs, drills and training records."""

from __future__ import annotations

import django_filters

from crisis_api.api.filters import TenantModelChoiceFilter, UtcIsoDateTimeFilter
from incidents.filters import MemberFilter, VisibleIncidentFilter
from incidents.models import IncidentRole
from playbooks.models import Drill, Playbook, PlaybookRun, TrainingRecord


class PlaybookFilter(django_filters.FilterSet):
    published = django_filters.BooleanFilter(
        field_name="current_version", lookup_expr="isnull", exclude=True
    )
    owner = MemberFilter(field_name="owner")
    auto_start = django_filters.BooleanFilter()
    review_due_before = UtcIsoDateTimeFilter(field_name="next_review_at", lookup_expr="lt")

    class Meta:
        model = Playbook
        fields = ("auto_start",)


class RunFilter(django_filters.FilterSet):
    incident = VisibleIncidentFilter(field_name="incident")
    playbook = TenantModelChoiceFilter(Playbook, field_name="playbook")
    status = django_filters.MultipleChoiceFilter(choices=PlaybookRun.Status.choices)
    is_drill = django_filters.BooleanFilter(field_name="incident__is_drill")
    trigger = django_filters.ChoiceFilter(choices=PlaybookRun.Trigger.choices)

    class Meta:
        model = PlaybookRun
        fields = ("status", "trigger")


class DrillFilter(django_filters.FilterSet):
    playbook = TenantModelChoiceFilter(Playbook, field_name="playbook")
    status = django_filters.MultipleChoiceFilter(choices=Drill.Status.choices)
    scheduled_after = UtcIsoDateTimeFilter(field_name="scheduled_for", lookup_expr="gte")
    scheduled_before = UtcIsoDateTimeFilter(field_name="scheduled_for", lookup_expr="lt")

    class Meta:
        model = Drill
        fields = ("status",)


class TrainingRecordFilter(django_filters.FilterSet):
    member = MemberFilter(field_name="user")
    playbook = TenantModelChoiceFilter(Playbook, field_name="playbook")
    completed_after = django_filters.DateFilter(field_name="completed_on", lookup_expr="gte")
    role = django_filters.ChoiceFilter(choices=IncidentRole.choices)

    class Meta:
        model = TrainingRecord
        fields = ("role",)
