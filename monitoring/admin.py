"""The platform admin for monitoring: sources across organisations with their health (pause or
resume through the service, which records the event), and read-only mentions and watch terms.

Sources are configured through the API only: credentials are write-only and a push secret is
shown once, to the customer. Here neither appears; the push secret shows as its hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from monitoring import services
from monitoring.models import Mention, Source, WatchTerm
from monitoring.services.retention import author_erase
from organisations.admin import ReadOnlyAdminMixin, _actor, _may_change

if TYPE_CHECKING:
    _SourceAdminBase = admin.ModelAdmin[Source]
    _MentionAdminBase = admin.ModelAdmin[Mention]
    _WatchTermAdminBase = admin.ModelAdmin[WatchTerm]
else:
    _SourceAdminBase = _MentionAdminBase = _WatchTermAdminBase = admin.ModelAdmin


@admin.register(Source)
class SourceAdmin(ReadOnlyAdminMixin, _SourceAdminBase):
    """Sources with health at a glance: failing ones sort to the top of the failures filter."""

    list_display = (
        "name",
        "organisation",
        "kind",
        "status",
        "health",
        "consecutive_failures",
        "last_success_at",
        "last_error",
        "next_poll_at",
        "mentions_stored",
    )
    list_filter = ("kind", "status", "organisation")
    search_fields = ("name", "last_error")
    list_select_related = ("organisation",)
    ordering = ("-consecutive_failures", "-created_at")
    actions = ("pause", "resume")
    fields = (
        "name",
        "organisation",
        "kind",
        "config",
        "status",
        "poll_interval_seconds",
        "next_poll_at",
        "cursor",
        "lease_until",
        "last_polled_at",
        "last_success_at",
        "last_error_at",
        "last_error",
        "consecutive_failures",
        "backoff_until",
        "push_secret_hint",
        "mentions_stored",
        "created_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return Source.all_tenants.select_related("organisation", "created_by")

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, Source)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Source], status: str) -> None:
        actor = _actor(request)
        changed = 0
        for source in queryset.exclude(status=status):
            services.source_set_status(source=source, actor=actor, status=status)
            changed += 1
        messages.success(request, f"{status.capitalize()}: {changed} source(s).")

    @admin.action(description="Pause selected sources", permissions=["manage"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        self._set_status(request, queryset, Source.Status.PAUSED)

    @admin.action(description="Resume selected sources", permissions=["manage"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        self._set_status(request, queryset, Source.Status.ACTIVE)


@admin.register(WatchTerm)
class WatchTermAdmin(ReadOnlyAdminMixin, _WatchTermAdminBase):
    list_display = ("phrase", "kind", "language", "organisation", "created_at")
    list_filter = ("kind", "organisation")
    search_fields = ("phrase",)
    list_select_related = ("organisation",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WatchTerm]:
        return WatchTerm.all_tenants.select_related("organisation")


@admin.register(Mention)
class MentionAdmin(ReadOnlyAdminMixin, _MentionAdminBase):
    list_display = (
        "posted_at",
        "source",
        "author_handle",
        "language",
        "sentiment_label",
        "toxicity",
        "status",
        "flagged",
    )
    list_filter = ("sentiment_label", "status", "flagged", "offensive", "language")
    search_fields = ("external_id", "author_handle")
    list_select_related = ("source",)
    date_hierarchy = "posted_at"
    show_full_result_count = False  # no COUNT(*) over millions of rows

    actions = ("erase_authors",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Mention]:
        return Mention.all_tenants.select_related("source")

    def has_erase_permission(self, request: HttpRequest) -> bool:
        opts = Mention._meta
        return request.user.has_perm(f"{opts.app_label}.delete_{opts.model_name}")

    @admin.action(
        description="Erase everything about the authors of the selected mentions",
        permissions=["erase"],
    )
    def erase_authors(self, request: HttpRequest, queryset: QuerySet[Mention]) -> None:
        """A data-subject request: each selected mention's author (by platform and id, else
        handle) loses every mention and case; the event log keeps counts and a keyed hash."""
        actor = _actor(request)
        authors = {
            (m.organisation, m.source.kind, m.author_id or m.author_handle)
            for m in queryset.select_related("organisation", "source")
            if m.author_id or m.author_handle
        }
        mentions = cases = 0
        for organisation, platform, author in sorted(authors, key=lambda a: (str(a[0].pk), a[1:])):
            erased = author_erase(
                organisation=organisation, platform=platform, author=author, actor=actor
            )
            mentions, cases = mentions + erased.mentions, cases + erased.cases
        messages.success(
            request,
            f"Erased {len(authors)} author(s): {mentions} mention(s), {cases} case(s).",
        )


from monitoring import admin_detection  # noqa: E402, F401 - rules, signals and cases
