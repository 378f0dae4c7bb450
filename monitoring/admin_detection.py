"""The platform admin for detection and cases: rules (a noisy one can be put in monitor mode or
disabled, through the service, which records the event), and read-only signals and cases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from monitoring.models import Case, DetectionRule, Signal
from monitoring.services.detection import rule_update
from organisations.admin import ReadOnlyAdminMixin, _actor, _may_change

if TYPE_CHECKING:
    _RuleAdminBase = admin.ModelAdmin[DetectionRule]
    _SignalAdminBase = admin.ModelAdmin[Signal]
    _CaseAdminBase = admin.ModelAdmin[Case]
else:
    _RuleAdminBase = _SignalAdminBase = _CaseAdminBase = admin.ModelAdmin


@admin.register(DetectionRule)
class DetectionRuleAdmin(ReadOnlyAdminMixin, _RuleAdminBase):
    """Rules across organisations; the two actions tame a noisy rule without deleting it."""

    list_display = (
        "name",
        "organisation",
        "metric",
        "method",
        "threshold",
        "mode",
        "action",
        "last_fired_at",
    )
    list_filter = ("mode", "metric", "action", "organisation")
    search_fields = ("name",)
    list_select_related = ("organisation",)
    actions = ("to_monitor", "disable")

    def get_queryset(self, request: HttpRequest) -> QuerySet[DetectionRule]:
        return DetectionRule.all_tenants.select_related("organisation")

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, DetectionRule)

    def _set_mode(self, request: HttpRequest, queryset: QuerySet[DetectionRule], mode: str) -> None:
        actor = _actor(request)
        rules = list(queryset.exclude(mode=mode).select_related("organisation"))
        for rule in rules:
            rule_update(rule=rule, actor=actor, mode=mode)
        messages.success(request, f"{mode.capitalize()}: {len(rules)} rule(s).")

    @admin.action(description="Put selected rules in monitor mode", permissions=["manage"])
    def to_monitor(self, request: HttpRequest, queryset: QuerySet[DetectionRule]) -> None:
        self._set_mode(request, queryset, DetectionRule.Mode.MONITOR)

    @admin.action(description="Disable selected rules", permissions=["manage"])
    def disable(self, request: HttpRequest, queryset: QuerySet[DetectionRule]) -> None:
        self._set_mode(request, queryset, DetectionRule.Mode.DISABLED)


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdminMixin, _SignalAdminBase):
    list_display = (
        "created_at",
        "rule_name",
        "organisation",
        "metric",
        "mode",
        "status",
        "observed",
        "baseline",
        "score",
        "incident",
    )
    list_filter = ("status", "mode", "metric", "organisation")
    search_fields = ("rule_name",)
    list_select_related = ("organisation", "incident")
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Signal]:
        return Signal.all_tenants.select_related("organisation", "incident")


@admin.register(Case)
class CaseAdmin(ReadOnlyAdminMixin, _CaseAdminBase):
    list_display = (
        "created_at",
        "author_handle",
        "platform",
        "organisation",
        "status",
        "assignee",
        "mention_count",
        "first_response_due_at",
        "first_responded_at",
    )
    list_filter = ("status", "platform", "organisation")
    search_fields = ("author_handle", "author_key")
    list_select_related = ("organisation", "assignee")
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return Case.all_tenants.select_related("organisation", "assignee", "incident")
