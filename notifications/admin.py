"""The platform admin for outbound webhooks: each endpoint's health, pause/resume/disable and
deletion, and the delivery log with its attempts and replay.

Every change goes through `notifications.webhooks`, so each records its event like the API's.
Endpoints are registered through the API only: the secret is shown once, to the customer. Here
secrets appear as their hints and nothing more; the delivery log is read-only apart from replay.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from crisis_api.api.errors import ConflictError
from notifications import webhooks
from notifications.models import WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookSecret
from organisations.admin import _actor, _may_change

if TYPE_CHECKING:
    # Generic only in django-stubs (see organisations/admin.py).
    _WebhookEndpointAdminBase = admin.ModelAdmin[WebhookEndpoint]
    _WebhookMessageAdminBase = admin.ModelAdmin[WebhookMessage]
    _MessageInlineBase = admin.TabularInline[WebhookMessage, WebhookEndpoint]
    _AttemptInlineBase = admin.TabularInline[WebhookAttempt, WebhookMessage]
    _RecentMessagesFormSetBase = BaseInlineFormSet[
        WebhookMessage, WebhookEndpoint, forms.ModelForm[WebhookMessage]
    ]
else:
    _WebhookEndpointAdminBase = _WebhookMessageAdminBase = admin.ModelAdmin
    _MessageInlineBase = _AttemptInlineBase = admin.TabularInline
    _RecentMessagesFormSetBase = BaseInlineFormSet

RECENT_MESSAGES = 20
WEBHOOK_ID = re.compile(r"msg_([0-9a-f]{32})", re.IGNORECASE)
DeletedObjects = tuple[list[Any], dict[str, int], set[str], list[Any]]


def _changelist(model: type[WebhookMessage], **query: Any) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(query)}"


class ReadOnlyInlineMixin:
    """Inline rows to look at: never added, edited or deleted from the parent's page."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Endpoints ----------------------------------------------------------------------------------


class RecentMessagesFormSet(_RecentMessagesFormSetBase):
    """Only the newest messages: an endpoint may have received millions."""

    def get_queryset(self) -> QuerySet[WebhookMessage]:
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset()[:RECENT_MESSAGES]
        return self._recent


class RecentMessageInline(ReadOnlyInlineMixin, _MessageInlineBase):
    """The endpoint's newest deliveries; the full log is one click away."""

    model = WebhookMessage
    formset = RecentMessagesFormSet
    verbose_name_plural = f"Recent deliveries (newest {RECENT_MESSAGES})"
    fields = (
        "webhook_id",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    readonly_fields = fields
    show_change_link = True
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookMessage]:
        queryset = WebhookMessage.all_tenants.defer("body").order_by("-created_at", "id")
        return queryset if self.has_view_or_change_permission(request) else queryset.none()

    @admin.display(description="Webhook id")
    def webhook_id(self, obj: WebhookMessage) -> str:
        return obj.webhook_id


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_WebhookEndpointAdminBase):
    """Customer endpoints across organisations: health at a glance, pause, resume or disable.

    Nothing is edited here (URLs are checked against the SSRF guard by the API, and the customer
    owns them); secrets are shown as hints. Deleting goes through the service, which records it.
    """

    list_display = (
        "url",
        "organisation",
        "status",
        "success_rate_display",
        "consecutive_failures",
        "failing_since",
        "last_success_at",
        "disabled_reason",
    )
    list_filter = ("status", "organisation")
    search_fields = ("url",)
    list_select_related = ("organisation",)
    ordering = ("-created_at", "id")
    actions = ("pause", "resume", "disable", "delete_selected")
    inlines = (RecentMessageInline,)
    endpoint_fields = (
        "url",
        "organisation",
        "description",
        "subscribed",
        "status",
        "disabled_reason",
        "disabled_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    health_fields = (
        "success_rate_display",
        "success_count",
        "failure_count",
        "consecutive_failures",
        "failing_since",
        "last_success_at",
        "last_failure_at",
    )
    fieldsets = (
        (None, {"fields": endpoint_fields}),
        ("Health", {"fields": health_fields}),
        ("Signing secrets", {"fields": ("secret_hints",)}),
        ("Log", {"fields": ("deliveries", "event_log")}),
    )
    readonly_fields = (
        *endpoint_fields,
        *health_fields,
        "secret_hints",
        "deliveries",
        "event_log",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.all_tenants.select_related("organisation", "created_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # through the API: the secret is shown once, to whoever registers it

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the customer's configuration; actions change the status

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, WebhookEndpoint)

    @admin.display(description="Success rate")
    def success_rate_display(self, obj: WebhookEndpoint) -> str:
        rate = obj.success_rate
        return "-" if rate is None else f"{rate:.1%}"

    @admin.display(description="Event types")
    def subscribed(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types) or "All public event types"

    @admin.display(description="Secrets (hints only)")
    def secret_hints(self, obj: WebhookEndpoint) -> SafeString | str:
        rows = WebhookSecret.all_tenants.filter(endpoint=obj).order_by("-created_at")
        if not rows:
            return "-"
        items = format_html_join(
            "",
            "<li><code>{}…</code> created {}, {}</li>",
            (
                (
                    row.hint,
                    f"{row.created_at:%Y-%m-%d %H:%M} UTC",
                    "signs until rotated"
                    if row.expires_at is None
                    else f"expires {row.expires_at:%Y-%m-%d %H:%M} UTC",
                )
                for row in rows
            ),
        )
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="Deliveries")
    def deliveries(self, obj: WebhookEndpoint) -> SafeString:
        url = _changelist(WebhookMessage, endpoint__id__exact=obj.pk)
        return format_html('<a href="{}">All deliveries to this endpoint</a>', url)

    @admin.display(description="Event log")
    def event_log(self, obj: WebhookEndpoint) -> SafeString:
        query = urlencode({"organisation__id__exact": str(obj.organisation_id), "q": str(obj.pk)})
        url = reverse("admin:organisations_event_changelist")
        return format_html('<a href="{}?{}">Events of this endpoint</a>', url, query)

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint], status: str, verb: str
    ) -> None:
        actor = _actor(request)
        changed = 0
        for endpoint in queryset.exclude(status=status):
            webhooks.webhook_endpoint_set_status(
                endpoint=endpoint,
                actor=actor,
                status=status,
                reason=f"{verb} by platform admin {actor.label}",
            )
            changed += 1
        messages.success(request, f"{verb} {changed} endpoint(s).")

    @admin.action(description="Pause selected endpoints (messages queue)", permissions=["manage"])
    def pause(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._set_status(request, queryset, WebhookEndpoint.Status.PAUSED, "Paused")

    @admin.action(description="Resume selected endpoints", permissions=["manage"])
    def resume(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._set_status(request, queryset, WebhookEndpoint.Status.ACTIVE, "Resumed")

    @admin.action(description="Disable selected endpoints", permissions=["manage"])
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._set_status(request, queryset, WebhookEndpoint.Status.DISABLED, "Disabled")

    def get_deleted_objects(
        self, objs: Sequence[WebhookEndpoint] | QuerySet[WebhookEndpoint], request: HttpRequest
    ) -> DeletedObjects:
        """Counts instead of Django's object-by-object walk: the delivery log may be huge, and
        its read-only admin would otherwise count as a permission the user lacks."""
        ids = [endpoint.pk for endpoint in objs]
        counts = {
            str(WebhookEndpoint._meta.verbose_name_plural): len(ids),
            str(WebhookMessage._meta.verbose_name_plural): WebhookMessage.all_tenants.filter(
                endpoint_id__in=ids
            ).count(),
            str(WebhookAttempt._meta.verbose_name_plural): WebhookAttempt.all_tenants.filter(
                message__endpoint_id__in=ids
            ).count(),
            str(WebhookSecret._meta.verbose_name_plural): WebhookSecret.all_tenants.filter(
                endpoint_id__in=ids
            ).count(),
        }
        return [str(endpoint) for endpoint in objs], counts, set(), []

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        webhooks.webhook_endpoint_delete(endpoint=obj, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        actor = _actor(request)
        for endpoint in queryset.select_related("organisation"):
            webhooks.webhook_endpoint_delete(endpoint=endpoint, actor=actor)


# --- Delivery log -------------------------------------------------------------------------------


class AttemptInline(ReadOnlyInlineMixin, _AttemptInlineBase):
    """Every HTTP attempt of the message, oldest first (at most ten per retry cycle)."""

    model = WebhookAttempt
    fields = (
        "number",
        "attempted_at",
        "status_code",
        "succeeded",
        "duration_ms",
        "error",
        "response_excerpt",
    )
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookAttempt]:
        queryset = WebhookAttempt.all_tenants.order_by("attempted_at", "number")
        return queryset if self.has_view_or_change_permission(request) else queryset.none()


@admin.register(WebhookMessage)
class WebhookMessageAdmin(_WebhookMessageAdminBase):
    """The delivery log across organisations: one message per event and endpoint; replayable."""

    list_display = (
        "webhook_id",
        "event_type",
        "endpoint",
        "organisation",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event_type", "organisation")
    search_fields = ("endpoint__url", "=event_type")
    search_help_text = "Webhook id (msg_…), endpoint URL or exact event type."
    list_select_related = ("organisation", "endpoint")
    ordering = ("-created_at", "id")
    show_full_result_count = False
    actions = ("replay",)
    inlines = (AttemptInline,)
    fields = (
        "webhook_id",
        "organisation",
        "endpoint",
        "event",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "claimed_until",
        "created_at",
        "body_pretty",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookMessage]:
        # The body is read only on the detail page (one query there, none per listed row).
        return WebhookMessage.all_tenants.select_related("organisation", "endpoint").defer("body")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[WebhookMessage], search_term: str
    ) -> tuple[QuerySet[WebhookMessage], bool]:
        match = WEBHOOK_ID.fullmatch(search_term.strip())
        if match:
            return queryset.filter(pk=uuid.UUID(match[1])), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the outbox relay plans messages from events

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the exact signed body and the retry state are the worker's

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the log goes with its endpoint

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return _may_change(request, WebhookMessage)

    @admin.display(description="Webhook id", ordering="id")
    def webhook_id(self, obj: WebhookMessage) -> str:
        return obj.webhook_id

    @admin.display(description="Body (as signed and sent)")
    def body_pretty(self, obj: WebhookMessage) -> SafeString:
        try:
            text = json.dumps(json.loads(obj.body), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            text = obj.body
        return format_html("<pre>{}</pre>", text)

    @admin.action(
        description="Replay selected messages now (same webhook-id)", permissions=["replay"]
    )
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookMessage]) -> None:
        actor = _actor(request)
        replayed = 0
        for message in queryset.select_related("endpoint__organisation"):
            try:
                webhooks.webhook_message_replay(message=message, actor=actor)
            except ConflictError as exc:
                messages.warning(request, f"{message.webhook_id}: {exc.detail}")
            else:
                replayed += 1
        messages.success(request, f"Replayed {replayed} message(s).")
