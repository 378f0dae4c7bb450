"""The platform admin for communications, read-mostly: templates, messages with their checks,
decisions and publications, policies, accounts (credentials never shown), the status page.

Messages change only through the services (the API), which keep hashes, approvals and the
event log right; the one action here, withdrawing, goes through the service too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from communications import services
from communications.models import (
    ApprovalDecision,
    ApprovalPolicy,
    BannedTerm,
    ChannelAccount,
    ContentCheck,
    Message,
    MessageTemplate,
    Publication,
    StatusPage,
    StatusUpdate,
)
from crisis_api.api.errors import DomainError
from organisations.admin import ReadOnlyAdminMixin, _actor, _may_change

if TYPE_CHECKING:
    _TemplateAdminBase = admin.ModelAdmin[MessageTemplate]
    _MessageAdminBase = admin.ModelAdmin[Message]
    _PolicyAdminBase = admin.ModelAdmin[ApprovalPolicy]
    _AccountAdminBase = admin.ModelAdmin[ChannelAccount]
    _TermAdminBase = admin.ModelAdmin[BannedTerm]
    _PageAdminBase = admin.ModelAdmin[StatusPage]
    _UpdateAdminBase = admin.ModelAdmin[StatusUpdate]
    _CheckInlineBase = admin.TabularInline[ContentCheck, Message]
    _DecisionInlineBase = admin.TabularInline[ApprovalDecision, Message]
    _PublicationInlineBase = admin.TabularInline[Publication, Message]
else:
    _TemplateAdminBase = _MessageAdminBase = _PolicyAdminBase = admin.ModelAdmin
    _AccountAdminBase = _TermAdminBase = _PageAdminBase = _UpdateAdminBase = admin.ModelAdmin
    _CheckInlineBase = _DecisionInlineBase = _PublicationInlineBase = admin.TabularInline


class _ReadOnlyInline(ReadOnlyAdminMixin):
    extra = 0
    can_delete = False
    show_change_link = False


class CheckInline(_ReadOnlyInline, _CheckInlineBase):
    model = ContentCheck
    fields = (
        "created_at",
        "result",
        "engine_version",
        "findings",
        "overridden_by",
        "override_reason",
        "content_hash",
    )
    readonly_fields = fields


class DecisionInline(_ReadOnlyInline, _DecisionInlineBase):
    model = ApprovalDecision
    fields = (
        "decided_at",
        "step",
        "approver",
        "decision",
        "capacity",
        "comment",
        "content_hash",
        "expires_at",
    )
    readonly_fields = fields


class PublicationInline(_ReadOnlyInline, _PublicationInlineBase):
    model = Publication
    fields = (
        "channel",
        "status",
        "attempts",
        "external_id",
        "external_url",
        "error",
        "retryable",
        "sent_at",
    )
    readonly_fields = fields


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ReadOnlyAdminMixin, _TemplateAdminBase):
    """Templates across organisations (edited through the API, which checks placeholders)."""

    list_display = ("name", "organisation", "kind", "language", "channel", "is_active", "version")
    list_filter = ("organisation", "kind", "language", "is_active", "closes_the_loop")
    search_fields = ("name",)
    list_select_related = ("organisation",)
    readonly_fields = ("legal_status",)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, _MessageAdminBase):
    """Messages with their checks, approvals and publications; withdraw is the one action."""

    list_display = ("__str__", "organisation", "kind", "status", "incident", "created_at")
    list_filter = ("organisation", "status", "kind", "language", "created_at")
    search_fields = ("title", "body", "=id")
    list_select_related = ("organisation", "incident")
    ordering = ("-created_at",)
    show_full_result_count = False
    inlines = (CheckInline, DecisionInline, PublicationInline)
    actions = ("withdraw",)

    @admin.action(description="Withdraw (before publishing)")
    def withdraw(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        if not _may_change(request, Message):
            self.message_user(request, "You may not change messages.", messages.ERROR)
            return
        for message in queryset:
            try:
                services.message_withdraw(
                    message=message, actor=_actor(request), reason="Withdrawn by platform admin"
                )
            except DomainError as exc:
                self.message_user(request, f"{message}: {exc.detail}", messages.WARNING)
            else:
                self.message_user(request, f"{message}: withdrawn.")


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(ReadOnlyAdminMixin, _PolicyAdminBase):
    list_display = ("name", "organisation", "min_strictness", "priority", "is_active")
    list_filter = ("organisation", "min_strictness", "is_active")
    list_select_related = ("organisation",)


@admin.register(ChannelAccount)
class ChannelAccountAdmin(ReadOnlyAdminMixin, _AccountAdminBase):
    """Accounts; the credential is shown only as its hint."""

    list_display = (
        "handle",
        "organisation",
        "platform",
        "base_url",
        "credential_hint",
        "is_active",
    )
    list_filter = ("organisation", "platform", "is_active")
    exclude = ("credential_ciphertext",)
    list_select_related = ("organisation",)


@admin.register(BannedTerm)
class BannedTermAdmin(ReadOnlyAdminMixin, _TermAdminBase):
    list_display = ("term", "organisation", "language", "severity", "match_inflections")
    list_filter = ("organisation", "severity", "language")
    search_fields = ("term",)
    list_select_related = ("organisation",)


@admin.register(StatusPage)
class StatusPageAdmin(ReadOnlyAdminMixin, _PageAdminBase):
    list_display = ("organisation", "enabled", "title", "history_days", "updated_at")
    list_filter = ("enabled",)
    list_select_related = ("organisation",)


@admin.register(StatusUpdate)
class StatusUpdateAdmin(ReadOnlyAdminMixin, _UpdateAdminBase):
    """What the public timelines show."""

    list_display = ("title", "organisation", "incident", "label", "published_at")
    list_filter = ("organisation", "label", "published_at")
    list_select_related = ("organisation", "incident")
    ordering = ("-published_at",)
