"""Report endpoints (JSON, or CSV with `?format=csv`), the streamed incident-list CSV, and an
incident's full record as one JSON document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis_api.api.access import MANAGERS, allow
from crisis_api.api.renderers import JSONRenderer
from crisis_api.api.viewsets import TenantViewSet
from incidents.models import Incident, IncidentRole
from incidents.selectors import incident_visible
from incidents.views import IncidentViewSet
from organisations.models import Organisation
from reports import exports, selectors
from reports.record import incident_record_get
from reports.serializers import (
    SECTION_OUTPUTS,
    IncidentExportQueryInput,
    ReportOutput,
    ReportQueryInput,
)

READ = allow(MANAGERS, "reports:read")


def _section_schema(name: str, summary: str) -> Callable[[Any], Any]:
    return extend_schema(
        summary=summary,
        description="Definitions: docs/reports.md.",
        parameters=[ReportQueryInput],
        responses={
            (200, "application/json"): SECTION_OUTPUTS[name],
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="With `?format=csv` or `Accept: text/csv`."
            ),
        },
    )


class ReportViewSet(TenantViewSet):
    """Organisation reports over a time range; drills and excluded crisis types never count.

    Definitions of every figure: docs/reports.md."""

    access = {
        "list": READ,
        "incidents": READ,
        "response_times": READ,
        "approvals": READ,
        "cases": READ,
        "signals": READ,
        "sentiment_recovery": READ,
        "mentions": READ,
        "incident_list": READ,
    }
    renderer_classes = (JSONRenderer, exports.CSVRenderer)
    pagination_class = None

    def get_queryset(self) -> QuerySet[Any]:
        """Reports list no objects; the schema generator only asks for a model here."""
        return Organisation.objects.none()

    def _range(self, serializer: type[ReportQueryInput] = ReportQueryInput) -> dict[str, Any]:
        data = serializer(data=self.request.query_params, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        pick = {name: values.get(name) for name in ("crisis_type", "severity", "source")}
        values["report"] = selectors.ReportRange(
            organisation_id=self.organisation.pk,
            start=values["from"],
            end=values["to"],
            now=timezone.now(),
            crisis_type_id=pick["crisis_type"].pk if pick["crisis_type"] else None,
            severity_id=pick["severity"].pk if pick["severity"] else None,
            source_id=pick["source"].pk if pick["source"] else None,
        )
        return values

    def _section(self, name: str) -> HttpResponseBase:
        values = self._range()
        data = selectors.SECTIONS[name](report=values["report"])
        if values.get("format") == "csv" or self.request.accepted_renderer.format == "csv":
            header, rows = exports.section_table(name, data)
            return _csv_response(exports.csv_chunks(header, rows), f"{name}-report.csv")
        return Response(data)

    @extend_schema(
        summary="Every report section at once",
        description="Definitions: docs/reports.md.",
        parameters=[ReportQueryInput],
        responses=ReportOutput,
    )
    def list(self, request: Request, org: str) -> Response:
        return Response(selectors.report_get(report=self._range()["report"]))

    @_section_schema("incidents", "Incidents opened, by crisis type and severity")
    @action(detail=False)
    def incidents(self, request: Request, org: str) -> HttpResponseBase:
        return self._section("incidents")

    @_section_schema("response", "MTTA, MTTR, time to first public statement, update cadence")
    @action(detail=False, url_path="response")
    def response_times(self, request: Request, org: str) -> HttpResponseBase:
        return self._section("response")

    @_section_schema("approvals", "Approval cycle time per policy step")
    @action(detail=False)
    def approvals(self, request: Request, org: str) -> HttpResponseBase:
        return self._section("approvals")

    @_section_schema("cases", "Complaint cases: backlog, first-response times, SLA compliance")
    @action(detail=False)
    def cases(self, request: Request, org: str) -> HttpResponseBase:
        return self._section("cases")

    @_section_schema("signals", "Signal precision per detection rule")
    @action(detail=False)
    def signals(self, request: Request, org: str) -> HttpResponseBase:
        return self._section("signals")

    @_section_schema("sentiment-recovery", "Sentiment recovery time after declaration")
    @action(detail=False, url_path="sentiment-recovery")
    def sentiment_recovery(self, request: Request, org: str) -> HttpResponseBase:
        return self._section("sentiment-recovery")

    @_section_schema("mentions", "Mention volume and sentiment per day")
    @action(detail=False)
    def mentions(self, request: Request, org: str) -> HttpResponseBase:
        return self._section("mentions")

    @extend_schema(
        summary="The incident list as CSV (streamed)",
        parameters=[IncidentExportQueryInput],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    @action(detail=False, url_path="incident-list")
    def incident_list(self, request: Request, org: str) -> HttpResponseBase:
        """Incidents opened in the range that the caller may see, oldest first."""
        values = self._range(IncidentExportQueryInput)
        user = self.membership.user if self.membership else None
        rows = exports.incident_export_rows(
            report=values["report"],
            organisation=self.organisation,
            user=user,
            role=self.role,
            include_drills=values["include_drills"],
        )
        return _csv_response(exports.incident_csv(rows), "incidents.csv")


def _csv_response(chunks: Any, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


class IncidentRecordViewSet(TenantViewSet):
    """An incident's full record (GET /incidents/{id}/record/), for archives and reviews."""

    model = Incident
    access = {
        "record": allow(
            MANAGERS, "reports:read", incident_roles={IncidentRole.COMMANDER, IncidentRole.SCRIBE}
        ),
    }
    pagination_class = None

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        user = self.membership.user if self.membership else None
        return incident_visible(queryset, user=user, role=self.role)

    # Whether the caller holds the incident role on the incident in the URL: the same rule.
    holds_incident_role = IncidentViewSet.holds_incident_role

    @extend_schema(summary="The incident's full record", responses=OpenApiTypes.OBJECT)
    @action(detail=True)
    def record(self, request: Request, org: str, pk: str) -> Response:
        return Response(incident_record_get(incident=self.get_object()))
