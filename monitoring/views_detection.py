"""Endpoints of detection rules, signals (with their triage actions) and the mentions attached
to incidents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis_api.api.access import ADMINS, ALL_ROLES, MANAGERS, allow
from crisis_api.api.viewsets import TenantViewSet
from incidents.models import Incident
from incidents.selectors import incident_visible
from monitoring.filters_detection import IncidentMentionFilter, SignalFilter
from monitoring.models import DetectionRule, IncidentMention, Signal
from monitoring.serializers_detection import (
    DetectionRuleInput,
    DetectionRuleOutput,
    IncidentLinkInput,
    IncidentMentionInput,
    IncidentMentionOutput,
    SignalDismissInput,
    SignalEscalateInput,
    SignalOutput,
    SignalSnoozeInput,
)
from monitoring.services import detection, links, signals
from organisations.models import Role

RULE_EDITORS = MANAGERS | {Role.ANALYST}
TRIAGERS = MANAGERS | {Role.COMMS_LEAD, Role.RESPONDER, Role.ANALYST}
ESCALATORS = MANAGERS | {Role.COMMS_LEAD, Role.RESPONDER}


class PreviewOutput(serializers.Serializer[Any]):
    """What the rule would see right now (nothing is recorded)."""

    fires = serializers.BooleanField()
    observed = serializers.FloatField()
    baseline = serializers.FloatField(allow_null=True)
    score = serializers.FloatField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    breakdown = serializers.DictField()


class RuleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet
):
    """Detection rules. New rules start in monitor mode: they record what would have fired."""

    model = DetectionRule
    serializer_class = DetectionRuleOutput
    access = {
        "list": allow(ALL_ROLES, "detection:read"),
        "retrieve": allow(ALL_ROLES, "detection:read"),
        "preview": allow(ALL_ROLES, "detection:read"),
        "create": allow(RULE_EDITORS, "detection:write"),
        "partial_update": allow(RULE_EDITORS, "detection:write"),
        "destroy": allow(RULE_EDITORS | ADMINS, "detection:write"),
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("crisis_type", "severity").prefetch_related("sources")

    def _output(self, rule: DetectionRule, code: int = status.HTTP_200_OK) -> Response:
        return Response(DetectionRuleOutput(self.get_queryset().get(pk=rule.pk)).data, status=code)

    @extend_schema(request=DetectionRuleInput, responses={201: DetectionRuleOutput})
    def create(self, request: Request, org: str) -> Response:
        data = DetectionRuleInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        rule = detection.rule_create(
            organisation=self.organisation, actor=self.actor, **data.validated_data
        )
        return self._output(rule, status.HTTP_201_CREATED)

    @extend_schema(request=DetectionRuleInput, responses=DetectionRuleOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        rule = self.get_object()
        data = DetectionRuleInput(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        rule = detection.rule_update(rule=rule, actor=self.actor, **data.validated_data)
        return self._output(rule)

    def perform_destroy(self, instance: DetectionRule) -> None:
        detection.rule_delete(rule=instance, actor=self.actor)

    @extend_schema(responses=PreviewOutput, filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def preview(self, request: Request, org: str, pk: str) -> Response:
        """Measure the rule now, as an evaluation would, without recording or acting."""
        measurement = detection.rule_measure(self.get_object())
        return Response(
            PreviewOutput(
                {
                    "fires": measurement.fires,
                    "observed": measurement.observed,
                    "baseline": measurement.baseline,
                    "score": measurement.score,
                    "window_start": measurement.window_start,
                    "window_end": measurement.window_end,
                    "breakdown": measurement.breakdown,
                }
            ).data
        )


def _triage_action(service: Callable[..., Signal], input_class: type[Any], summary: str) -> Any:
    """Build the POST action `…/signals/{id}/<verb>/`: parse the body, call the service."""
    name = service.__name__.removeprefix("signal_")

    def handler(self: SignalViewSet, request: Request, org: str, pk: str) -> Response:
        signal = self.get_object()
        data = input_class(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        signal = service(signal=signal, actor=self.actor, **data.validated_data)
        return Response(SignalOutput(self.get_queryset().get(pk=signal.pk)).data)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = summary + "."
    decorated = action(detail=True, methods=["post"], url_path=name, url_name=name)(handler)
    return extend_schema(summary=summary, request=input_class, responses=SignalOutput)(decorated)


class SignalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Signals raised by rules, newest first, with their triage actions (409 once triaged)."""

    model = Signal
    serializer_class = SignalOutput
    filterset_class = SignalFilter
    access = {
        "list": allow(ALL_ROLES, "detection:read"),
        "retrieve": allow(ALL_ROLES, "detection:read"),
        "escalate": allow(ESCALATORS, "detection:write"),
        "link": allow(ESCALATORS, "detection:write"),
        "dismiss": allow(TRIAGERS, "detection:write"),
        "snooze": allow(TRIAGERS, "detection:write"),
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.select_related("incident", "triaged_by")

    escalate = _triage_action(
        signals.signal_escalate,
        SignalEscalateInput,
        "Declare an incident from the signal (type and severity default to the rule's)",
    )
    link = _triage_action(
        signals.signal_link, IncidentLinkInput, "Attach the signal to an open incident"
    )
    dismiss = _triage_action(
        signals.signal_dismiss,
        SignalDismissInput,
        "Dismiss the signal: false_positive, benign or insufficient_information",
    )
    snooze = _triage_action(
        signals.signal_snooze,
        SignalSnoozeInput,
        "Snooze the signal until a time (at most 30 days); its rule stays quiet meanwhile",
    )


class IncidentMentionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Mentions attached to incidents as evidence (`?incident=<id>`), by hand or by signals."""

    model = IncidentMention
    serializer_class = IncidentMentionOutput
    filterset_class = IncidentMentionFilter
    access = {
        "list": allow(ALL_ROLES, "incidents:read"),
        "retrieve": allow(ALL_ROLES, "incidents:read"),
        "create": allow(ESCALATORS, "incidents:write"),
        "destroy": allow(ESCALATORS, "incidents:write"),
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        user = self.membership.user if self.membership else None
        visible = incident_visible(
            Incident.all_tenants.filter(organisation=self.organisation), user=user, role=self.role
        )
        return queryset.filter(incident__in=visible).select_related(
            "incident", "mention", "added_by"
        )

    @extend_schema(request=IncidentMentionInput, responses={201: IncidentMentionOutput})
    def create(self, request: Request, org: str) -> Response:
        data = IncidentMentionInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        link = links.incident_mention_link(actor=self.actor, **data.validated_data)
        fresh = self.get_queryset().get(pk=link.pk)
        return Response(IncidentMentionOutput(fresh).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        links.incident_mention_unlink(link=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
