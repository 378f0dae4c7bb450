"""Endpoints for templates, messages (with their review and publishing actions), approval
policies, platform accounts, banned terms and the status page settings."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from communications import selectors, services
from communications.filters import MessageFilter, TemplateFilter
from communications.models import (
    ApprovalPolicy,
    BannedTerm,
    ChannelAccount,
    Message,
    MessageTemplate,
    StatusPage,
)
from communications.serializers import (
    ApprovalPolicyInput,
    ApprovalPolicyOutput,
    BannedTermInput,
    BannedTermOutput,
    ChannelAccountInput,
    ChannelAccountOutput,
    ChannelAccountUpdateInput,
    CheckOutput,
    CommentInput,
    FromCaseInput,
    FromTemplateInput,
    LegalApproveInput,
    MessageDetailOutput,
    MessageInput,
    MessageOutput,
    MessageReasonInput,
    MessageUpdateInput,
    RenderInput,
    RenderOutput,
    ScheduleInput,
    StatusPageInput,
    StatusPageOutput,
    TemplateInput,
    TemplateOutput,
    WithdrawInput,
)
from crisis_api.api.access import ADMINS, ALL_ROLES, MANAGERS, allow
from crisis_api.api.viewsets import IF_MATCH, TenantViewSet, expected_version
from incidents.models import IncidentRole, RoleAssignment
from organisations.models import Role

AUTHORS = MANAGERS | {Role.COMMS_LEAD, Role.RESPONDER}
PUBLISHERS = MANAGERS | {Role.COMMS_LEAD}
REVIEWERS = MANAGERS | {Role.COMMS_LEAD, Role.APPROVER, Role.RESPONDER}
EDITORS = MANAGERS | {Role.COMMS_LEAD}
READ = allow(ALL_ROLES, "messages:read")


class CrudViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Shared shape of the set-up resources: list, read, and create, edit, delete through the
    service named by each handler."""

    pagination_class = None

    def _create(self, input_class: type[Any], service: Any) -> Response:
        data = input_class(data=self.request.data)
        data.is_valid(raise_exception=True)
        obj = service(organisation=self.organisation, actor=self.actor, **data.validated_data)
        return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED)

    def _update(self, input_class: type[Any], service: Any, name: str) -> Response:
        obj = self.get_object()  # 404 before the body is judged
        data = input_class(data=self.request.data, partial=True)
        data.is_valid(raise_exception=True)
        obj = service(**{name: obj}, actor=self.actor, **data.validated_data)
        return Response(self.get_serializer(obj).data)

    def _destroy(self, service: Any, name: str) -> Response:
        service(**{name: self.get_object()}, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- templates ----------------------------------------------------------------------------------


class TemplateViewSet(CrudViewSet):
    """Message templates with allow-listed variables and optional legal approval."""

    model = MessageTemplate
    serializer_class = TemplateOutput
    filterset_class = TemplateFilter
    access = {
        "list": READ,
        "retrieve": READ,
        "create": allow(EDITORS, "messages:write"),
        "partial_update": allow(EDITORS, "messages:write"),
        "destroy": allow(EDITORS, "messages:write"),
        "legal_approve": allow(MANAGERS | {Role.APPROVER}),
        "render": READ,
    }

    @extend_schema(request=TemplateInput, responses={201: TemplateOutput})
    def create(self, request: Request, org: str) -> Response:
        return self._create(TemplateInput, services.template_create)

    @extend_schema(request=TemplateInput, responses=TemplateOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        return self._update(TemplateInput, services.template_update, "template")

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        return self._destroy(services.template_delete, "template")

    @extend_schema(request=LegalApproveInput, responses=TemplateOutput)
    @action(detail=True, methods=["post"], url_path="legal-approve")
    def legal_approve(self, request: Request, org: str, pk: str) -> Response:
        """Legal signs off this version of the text, optionally until a date."""
        template = self.get_object()
        data = LegalApproveInput(data=request.data)
        data.is_valid(raise_exception=True)
        assert self.membership is not None  # API keys are not admitted
        template = services.template_legal_approve(
            template=template,
            actor=self.actor,
            user=self.membership.user,
            expires_at=data.validated_data["expires_at"],
        )
        return Response(TemplateOutput(template).data)

    @extend_schema(request=RenderInput, responses=RenderOutput)
    @action(detail=True, methods=["post"])
    def render(self, request: Request, org: str, pk: str) -> Response:
        """Preview the template with values (nothing is stored)."""
        template = self.get_object()
        data = RenderInput(data=request.data)
        data.is_valid(raise_exception=True)
        title, body = services.template_render(
            template=template, values=data.validated_data["values"]
        )
        return Response({"title": title, "body": body})


# --- messages -----------------------------------------------------------------------------------


ACTIONS: dict[str, Any] = {
    "submit": services.message_submit,
    "approve": services.message_approve,
    "reject": services.message_reject,
    "request_changes": services.message_request_changes,
    "withdraw": services.message_withdraw,
    "schedule": services.message_schedule,
    "publish": services.message_publish,
}
DECIDING = frozenset({"approve", "reject", "request_changes"})


def _message_action(name: str, input_class: type[Any] | None, summary: str) -> Any:
    """Build the POST action `…/messages/{id}/<name>/` calling one service."""

    def handler(self: MessageViewSet, request: Request, org: str, pk: str) -> Response:
        message = self.get_object()
        kwargs: dict[str, Any] = {}
        if input_class is not None:
            data = input_class(data=request.data)
            data.is_valid(raise_exception=True)
            kwargs = dict(data.validated_data)
        if name in DECIDING:
            user = self.membership.user if self.membership else None
            kwargs.update(user=user, role=self.role)
        ACTIONS[name](
            message=message, actor=self.actor, expected_version=expected_version(request), **kwargs
        )
        return self.detail_response(message)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = summary + "."
    decorated = action(
        detail=True, methods=["post"], url_path=name.replace("_", "-"), url_name=name
    )(handler)
    return extend_schema(
        summary=summary, request=input_class, responses=MessageDetailOutput, parameters=[IF_MATCH]
    )(decorated)


class MessageViewSet(mixins.ListModelMixin, TenantViewSet):
    """Outgoing messages: drafted, checked, approved per policy, published. Editing uses If-Match;
    any edit after submission voids earlier approvals."""

    model = Message
    serializer_class = MessageOutput
    filterset_class = MessageFilter
    access = {
        "list": READ,
        "retrieve": READ,
        "create": allow(AUTHORS, "messages:write"),
        "from_template": allow(AUTHORS, "messages:write"),
        "from_case": allow(AUTHORS, "messages:write"),
        "partial_update": allow(AUTHORS, "messages:write"),
        "submit": allow(AUTHORS, "messages:write"),
        "withdraw": allow(AUTHORS, "messages:write"),
        "check": allow(AUTHORS, "messages:write"),
        "override_check": allow(ADMINS),
        "approve": allow(REVIEWERS, incident_roles=IncidentRole.values),
        "reject": allow(REVIEWERS, incident_roles=IncidentRole.values),
        "request_changes": allow(REVIEWERS, incident_roles=IncidentRole.values),
        "schedule": allow(PUBLISHERS, "messages:write"),
        "publish": allow(PUBLISHERS, "messages:write"),
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = queryset.select_related("incident", "author")
        user = self.membership.user if self.membership else None
        return selectors.message_visible(
            queryset, organisation=self.organisation, user=user, role=self.role
        )

    def holds_incident_role(self, user: Any, roles: frozenset[str]) -> bool:
        """Whether `user` holds one of `roles` on the incident of the message in the URL."""
        try:
            incident_id = (
                Message.all_tenants.filter(
                    organisation=self.organisation, pk=str(self.kwargs.get("pk", ""))
                )
                .values_list("incident_id", flat=True)
                .first()
            )
        except Exception:  # a malformed id is simply no message; the view answers 404
            return False
        return (
            incident_id is not None
            and RoleAssignment.all_tenants.filter(
                incident_id=incident_id, user=user, role__in=roles, unassigned_at__isnull=True
            ).exists()
        )

    def detail_response(self, message: Message, code: int = status.HTTP_200_OK) -> Response:
        fresh = (
            self.get_queryset()
            .model.all_tenants.select_related("incident", "author")
            .get(pk=message.pk)
        )
        for name, value in selectors.message_detail(fresh).items():
            setattr(fresh, f"detail_{name}", value)
        body = MessageDetailOutput(fresh, context={"content_hash": fresh.content_hash}).data
        response = Response(body, status=code)
        response["ETag"] = f'"{fresh.version}"'
        return response

    @extend_schema(responses=MessageDetailOutput)
    def retrieve(self, request: Request, org: str, pk: str) -> Response:
        return self.detail_response(self.get_object())

    @extend_schema(request=MessageInput, responses={201: MessageDetailOutput})
    def create(self, request: Request, org: str) -> Response:
        data = MessageInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        message = services.message_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return self.detail_response(message, status.HTTP_201_CREATED)

    @extend_schema(request=FromTemplateInput, responses={201: MessageDetailOutput})
    @action(detail=False, methods=["post"], url_path="from-template")
    def from_template(self, request: Request, org: str) -> Response:
        """Draft a message from a template, filling in its variables."""
        data = FromTemplateInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        message = services.message_draft_from_template(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return self.detail_response(message, status.HTTP_201_CREATED)

    @extend_schema(request=FromCaseInput, responses={201: MessageDetailOutput})
    @action(detail=False, methods=["post"], url_path="from-case")
    def from_case(self, request: Request, org: str) -> Response:
        """Draft a personalised reply to a complaint case's latest post."""
        data = FromCaseInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        message = services.message_reply_from_case(actor=self.actor, **data.validated_data)
        return self.detail_response(message, status.HTTP_201_CREATED)

    @extend_schema(request=MessageUpdateInput, responses=MessageDetailOutput, parameters=[IF_MATCH])
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        message = self.get_object()
        data = MessageUpdateInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        services.message_update(
            message=message,
            actor=self.actor,
            expected_version=expected_version(request),
            **data.validated_data,
        )
        return self.detail_response(message)

    @extend_schema(request=None, responses={201: CheckOutput})
    @action(detail=True, methods=["post"])
    def check(self, request: Request, org: str, pk: str) -> Response:
        """Run the content checker on the current text now."""
        result = services.message_check(message=self.get_object(), actor=self.actor)
        return Response(CheckOutput(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MessageReasonInput, responses=CheckOutput)
    @action(detail=True, methods=["post"], url_path="override-check")
    def override_check(self, request: Request, org: str, pk: str) -> Response:
        """Let a blocked text through approval, with a reason (admins; recorded)."""
        message = self.get_object()
        data = MessageReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.message_check_override(
            message=message,
            actor=self.actor,
            user=self.membership.user if self.membership else None,
            reason=data.validated_data["reason"],
        )
        return Response(CheckOutput(result).data)

    submit = _message_action("submit", None, "Send for approval (runs the content checks)")
    approve = _message_action("approve", CommentInput, "Approve the current step")
    reject = _message_action("reject", MessageReasonInput, "Reject (reason required)")
    request_changes = _message_action(
        "request_changes", MessageReasonInput, "Send back to the author with a reason"
    )
    withdraw = _message_action("withdraw", WithdrawInput, "Withdraw before publishing")
    schedule = _message_action("schedule", ScheduleInput, "Publish at a time (once approved)")
    publish = _message_action("publish", None, "Publish now, or retry a failed publication")


# --- set-up -------------------------------------------------------------------------------------


class ApprovalPolicyViewSet(CrudViewSet):
    """Who approves which messages; the strictest applicable policy is chosen automatically."""

    model = ApprovalPolicy
    serializer_class = ApprovalPolicyOutput
    access = {
        "list": READ,
        "retrieve": READ,
        "create": allow(ADMINS),
        "partial_update": allow(ADMINS),
        "destroy": allow(ADMINS),
    }

    @extend_schema(request=ApprovalPolicyInput, responses={201: ApprovalPolicyOutput})
    def create(self, request: Request, org: str) -> Response:
        return self._create(ApprovalPolicyInput, services.approval_policy_create)

    @extend_schema(request=ApprovalPolicyInput, responses=ApprovalPolicyOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        return self._update(ApprovalPolicyInput, services.approval_policy_update, "policy")

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        return self._destroy(services.approval_policy_delete, "policy")


class ChannelAccountViewSet(CrudViewSet):
    """The organisation's Mastodon and Bluesky accounts (credentials write-only)."""

    model = ChannelAccount
    serializer_class = ChannelAccountOutput
    access = {
        "list": allow(EDITORS),
        "retrieve": allow(EDITORS),
        "create": allow(ADMINS),
        "partial_update": allow(ADMINS),
        "destroy": allow(ADMINS),
    }

    @extend_schema(request=ChannelAccountInput, responses={201: ChannelAccountOutput})
    def create(self, request: Request, org: str) -> Response:
        return self._create(ChannelAccountInput, services.channel_account_connect)

    @extend_schema(request=ChannelAccountUpdateInput, responses=ChannelAccountOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        return self._update(ChannelAccountUpdateInput, services.channel_account_update, "account")

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        return self._destroy(services.channel_account_delete, "account")


class BannedTermViewSet(CrudViewSet):
    """Words and phrases the content checker flags in every message of the organisation."""

    model = BannedTerm
    serializer_class = BannedTermOutput
    access = {
        "list": READ,
        "retrieve": READ,
        "create": allow(EDITORS, "messages:write"),
        "destroy": allow(EDITORS, "messages:write"),
    }

    @extend_schema(request=BannedTermInput, responses={201: BannedTermOutput})
    def create(self, request: Request, org: str) -> Response:
        return self._create(BannedTermInput, services.banned_term_create)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        return self._destroy(services.banned_term_delete, "term")


class StatusPageViewSet(TenantViewSet):
    """The public status timeline's settings; the timeline itself is public (no auth)."""

    singleton = True
    model = StatusPage
    access = {
        "retrieve": READ,
        "partial_update": allow(ADMINS),
    }
    serializer_class = StatusPageOutput

    def _output(self, page: StatusPage) -> dict[str, Any]:
        url = reverse("public-status", kwargs={"org": self.organisation.slug})
        feed = reverse("public-status-feed", kwargs={"org": self.organisation.slug})
        return {
            "enabled": page.enabled,
            "title": page.title,
            "description": page.description,
            "history_days": page.history_days,
            "public_url": self.request.build_absolute_uri(url),
            "feed_url": self.request.build_absolute_uri(feed),
            "updated_at": page.updated_at,
        }

    def retrieve(self, request: Request, org: str) -> Response:
        page = services.status_page_get(organisation=self.organisation)
        return Response(StatusPageOutput(self._output(page)).data)

    @extend_schema(request=StatusPageInput, responses=StatusPageOutput)
    def partial_update(self, request: Request, org: str) -> Response:
        data = StatusPageInput(data=request.data)
        data.is_valid(raise_exception=True)
        page = services.status_page_update(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return Response(StatusPageOutput(self._output(page)).data)
