"""Endpoints for crisis types, severities, incidents (with their lifecycle actions, roles,
notes, timeline and review) and tasks."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from crisis_api.api.access import ADMINS, ALL_ROLES, MANAGERS, allow
from crisis_api.api.pagination import CursorPagination
from crisis_api.api.viewsets import IF_MATCH, TenantViewSet, expected_version
from incidents import selectors, services
from incidents.filters import IncidentFilter, TaskFilter
from incidents.models import (
    CrisisType,
    Incident,
    IncidentRole,
    Note,
    Review,
    RoleAssignment,
    Severity,
    Task,
)
from incidents.serializers import (
    ActionItemInput,
    AssignmentOutput,
    CancelInput,
    CrisisTypeInput,
    CrisisTypeOutput,
    IncidentCreateInput,
    IncidentDetailOutput,
    IncidentOutput,
    IncidentUpdateInput,
    MergeInput,
    NoteInput,
    ReasonInput,
    ReviewInput,
    ReviewOutput,
    RoleAssignInput,
    RoleUnassignInput,
    SeverityChangeInput,
    SeverityInput,
    SeverityOutput,
    TaskCreateInput,
    TaskOutput,
    TaskUpdateInput,
    TimelineEntryOutput,
    assignment_output,
    task_output,
)
from organisations.models import Event, Role

# Who runs incidents: managers, plus whoever commands the incident at hand.
OPERATORS = MANAGERS
RESPONDERS = MANAGERS | {Role.COMMS_LEAD, Role.RESPONDER}
REVIEWERS = MANAGERS | {Role.COMMS_LEAD}
COMMAND = {IncidentRole.COMMANDER}
WORKERS = {IncidentRole.COMMANDER, IncidentRole.SCRIBE, IncidentRole.RESPONDER}


def _read(scope_roles: frozenset[str] = ALL_ROLES) -> Any:
    return allow(scope_roles, "incidents:read")


class ConfigViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Shared shape of crisis types and severities: everyone reads, admins edit."""

    access = {
        "list": _read(),
        "retrieve": _read(),
        "create": allow(ADMINS),
        "partial_update": allow(ADMINS),
        "destroy": allow(ADMINS),
    }
    pagination_class = None


class CrisisTypeViewSet(ConfigViewSet):
    """Crisis types the organisation plans for."""

    model = CrisisType
    serializer_class = CrisisTypeOutput

    @extend_schema(request=CrisisTypeInput, responses={201: CrisisTypeOutput})
    def create(self, request: Request, org: str) -> Response:
        data = CrisisTypeInput(data=request.data)
        data.is_valid(raise_exception=True)
        crisis_type = services.crisis_type_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return Response(CrisisTypeOutput(crisis_type).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CrisisTypeInput, responses=CrisisTypeOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        crisis_type = self.get_object()
        data = CrisisTypeInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.crisis_type_update(
            crisis_type=crisis_type, actor=self.actor, **data.validated_data
        )
        return Response(CrisisTypeOutput(crisis_type).data)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.crisis_type_delete(crisis_type=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SeverityViewSet(ConfigViewSet):
    """Severity levels: rank, public-update cadence, review and approval requirements."""

    model = Severity
    serializer_class = SeverityOutput

    @extend_schema(request=SeverityInput, responses={201: SeverityOutput})
    def create(self, request: Request, org: str) -> Response:
        data = SeverityInput(data=request.data)
        data.is_valid(raise_exception=True)
        severity = services.severity_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return Response(SeverityOutput(severity).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SeverityInput, responses=SeverityOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        severity = self.get_object()
        data = SeverityInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.severity_update(severity=severity, actor=self.actor, **data.validated_data)
        return Response(SeverityOutput(severity).data)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.severity_delete(severity=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TimelinePagination(CursorPagination):
    ordering = ("seq", "pk")


def _transition_action(name: str, input_class: type[Any] | None, summary: str) -> Any:
    """Build the POST action `…/incidents/{id}/<name>/` for one lifecycle transition."""

    def handler(self: IncidentViewSet, request: Request, org: str, pk: str) -> Response:
        incident = self.get_object()
        kwargs: dict[str, Any] = {}
        if input_class is not None:
            data = input_class(data=request.data, context=self.get_serializer_context())
            data.is_valid(raise_exception=True)
            kwargs = dict(data.validated_data)
        if "into" in kwargs:
            kwargs["target"] = kwargs.pop("into")
        incident = services.incident_transition(
            incident=incident,
            action=name,
            actor=self.actor,
            expected_version=self.expected_version(),
            **kwargs,
        )
        return self.detail_response(incident)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = summary + "."
    decorated = action(detail=True, methods=["post"], url_path=name, url_name=name)(handler)
    return extend_schema(
        summary=summary, request=input_class, responses=IncidentDetailOutput, parameters=[IF_MATCH]
    )(decorated)


def _with_details(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """What IncidentDetailOutput reads, loaded in a fixed number of queries."""
    return queryset.select_related("merged_into", "review").prefetch_related(
        Prefetch(
            "assignments",
            queryset=RoleAssignment.all_tenants.filter(unassigned_at__isnull=True).select_related(
                "user"
            ),
            to_attr="current_assignments",
        )
    )


class IncidentViewSet(mixins.ListModelMixin, TenantViewSet):
    """Crisis incidents. State changes are action endpoints; editing uses If-Match."""

    model = Incident
    serializer_class = IncidentOutput
    filterset_class = IncidentFilter
    access = {
        "list": _read(),
        "retrieve": _read(),
        "timeline": _read(),
        "roles": _read(),
        "review": _read(),
        "create": allow(RESPONDERS, "incidents:write"),
        "notes": allow(RESPONDERS, "incidents:write", incident_roles=IncidentRole.values),
        "partial_update": allow(OPERATORS, "incidents:write", incident_roles=COMMAND),
        "severity": allow(OPERATORS, "incidents:write", incident_roles=COMMAND),
        **{
            name: allow(OPERATORS, "incidents:write", incident_roles=COMMAND)
            for name in services.TRANSITIONS
        },
        "assign_role": allow(OPERATORS, "incidents:write", incident_roles=COMMAND),
        "unassign_role": allow(OPERATORS, "incidents:write", incident_roles=COMMAND),
        "update_review": allow(REVIEWERS, "incidents:write", incident_roles=WORKERS),
        "complete_review": allow(OPERATORS, "incidents:write", incident_roles=COMMAND),
        "action_items": allow(REVIEWERS, "incidents:write", incident_roles=WORKERS),
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = queryset.select_related("severity", "crisis_type", "commander")
        if self.action == "retrieve":  # actions render through detail_response
            queryset = _with_details(queryset)
        user = self.membership.user if self.membership else None
        return selectors.incident_visible(queryset, user=user, role=self.role)

    def holds_incident_role(self, user: Any, roles: frozenset[str]) -> bool:
        """Whether `user` holds one of `roles` on the incident in the URL (and may see it)."""
        pk = self.kwargs.get("pk")
        if pk is None:
            return False
        try:
            return RoleAssignment.all_tenants.filter(
                organisation=self.organisation,
                incident_id=pk,
                user=user,
                role__in=roles,
                unassigned_at__isnull=True,
            ).exists()
        except Exception:  # a malformed id is simply not an assignment; the view answers 404
            return False

    def expected_version(self) -> int | None:
        return expected_version(self.request)

    def detail_response(self, incident: Incident, code: int = status.HTTP_200_OK) -> Response:
        """The incident the caller just declared or changed, with its new ETag.

        Loaded here with its details (`create` is not a detail route) and not filtered by
        visibility: a responder who declares a restricted incident gets it back, though they
        may not read it later unless assigned to it."""
        queryset = Incident.all_tenants.filter(organisation=self.organisation)
        queryset = queryset.select_related("severity", "crisis_type", "commander")
        fresh = _with_details(queryset).get(pk=incident.pk)
        response = Response(IncidentDetailOutput(fresh).data, status=code)
        response["ETag"] = f'"{fresh.version}"'
        return response

    @extend_schema(responses=IncidentDetailOutput)
    def retrieve(self, request: Request, org: str, pk: str) -> Response:
        incident = self.get_object()
        response = Response(IncidentDetailOutput(incident).data)
        response["ETag"] = f'"{incident.version}"'
        return response

    @extend_schema(request=IncidentCreateInput, responses={201: IncidentDetailOutput})
    def create(self, request: Request, org: str) -> Response:
        data = IncidentCreateInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        source = Incident.Source.API if self.api_key else Incident.Source.MANUAL
        incident = services.incident_declare(
            organisation=self.organisation, actor=self.actor, source=source, **data.validated_data
        )
        return self.detail_response(incident, status.HTTP_201_CREATED)

    @extend_schema(
        request=IncidentUpdateInput, responses=IncidentDetailOutput, parameters=[IF_MATCH]
    )
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        incident = self.get_object()
        data = IncidentUpdateInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        incident = services.incident_update(
            incident=incident,
            actor=self.actor,
            expected_version=self.expected_version(),
            **data.validated_data,
        )
        return self.detail_response(incident)

    declare = _transition_action("declare", ReasonInput, "Confirm a triaged incident: active")
    decline = _transition_action("decline", ReasonInput, "Decline a triaged incident")
    contain = _transition_action("contain", ReasonInput, "Mark the incident contained")
    resolve = _transition_action("resolve", ReasonInput, "Mark the incident resolved")
    close = _transition_action("close", ReasonInput, "Close (needs a review unless exempt)")
    reopen = _transition_action("reopen", ReasonInput, "Reopen a resolved incident")
    merge = _transition_action("merge", MergeInput, "Merge into another open incident")
    cancel = _transition_action("cancel", CancelInput, "Cancel the incident (reason required)")

    @extend_schema(
        request=SeverityChangeInput, responses=IncidentDetailOutput, parameters=[IF_MATCH]
    )
    @action(detail=True, methods=["post"])
    def severity(self, request: Request, org: str, pk: str) -> Response:
        """Raise or lower the severity while the incident is open."""
        incident = self.get_object()
        data = SeverityChangeInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        incident = services.incident_change_severity(
            incident=incident,
            severity=data.validated_data["severity"],
            actor=self.actor,
            expected_version=self.expected_version(),
        )
        return self.detail_response(incident)

    @extend_schema(responses=TimelineEntryOutput(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=TimelinePagination, filter_backends=[])
    def timeline(self, request: Request, org: str, pk: str) -> Response:
        """The incident's events and notes, oldest first."""
        incident = self.get_object()
        events = selectors.incident_timeline(organisation=self.organisation, incident=incident)
        page: list[Event] = self.paginate_queryset(events) or []
        note_ids = [e.payload.get("note_id") for e in page if e.type == "incident.note_added"]
        notes = {str(n.pk): n for n in Note.all_tenants.filter(pk__in=[i for i in note_ids if i])}
        data = TimelineEntryOutput(page, many=True, context={"notes": notes}).data
        return self.get_paginated_response(data)

    @extend_schema(request=NoteInput, responses={201: TimelineEntryOutput})
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, org: str, pk: str) -> Response:
        """Write a note on the timeline."""
        incident = self.get_object()
        data = NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        note = services.note_add(incident=incident, actor=self.actor, **data.validated_data)
        event = Event.all_tenants.filter(
            organisation=self.organisation,
            type="incident.note_added",
            payload__note_id=str(note.pk),
        ).get()
        body = TimelineEntryOutput(event, context={"notes": {str(note.pk): note}}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses=AssignmentOutput(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def roles(self, request: Request, org: str, pk: str) -> Response:
        """Every role assignment of the incident, current and past."""
        incident = self.get_object()
        assignments = RoleAssignment.all_tenants.filter(incident=incident).select_related("user")
        return Response([assignment_output(a) for a in assignments])

    @extend_schema(request=RoleAssignInput, responses={201: AssignmentOutput})
    @action(detail=True, methods=["post"], url_path="assign-role")
    def assign_role(self, request: Request, org: str, pk: str) -> Response:
        """Give a member an incident role (a new commander replaces the previous one)."""
        incident = self.get_object()
        data = RoleAssignInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        assignment = services.incident_role_assign(
            incident=incident, actor=self.actor, **data.validated_data
        )
        return Response(assignment_output(assignment), status=status.HTTP_201_CREATED)

    @extend_schema(request=RoleUnassignInput, responses=AssignmentOutput)
    @action(detail=True, methods=["post"], url_path="unassign-role")
    def unassign_role(self, request: Request, org: str, pk: str) -> Response:
        """End a role assignment (it stays in the history)."""
        incident = self.get_object()
        data = RoleUnassignInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        assignment = data.validated_data["assignment"]
        if assignment.incident_id != incident.pk:
            raise NotFound("assignment: no such role assignment on this incident.")
        assignment = services.incident_role_unassign(assignment=assignment, actor=self.actor)
        return Response(assignment_output(assignment))

    def _review_response(self, incident: Incident, review: Review) -> Response:
        items = Task.all_tenants.filter(incident=incident, source=Task.Source.REVIEW)
        items = items.select_related("incident", "owner")
        context = {"action_items": list(items)}
        return Response(ReviewOutput(review, context=context).data)

    @extend_schema(responses=ReviewOutput, filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def review(self, request: Request, org: str, pk: str) -> Response:
        """The post-incident review (404 until someone writes it)."""
        incident = self.get_object()
        review = Review.all_tenants.filter(incident=incident).select_related("incident").first()
        if review is None:
            raise NotFound("This incident has no review yet.")
        return self._review_response(incident, review)

    @extend_schema(request=ReviewInput, responses=ReviewOutput)
    @review.mapping.patch
    def update_review(self, request: Request, org: str, pk: str) -> Response:
        """Write or edit the review (once the incident is resolved)."""
        incident = self.get_object()
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_update(incident=incident, actor=self.actor, **data.validated_data)
        return self._review_response(incident, review)

    @extend_schema(request=None, responses=ReviewOutput)
    @action(detail=True, methods=["post"], url_path="review/complete")
    def complete_review(self, request: Request, org: str, pk: str) -> Response:
        """Complete the review; the incident may then be closed."""
        incident = self.get_object()
        review = services.review_complete(incident=incident, actor=self.actor)
        return self._review_response(incident, review)

    @extend_schema(request=ActionItemInput, responses={201: TaskOutput})
    @action(detail=True, methods=["post"], url_path="review/action-items")
    def action_items(self, request: Request, org: str, pk: str) -> Response:
        """Add an action item (a task with source `review`)."""
        incident = self.get_object()
        data = ActionItemInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        task = services.review_action_item_add(
            incident=incident, actor=self.actor, **data.validated_data
        )
        return Response(task_output(task), status=status.HTTP_201_CREATED)


class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Tasks of the incidents the caller can see; `?owner=<me>` is a personal to-do list."""

    model = Task
    serializer_class = TaskOutput
    filterset_class = TaskFilter
    access = {
        "list": _read(),
        "retrieve": _read(),
        "create": allow(RESPONDERS, "incidents:write"),
        "partial_update": allow(RESPONDERS, "incidents:write"),
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        user = self.membership.user if self.membership else None
        visible = selectors.incident_visible(
            Incident.all_tenants.filter(organisation=self.organisation), user=user, role=self.role
        )
        return queryset.filter(incident__in=visible).select_related("incident", "owner")

    @extend_schema(request=TaskCreateInput, responses={201: TaskOutput})
    def create(self, request: Request, org: str) -> Response:
        data = TaskCreateInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        task = services.task_create(actor=self.actor, **data.validated_data)
        return Response(task_output(task), status=status.HTTP_201_CREATED)

    @extend_schema(request=TaskUpdateInput, responses=TaskOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        task = self.get_object()
        data = TaskUpdateInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        task = services.task_update(task=task, actor=self.actor, **data.validated_data)
        return Response(task_output(self.get_queryset().get(pk=task.pk)))
