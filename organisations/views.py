"""Endpoints for organisations, members, invitations, API keys and the event log."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis_api.api.access import ADMINS, ALL_ROLES, allow
from crisis_api.api.idempotency import IdempotentDispatchMixin
from crisis_api.api.pagination import CursorPagination
from crisis_api.api.viewsets import DeclaredAccessPermission, TenantViewSet
from organisations import selectors, services
from organisations.events import events_visible
from organisations.filters import EventFilter, InvitationFilter, MembershipFilter
from organisations.models import ApiKey, Event, Invitation, Membership, Organisation, Role
from organisations.serializers import (
    ApiKeyCreateInput,
    ApiKeyIssuedOutput,
    ApiKeyOutput,
    ApiKeyUpdateInput,
    ChainReportOutput,
    EventOutput,
    InvitationCreateInput,
    InvitationOutput,
    MembershipOutput,
    MembershipUpdateInput,
    OrganisationCreateInput,
    OrganisationOutput,
    OrganisationUpdateInput,
    api_key_output,
)

AUDITORS = ADMINS | {Role.CRISIS_MANAGER, Role.ANALYST}


class EventCursorPagination(CursorPagination):
    ordering = ("-seq", "-pk")


class OrganisationViewSet(
    IdempotentDispatchMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    """Organisations the caller belongs to (an API key: its own), and creating a new one."""

    access = {
        "list": allow(ALL_ROLES, "organisation:read"),
        "create": allow(ALL_ROLES),
    }
    permission_classes = (DeclaredAccessPermission,)
    serializer_class = OrganisationOutput
    queryset = Organisation.objects.none()
    http_method_names = ["get", "post", "head"]

    def get_queryset(self) -> QuerySet[Organisation]:
        auth = self.request.auth
        if isinstance(auth, ApiKey):
            return Organisation.objects.filter(pk=auth.organisation_id)
        user_id = str(self.request.user.pk)
        role = Membership.all_tenants.filter(organisation=OuterRef("pk"), user_id=user_id)
        return Organisation.objects.filter(membership__user_id=user_id).annotate(
            caller_role=Subquery(role.values("role")[:1])
        )

    @extend_schema(request=OrganisationCreateInput, responses={201: OrganisationOutput})
    def create(self, request: Request) -> Response:
        data = OrganisationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        organisation = services.organisation_create(owner=request.user, **data.validated_data)  # type: ignore[arg-type]
        organisation.caller_role = Role.OWNER  # type: ignore[attr-defined]
        return Response(OrganisationOutput(organisation).data, status=status.HTTP_201_CREATED)


class CurrentOrganisationViewSet(TenantViewSet):
    """The organisation named in the URL: profile and plan limits."""

    singleton = True
    model = Organisation
    access = {
        "retrieve": allow(ALL_ROLES, "organisation:read"),
        "partial_update": allow(ADMINS),
    }
    serializer_class = OrganisationOutput

    def get_queryset(self) -> QuerySet[Any]:
        return Organisation.objects.filter(pk=self.organisation.pk)

    def _output(self) -> dict[str, Any]:
        self.organisation.caller_role = self.role  # type: ignore[attr-defined]
        return dict(OrganisationOutput(self.organisation).data)

    def retrieve(self, request: Request, org: str) -> Response:
        return Response(self._output())

    @extend_schema(request=OrganisationUpdateInput, responses=OrganisationOutput)
    def partial_update(self, request: Request, org: str) -> Response:
        data = OrganisationUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.organisation_update(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return Response(self._output())


class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Members of the organisation and their roles."""

    model = Membership
    access = {
        "list": allow(ALL_ROLES, "members:read"),
        "retrieve": allow(ALL_ROLES, "members:read"),
        "partial_update": allow(ADMINS),
        "destroy": allow(ADMINS),
    }
    serializer_class = MembershipOutput
    filterset_class = MembershipFilter

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("user")

    @extend_schema(request=MembershipUpdateInput, responses=MembershipOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        membership = self.get_object()
        data = MembershipUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.membership_change_role(
            membership=membership,
            role=data.validated_data["role"],
            actor=self.actor,
            actor_role=self.role or "",
        )
        return Response(MembershipOutput(membership).data)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.membership_remove(
            membership=self.get_object(), actor=self.actor, actor_role=self.role or ""
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Invitations by e-mail; the token travels only in the e-mail."""

    model = Invitation
    access = {
        "list": allow(ADMINS),
        "retrieve": allow(ADMINS),
        "create": allow(ADMINS),
        "destroy": allow(ADMINS),
        "resend": allow(ADMINS),
    }
    serializer_class = InvitationOutput
    filterset_class = InvitationFilter

    @extend_schema(request=InvitationCreateInput, responses={201: InvitationOutput})
    def create(self, request: Request, org: str) -> Response:
        data = InvitationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.invitation_create(
            organisation=self.organisation,
            actor=self.actor,
            actor_role=self.role or "",
            **data.validated_data,
        )
        return Response(InvitationOutput(issued.invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke a pending invitation", responses={204: None})
    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.invitation_revoke(invitation=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=InvitationOutput)
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, org: str, pk: str) -> Response:
        """Send a fresh link (new token and expiry); the previous link stops working."""
        issued = services.invitation_resend(invitation=self.get_object(), actor=self.actor)
        return Response(InvitationOutput(issued.invitation).data)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """API keys for integrators. The secret is in the creation response only."""

    model = ApiKey
    access = {
        "list": allow(ADMINS),
        "retrieve": allow(ADMINS),
        "create": allow(ADMINS),
        "partial_update": allow(ADMINS),
        "revoke": allow(ADMINS),
    }
    serializer_class = ApiKeyOutput
    idempotency_secret_fields = ("secret",)

    @extend_schema(request=ApiKeyCreateInput, responses={201: ApiKeyIssuedOutput})
    def create(self, request: Request, org: str) -> Response:
        data = ApiKeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.api_key_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return Response(
            api_key_output(issued.api_key, issued.secret), status=status.HTTP_201_CREATED
        )

    @extend_schema(request=ApiKeyUpdateInput, responses=ApiKeyOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        api_key = self.get_object()
        data = ApiKeyUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        api_key = services.api_key_update(
            api_key=api_key, actor=self.actor, name=data.validated_data["name"]
        )
        return Response(api_key_output(api_key))

    @extend_schema(request=None, responses=ApiKeyOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, org: str, pk: str) -> Response:
        """Revoke the key at once; requests with it get 401 from now on."""
        api_key = services.api_key_revoke(api_key=self.get_object(), actor=self.actor)
        return Response(api_key_output(api_key))


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The organisation's event log: who changed what, when; newest first."""

    model = Event
    access = {
        "list": allow(AUDITORS, "events:read"),
        "retrieve": allow(AUDITORS, "events:read"),
        "verify": allow(AUDITORS, "events:read"),
    }
    serializer_class = EventOutput
    filterset_class = EventFilter

    pagination_class = EventCursorPagination

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        user = self.membership.user if self.membership else None
        visible: QuerySet[Any] = events_visible(
            queryset, organisation=self.organisation, user=user, role=self.role
        )
        return visible

    @extend_schema(responses=ChainReportOutput, filters=False)
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def verify(self, request: Request, org: str) -> Response:
        """Walk the whole chain and report the first broken link, if any."""
        report = selectors.event_chain_report(organisation=self.organisation)
        return Response(report.as_dict())
