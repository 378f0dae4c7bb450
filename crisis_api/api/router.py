"""The v1 router: every public endpoint is registered here, on one screen.

Registration validates the viewset's access declarations, so an endpoint without them stops
the process at start-up.
"""

from __future__ import annotations

from typing import Any

from rest_framework.routers import Route, SimpleRouter

from crisis_api.api.access import validate_access_declarations
from crisis_api.api.viewsets import ORG_PATTERN

TENANT_PREFIX = rf"orgs/(?P<org>{ORG_PATTERN})"


class V1Router(SimpleRouter):
    """SimpleRouter that validates access and knows singleton resources (no list, no id)."""

    singleton_routes = [
        Route(
            url=r"^{prefix}{trailing_slash}$",
            mapping={"get": "retrieve", "patch": "partial_update"},
            name="{basename}-detail",
            detail=True,
            initkwargs={"suffix": "Instance"},
        ),
    ]

    def register(self, prefix: str, viewset: Any, basename: str | None = None) -> None:
        validate_access_declarations(viewset)
        super().register(prefix, viewset, basename)

    def register_tenant(self, prefix: str, viewset: Any, basename: str) -> None:
        self.register(f"{TENANT_PREFIX}/{prefix}" if prefix else TENANT_PREFIX, viewset, basename)

    def get_routes(self, viewset: Any) -> list[Any]:
        if getattr(viewset, "singleton", False):
            return list(self.singleton_routes)
        return super().get_routes(viewset)


def build_router() -> V1Router:
    from communications import views as communications
    from incidents import views as incidents
    from monitoring import views as monitoring
    from monitoring import views_cases as cases
    from monitoring import views_detection as detection
    from notifications import channel_views as channels
    from notifications import views as notifications
    from organisations import views as organisations
    from playbooks import views as playbooks
    from reports import views as reports

    router = V1Router()
    router.register("orgs", organisations.OrganisationViewSet, "organisations")
    router.register_tenant("", organisations.CurrentOrganisationViewSet, "organisation")
    router.register_tenant("members", organisations.MembershipViewSet, "members")
    router.register_tenant("invitations", organisations.InvitationViewSet, "invitations")
    router.register_tenant("api-keys", organisations.ApiKeyViewSet, "api-keys")
    router.register_tenant("events", organisations.EventViewSet, "events")
    router.register_tenant("crisis-types", incidents.CrisisTypeViewSet, "crisis-types")
    router.register_tenant("severities", incidents.SeverityViewSet, "severities")
    router.register_tenant("incidents", incidents.IncidentViewSet, "incidents")
    router.register_tenant("tasks", incidents.TaskViewSet, "tasks")
    router.register_tenant("playbooks", playbooks.PlaybookViewSet, "playbooks")
    router.register_tenant("playbook-runs", playbooks.PlaybookRunViewSet, "playbook-runs")
    router.register_tenant("drills", playbooks.DrillViewSet, "drills")
    router.register_tenant("training-records", playbooks.TrainingRecordViewSet, "training-records")
    router.register_tenant("rules", detection.RuleViewSet, "rules")
    router.register_tenant("signals", detection.SignalViewSet, "signals")
    router.register_tenant("cases", cases.CaseViewSet, "cases")
    router.register_tenant(
        "incident-mentions", detection.IncidentMentionViewSet, "incident-mentions"
    )
    router.register_tenant("webhooks", notifications.WebhookEndpointViewSet, "webhooks")
    router.register_tenant(
        "webhook-deliveries", notifications.WebhookMessageViewSet, "webhook-deliveries"
    )
    router.register_tenant("contact-methods", channels.ContactMethodViewSet, "contact-methods")
    router.register_tenant(
        "notification-rules", channels.NotificationRuleViewSet, "notification-rules"
    )
    router.register_tenant(
        "escalation-policies", channels.EscalationPolicyViewSet, "escalation-policies"
    )
    router.register_tenant("notifications", channels.NotificationViewSet, "notifications")
    router.register_tenant("templates", communications.TemplateViewSet, "templates")
    router.register_tenant("messages", communications.MessageViewSet, "messages")
    router.register_tenant(
        "approval-policies", communications.ApprovalPolicyViewSet, "approval-policies"
    )
    router.register_tenant(
        "channel-accounts", communications.ChannelAccountViewSet, "channel-accounts"
    )
    router.register_tenant("banned-terms", communications.BannedTermViewSet, "banned-terms")
    router.register_tenant("status-page", communications.StatusPageViewSet, "status-page")
    router.register_tenant("sources", monitoring.SourceViewSet, "sources")
    router.register_tenant("watch-terms", monitoring.WatchTermViewSet, "watch-terms")
    router.register_tenant("mentions", monitoring.MentionViewSet, "mentions")
    router.register_tenant("reports", reports.ReportViewSet, "reports")
    router.register_tenant("incidents", reports.IncidentRecordViewSet, "incident-records")
    return router


router = build_router()
