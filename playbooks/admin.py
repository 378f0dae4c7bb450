"""The platform admin for playbooks: read-only views of playbooks, their immutable versions,
runs with their steps, drills and training records. Everything changes through the services
(the API), which record events; the one action here, "mark reviewed", calls its service."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from organisations.admin import ReadOnlyAdminMixin, _actor, _may_change
from playbooks import services
from playbooks.models import (
    Drill,
    DrillParticipant,
    Playbook,
    PlaybookRun,
    PlaybookRunStep,
    PlaybookVersion,
    TrainingRecord,
)

if TYPE_CHECKING:
    _PlaybookAdminBase = admin.ModelAdmin[Playbook]
    _VersionAdminBase = admin.ModelAdmin[PlaybookVersion]
    _RunAdminBase = admin.ModelAdmin[PlaybookRun]
    _DrillAdminBase = admin.ModelAdmin[Drill]
    _TrainingAdminBase = admin.ModelAdmin[TrainingRecord]
    _VersionInlineBase = admin.TabularInline[PlaybookVersion, Playbook]
    _StepInlineBase = admin.TabularInline[PlaybookRunStep, PlaybookRun]
    _ParticipantInlineBase = admin.TabularInline[DrillParticipant, Drill]
else:
    _PlaybookAdminBase = _VersionAdminBase = _RunAdminBase = admin.ModelAdmin
    _DrillAdminBase = _TrainingAdminBase = admin.ModelAdmin
    _VersionInlineBase = _StepInlineBase = _ParticipantInlineBase = admin.TabularInline


def _pretty(value: Any) -> Any:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class ContentsMixin:
    """Steps, RACI, comms matrix and holding statements shown as formatted JSON."""

    @admin.display(description="steps")
    def steps_json(self, obj: Playbook | PlaybookVersion) -> Any:
        return _pretty(obj.steps)

    @admin.display(description="RACI")
    def raci_json(self, obj: Playbook | PlaybookVersion) -> Any:
        return _pretty(obj.raci)

    @admin.display(description="communication matrix")
    def comms_matrix_json(self, obj: Playbook | PlaybookVersion) -> Any:
        return _pretty(obj.comms_matrix)

    @admin.display(description="holding statements")
    def holding_statements_json(self, obj: Playbook | PlaybookVersion) -> Any:
        return _pretty(obj.holding_statements)


CONTENTS = ("steps_json", "raci_json", "comms_matrix_json", "holding_statements_json")


class VersionInline(ReadOnlyAdminMixin, _VersionInlineBase):
    model = PlaybookVersion
    fields = ("number", "published_at", "published_by", "content_hash", "note")
    readonly_fields = fields
    ordering = ("-number",)
    extra = 0
    show_change_link = True


@admin.register(Playbook)
class PlaybookAdmin(ReadOnlyAdminMixin, ContentsMixin, _PlaybookAdminBase):
    """Playbooks across organisations: drafts as they stand, and which version is published."""

    list_display = (
        "name",
        "organisation",
        "current_version",
        "has_draft_changes",
        "auto_start",
        "owner",
        "next_review_at",
    )
    list_filter = ("organisation", "auto_start", "has_draft_changes")
    search_fields = ("name",)
    list_select_related = ("organisation", "current_version", "owner")
    ordering = ("organisation", "name")
    inlines = (VersionInline,)
    actions = ("mark_reviewed",)
    fields = (
        "name",
        "organisation",
        "description",
        "owner",
        "min_severity_rank",
        "auto_start",
        "review_period_days",
        "next_review_at",
        "current_version",
        "has_draft_changes",
        *CONTENTS,
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def has_review_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, Playbook)

    @admin.action(description="Mark reviewed (restart the review clock)", permissions=["review"])
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[Playbook]) -> None:
        done = 0
        for playbook in queryset.filter(current_version__isnull=False):
            services.playbook_mark_reviewed(playbook=playbook, actor=_actor(request))
            done += 1
        self.message_user(request, f"{done} playbook(s) marked reviewed.", messages.SUCCESS)


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ReadOnlyAdminMixin, ContentsMixin, _VersionAdminBase):
    """Published versions: immutable, here as in the database."""

    list_display = ("__str__", "organisation", "number", "published_at", "published_by")
    list_filter = ("organisation",)
    search_fields = ("name", "content_hash")
    list_select_related = ("organisation", "published_by")
    ordering = ("-published_at",)
    fields = (
        "playbook",
        "number",
        "organisation",
        "name",
        "description",
        "crisis_type_ids",
        "min_severity_rank",
        *CONTENTS,
        "content_hash",
        "note",
        "published_by",
        "published_at",
    )
    readonly_fields = fields


class StepInline(ReadOnlyAdminMixin, _StepInlineBase):
    model = PlaybookRunStep
    fields = (
        "position",
        "key",
        "title",
        "kind",
        "role",
        "status",
        "due_at",
        "completed_at",
        "skip_reason",
        "waiting_for",
        "task",
    )
    readonly_fields = fields
    ordering = ("position",)
    extra = 0


@admin.register(PlaybookRun)
class PlaybookRunAdmin(ReadOnlyAdminMixin, _RunAdminBase):
    """Runs with their steps: what was done, by when, what was skipped and why."""

    list_display = ("playbook", "incident", "organisation", "status", "trigger", "started_at")
    list_filter = ("status", "trigger", "organisation")
    search_fields = ("playbook__name", "incident__title", "incident__number__exact")
    list_select_related = ("organisation", "playbook", "incident")
    ordering = ("-started_at",)
    inlines = (StepInline,)
    fields = (
        "playbook",
        "version",
        "incident",
        "organisation",
        "status",
        "trigger",
        "started_by",
        "started_at",
        "completed_at",
        "cancelled_at",
    )
    readonly_fields = fields


class ParticipantInline(ReadOnlyAdminMixin, _ParticipantInlineBase):
    model = DrillParticipant
    fields = ("user", "role")
    readonly_fields = fields
    extra = 0


@admin.register(Drill)
class DrillAdmin(ReadOnlyAdminMixin, _DrillAdminBase):
    """Drills across organisations: schedule, status and outcome."""

    list_display = ("title", "organisation", "playbook", "status", "scheduled_for", "outcome")
    list_filter = ("status", "outcome", "organisation")
    search_fields = ("title", "playbook__name")
    list_select_related = ("organisation", "playbook")
    ordering = ("-scheduled_for",)
    inlines = (ParticipantInline,)
    fields = (
        "title",
        "organisation",
        "playbook",
        "version",
        "scenario",
        "crisis_type",
        "severity",
        "scheduled_for",
        "status",
        "incident",
        "run",
        "started_at",
        "finished_at",
        "outcome",
        "outcome_notes",
        "created_by",
        "created_at",
    )
    readonly_fields = fields


@admin.register(TrainingRecord)
class TrainingRecordAdmin(ReadOnlyAdminMixin, _TrainingAdminBase):
    """Who rehearsed which playbook, in which role, when."""

    list_display = ("user", "playbook", "role", "completed_on", "outcome", "organisation")
    list_filter = ("role", "outcome", "organisation")
    search_fields = ("user__email", "playbook__name")
    list_select_related = ("user", "playbook", "organisation")
    ordering = ("-completed_on",)
    fields = ("user", "playbook", "drill", "role", "completed_on", "outcome", "organisation")
    readonly_fields = fields
