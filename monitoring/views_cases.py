"""Endpoints of complaint cases: the list, assignment, lifecycle actions and their mentions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis_api.api.access import ALL_ROLES, MANAGERS, allow
from crisis_api.api.pagination import CursorPagination
from crisis_api.api.viewsets import TenantViewSet
from monitoring.filters_detection import CaseFilter
from monitoring.models import Case, Mention
from monitoring.serializers_detection import (
    CaseAssignInput,
    CaseLinkInput,
    CaseMentionOutput,
    CaseOutput,
)
from monitoring.services import cases
from organisations.models import Role

CASE_WORKERS = MANAGERS | {Role.COMMS_LEAD, Role.RESPONDER}


class CaseMentionPagination(CursorPagination):
    ordering = ("-posted_at", "-pk")


def _transition_action(name: str, summary: str) -> Any:
    """Build the POST action `…/cases/{id}/<name>/` for one lifecycle transition."""

    def handler(self: CaseViewSet, request: Request, org: str, pk: str) -> Response:
        case = cases.case_transition(case=self.get_object(), action=name, actor=self.actor)
        return self._output(case)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = summary + "."
    url = name.replace("_", "-")
    decorated = action(detail=True, methods=["post"], url_path=url, url_name=url)(handler)
    return extend_schema(summary=summary, request=None, responses=CaseOutput)(decorated)


class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Complaint cases, one per author's open thread; `?assignee=<me>` is a personal queue."""

    model = Case
    serializer_class = CaseOutput
    filterset_class = CaseFilter
    access = {
        "list": allow(ALL_ROLES, "cases:read"),
        "retrieve": allow(ALL_ROLES, "cases:read"),
        "mentions": allow(ALL_ROLES, "cases:read"),
        "assign": allow(CASE_WORKERS, "cases:write"),
        "link": allow(CASE_WORKERS, "cases:write"),
        **{name: allow(CASE_WORKERS, "cases:write") for name in cases.TRANSITIONS},
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("assignee", "incident")

    def _output(self, case: Case) -> Response:
        return Response(CaseOutput(self.get_queryset().get(pk=case.pk)).data)

    respond = _transition_action("respond", "Record a response to the complainant")
    await_customer = _transition_action("await_customer", "Wait for the complainant's answer")
    resolve = _transition_action("resolve", "Resolve the case")
    close = _transition_action("close", "Close a resolved case")
    reopen = _transition_action("reopen", "Reopen a resolved or closed case")

    @extend_schema(request=CaseAssignInput, responses=CaseOutput)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, org: str, pk: str) -> Response:
        """Give the case to a member (null takes it back)."""
        case = self.get_object()
        data = CaseAssignInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        return self._output(cases.case_assign(case=case, actor=self.actor, **data.validated_data))

    @extend_schema(request=CaseLinkInput, responses=CaseOutput)
    @action(detail=True, methods=["post"])
    def link(self, request: Request, org: str, pk: str) -> Response:
        """Link the case to an open incident (null unlinks it)."""
        case = self.get_object()
        data = CaseLinkInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        return self._output(cases.case_link(case=case, actor=self.actor, **data.validated_data))

    @extend_schema(responses=CaseMentionOutput(many=True), filters=False)
    @action(
        detail=True, methods=["get"], pagination_class=CaseMentionPagination, filter_backends=[]
    )
    def mentions(self, request: Request, org: str, pk: str) -> Response:
        """The mentions of the case's thread, newest first."""
        case = self.get_object()
        page = self.paginate_queryset(Mention.all_tenants.filter(case=case)) or []
        return self.get_paginated_response(CaseMentionOutput(page, many=True).data)
