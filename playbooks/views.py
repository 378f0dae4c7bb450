"""Endpoints for playbooks (drafts, publishing, versions, diff, review), runs (per incident,
step completion and skipping), drills (schedule, start, finish, cancel, report) and training
records."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from crisis_api.api.access import ALL_ROLES, MANAGERS, allow
from crisis_api.api.pagination import CursorPagination
from crisis_api.api.viewsets import TenantViewSet
from incidents.models import CrisisType, Incident, IncidentRole
from incidents.selectors import incident_visible
from organisations.models import Role
from playbooks import selectors, services
from playbooks.contents import contents_diff
from playbooks.filters import DrillFilter, PlaybookFilter, RunFilter, TrainingRecordFilter
from playbooks.models import (
    Drill,
    DrillParticipant,
    Playbook,
    PlaybookRun,
    PlaybookVersion,
    TrainingRecord,
)
from playbooks.run_serializers import (
    DrillCancelInput,
    DrillFinishInput,
    DrillInput,
    DrillOutput,
    DrillReportOutput,
    DrillUpdateInput,
    RunDetailOutput,
    RunInput,
    RunOutput,
    StepActionInput,
    StepSkipInput,
    TrainingRecordOutput,
)
from playbooks.serializers import (
    DiffOutput,
    DiffQuery,
    PlaybookDetailOutput,
    PlaybookInput,
    PlaybookOutput,
    PublishInput,
    VersionOutput,
)
from playbooks.services.playbooks import playbook_document, version_document

READ = allow(ALL_ROLES, "playbooks:read")
EDIT = allow(MANAGERS, "playbooks:write")
# Who carries out steps: responders, plus whoever holds an incident role on the run's incident.
RESPONDERS = MANAGERS | {Role.COMMS_LEAD, Role.RESPONDER}
STEP_WORKERS = set(IncidentRole.values) - {IncidentRole.OBSERVER}


def _participants(queryset: QuerySet[Any]) -> QuerySet[Any]:
    return queryset.prefetch_related(
        Prefetch("participants", queryset=DrillParticipant.all_tenants.select_related("user"))
    )


class PlaybookViewSet(mixins.ListModelMixin, TenantViewSet):
    """Playbooks. Managers edit the draft and publish it as an immutable, numbered version."""

    model = Playbook
    serializer_class = PlaybookOutput
    filterset_class = PlaybookFilter
    access = {
        "list": READ,
        "retrieve": READ,
        "versions": READ,
        "diff": READ,
        "create": EDIT,
        "partial_update": EDIT,
        "destroy": EDIT,
        "publish": EDIT,
        "mark_reviewed": EDIT,
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("owner", "current_version").prefetch_related(
            Prefetch("crisis_types", queryset=CrisisType.all_tenants.only("pk"))
        )

    def detail_response(self, playbook: Playbook, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=playbook.pk)
        stats = selectors.playbook_stats(playbook=fresh)
        return Response(PlaybookDetailOutput(fresh, context={"stats": stats}).data, status=code)

    @extend_schema(responses=PlaybookDetailOutput)
    def retrieve(self, request: Request, org: str, pk: str) -> Response:
        return self.detail_response(self.get_object())

    @extend_schema(request=PlaybookInput, responses={201: PlaybookDetailOutput})
    def create(self, request: Request, org: str) -> Response:
        data = PlaybookInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        playbook = services.playbook_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return self.detail_response(playbook, status.HTTP_201_CREATED)

    @extend_schema(request=PlaybookInput, responses=PlaybookDetailOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        """Edit the draft; a published playbook's versions and runs are untouched."""
        playbook = self.get_object()
        data = PlaybookInput(data=request.data, partial=True, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        services.playbook_update(playbook=playbook, actor=self.actor, **data.validated_data)
        return self.detail_response(playbook)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        """Delete a playbook never published (409 otherwise)."""
        services.playbook_delete(playbook=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=PublishInput, responses={201: VersionOutput})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, org: str, pk: str) -> Response:
        """Publish the draft as the next immutable version."""
        playbook = self.get_object()
        data = PublishInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.playbook_publish(
            playbook=playbook, actor=self.actor, **data.validated_data
        )
        return Response(VersionOutput(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PlaybookDetailOutput)
    @action(detail=True, methods=["post"], url_path="mark-reviewed")
    def mark_reviewed(self, request: Request, org: str, pk: str) -> Response:
        """The owner confirms the plan is current; the next review is one period away."""
        playbook = services.playbook_mark_reviewed(playbook=self.get_object(), actor=self.actor)
        return self.detail_response(playbook)

    @extend_schema(responses=VersionOutput(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def versions(self, request: Request, org: str, pk: str) -> Response:
        """Every published version, newest first."""
        playbook = self.get_object()
        versions = PlaybookVersion.all_tenants.filter(playbook=playbook).order_by("-number")
        return Response(VersionOutput(versions, many=True).data)

    @extend_schema(
        responses=DiffOutput,
        filters=False,
        parameters=[
            OpenApiParameter("base", OpenApiTypes.INT, description="A version number."),
            OpenApiParameter("head", OpenApiTypes.STR, description='A version number or "draft".'),
        ],
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def diff(self, request: Request, org: str, pk: str) -> Response:
        """What changed from version `base` to version `head` (or to the draft)."""
        playbook = self.get_object()
        query = DiffQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        base, head = query.validated_data["base"], query.validated_data["head"]
        numbers = {base} | ({int(head)} if head != "draft" else set())
        versions = {
            v.number: v
            for v in PlaybookVersion.all_tenants.filter(playbook=playbook, number__in=numbers)
        }
        missing = sorted(numbers - set(versions))
        if missing:
            raise NotFound(f"This playbook has no version {missing[0]}.")
        old = version_document(versions[base])
        new = (
            playbook_document(playbook)
            if head == "draft"
            else version_document(versions[int(head)])
        )
        return Response({"base": base, "head": head, **contents_diff(old, new)})


class RunPagination(CursorPagination):
    ordering = ("-started_at", "-pk")


class PlaybookRunViewSet(mixins.ListModelMixin, TenantViewSet):
    """Runs of playbooks on the incidents the caller can see (`?incident=` for one incident)."""

    model = PlaybookRun
    serializer_class = RunOutput
    filterset_class = RunFilter
    pagination_class = RunPagination
    access = {
        "list": READ,
        "retrieve": READ,
        "create": allow(RESPONDERS, "playbooks:write"),
        "complete_step": allow(RESPONDERS, "playbooks:write", incident_roles=STEP_WORKERS),
        "skip_step": allow(MANAGERS, "playbooks:write", incident_roles={IncidentRole.COMMANDER}),
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        user = self.membership.user if self.membership else None
        visible = incident_visible(
            Incident.all_tenants.filter(organisation=self.organisation), user=user, role=self.role
        )
        queryset = queryset.filter(incident__in=visible)
        if self.action == "list":
            return queryset.select_related("incident", "version")
        return selectors.run_with_steps(queryset)

    def holds_incident_role(self, user: Any, roles: frozenset[str]) -> bool:
        """Whether `user` holds one of `roles` on the incident of the run in the URL."""
        from incidents.models import RoleAssignment

        try:
            return RoleAssignment.all_tenants.filter(
                organisation=self.organisation,
                incident__in=PlaybookRun.all_tenants.filter(
                    organisation=self.organisation, pk=str(self.kwargs.get("pk", ""))
                ).values("incident"),
                user=user,
                role__in=roles,
                unassigned_at__isnull=True,
            ).exists()
        except Exception:  # a malformed id is no assignment; the view answers 404
            return False

    def detail_response(self, run: PlaybookRun, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=run.pk)
        return Response(RunDetailOutput(fresh).data, status=code)

    @extend_schema(responses=RunDetailOutput)
    def retrieve(self, request: Request, org: str, pk: str) -> Response:
        return Response(RunDetailOutput(self.get_object()).data)

    @extend_schema(request=RunInput, responses={201: RunDetailOutput})
    def create(self, request: Request, org: str) -> Response:
        """Start a published playbook on an incident by hand (once per incident and playbook)."""
        data = RunInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        run = services.playbook_run_start(actor=self.actor, **data.validated_data)
        return self.detail_response(run, status.HTTP_201_CREATED)

    @extend_schema(request=StepActionInput, responses=RunDetailOutput)
    @action(detail=True, methods=["post"], url_path="complete-step")
    def complete_step(self, request: Request, org: str, pk: str) -> Response:
        """Mark an active step done (its task too); the steps it unblocks start."""
        run = self.get_object()
        data = StepActionInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.playbook_run_step_complete(
            run=run, key=data.validated_data["step"], actor=self.actor
        )
        return self.detail_response(run)

    @extend_schema(request=StepSkipInput, responses=RunDetailOutput)
    @action(detail=True, methods=["post"], url_path="skip-step")
    def skip_step(self, request: Request, org: str, pk: str) -> Response:
        """Skip a step with a reason (its task is cancelled)."""
        run = self.get_object()
        data = StepSkipInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.playbook_run_step_skip(
            run=run,
            key=data.validated_data["step"],
            reason=data.validated_data["reason"],
            actor=self.actor,
        )
        return self.detail_response(run)


class DrillPagination(CursorPagination):
    ordering = ("-scheduled_for", "-pk")


class DrillViewSet(mixins.ListModelMixin, TenantViewSet):
    """Drills: rehearsals of a playbook on a simulated incident."""

    model = Drill
    serializer_class = DrillOutput
    filterset_class = DrillFilter
    pagination_class = DrillPagination
    access = {
        "list": READ,
        "retrieve": READ,
        "report": READ,
        "create": EDIT,
        "partial_update": EDIT,
        "start": EDIT,
        "finish": EDIT,
        "cancel": EDIT,
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return _participants(queryset.select_related("playbook", "version", "incident"))

    def detail_response(self, drill: Drill, code: int = status.HTTP_200_OK) -> Response:
        return Response(DrillOutput(self.get_queryset().get(pk=drill.pk)).data, status=code)

    @extend_schema(responses=DrillOutput)
    def retrieve(self, request: Request, org: str, pk: str) -> Response:
        return Response(DrillOutput(self.get_object()).data)

    @staticmethod
    def _participants_of(data: dict[str, Any]) -> dict[str, Any]:
        if "participants" in data:
            data["participants"] = [(p["user"], p["role"]) for p in data["participants"]]
        return data

    @extend_schema(request=DrillInput, responses={201: DrillOutput})
    def create(self, request: Request, org: str) -> Response:
        """Schedule a drill."""
        data = DrillInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        drill = services.drill_schedule(
            organisation=self.organisation,
            actor=self.actor,
            **self._participants_of(dict(data.validated_data)),
        )
        return self.detail_response(drill, status.HTTP_201_CREATED)

    @extend_schema(request=DrillUpdateInput, responses=DrillOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        """Change a drill before it starts."""
        drill = self.get_object()
        data = DrillUpdateInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        services.drill_update(
            drill=drill, actor=self.actor, **self._participants_of(dict(data.validated_data))
        )
        return self.detail_response(drill)

    @extend_schema(request=None, responses=DrillOutput)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, org: str, pk: str) -> Response:
        """Open the drill incident and run the playbook on it."""
        drill = services.drill_start(drill=self.get_object(), actor=self.actor)
        return self.detail_response(drill)

    @extend_schema(request=DrillFinishInput, responses=DrillOutput)
    @action(detail=True, methods=["post"])
    def finish(self, request: Request, org: str, pk: str) -> Response:
        """End the drill with its outcome and findings (follow-up tasks)."""
        drill = self.get_object()
        data = DrillFinishInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        services.drill_finish(drill=drill, actor=self.actor, **data.validated_data)
        return self.detail_response(drill)

    @extend_schema(request=DrillCancelInput, responses=DrillOutput)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, org: str, pk: str) -> Response:
        """Call the drill off (a running drill's incident is cancelled)."""
        drill = self.get_object()
        data = DrillCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.drill_cancel(drill=drill, actor=self.actor, **data.validated_data)
        return self.detail_response(drill)

    @extend_schema(responses=DrillReportOutput, filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def report(self, request: Request, org: str, pk: str) -> Response:
        """Per-step timings against their due offsets, participants, findings and outcome."""
        report = selectors.drill_report(drill=self.get_object())
        return Response(DrillReportOutput(report).data)


class TrainingPagination(CursorPagination):
    ordering = ("-completed_on", "-pk")


class TrainingRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Who rehearsed which playbook, in which role, when (`?member=`, `?playbook=`)."""

    model = TrainingRecord
    serializer_class = TrainingRecordOutput
    filterset_class = TrainingRecordFilter
    pagination_class = TrainingPagination
    access = {"list": READ, "retrieve": READ}

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("user", "playbook")
