"""Endpoints for members' contact methods and rules, escalation policies, notifications
(with acknowledgement), the signed one-click acknowledge page and Twilio's status callback."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis_api.api.access import ALL_ROLES, MANAGERS, allow
from crisis_api.api.viewsets import TenantViewSet
from notifications import delivery, services
from notifications.channel_serializers import (
    ContactMethodCreateInput,
    ContactMethodOutput,
    NotificationOutput,
    PolicyInput,
    PolicyOutput,
    RuleInput,
    RuleOutput,
    VerifyInput,
)
from notifications.escalation import notification_acknowledge
from notifications.models import ContactMethod, EscalationPolicy, Notification, NotificationRule
from notifications.rendering import read_ack_link
from organisations.events import Actor

MEMBER = allow(ALL_ROLES)


class OwnRowsMixin(TenantViewSet):
    """Members see and change their own rows; managers see everyone's."""

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.role in MANAGERS and self.action in ("list", "retrieve"):
            return queryset
        user = self.membership.user if self.membership else None
        return queryset.filter(**{self.owner_field: user})

    owner_field = "user"


class ContactMethodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OwnRowsMixin):
    """Where you can be reached. New methods get a code that must come back (verify)."""

    model = ContactMethod
    serializer_class = ContactMethodOutput
    pagination_class = None
    access = {
        "list": MEMBER,
        "retrieve": MEMBER,
        "create": MEMBER,
        "destroy": MEMBER,
        "verify": MEMBER,
        "resend_code": MEMBER,
    }

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # A wrong code must be counted although the request fails. Under an Idempotency-Key the
        # handler runs in a transaction rolled back on error, which would uncount it (and make
        # the 5-try limit bypassable); verifying is idempotent anyway, so the key is ignored.
        if getattr(self, "action_map", {}).get((request.method or "").lower()) == "verify":
            request.META.pop("HTTP_IDEMPOTENCY_KEY", None)
            request.__dict__.pop("headers", None)  # the cached view of META
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(request=ContactMethodCreateInput, responses={201: ContactMethodOutput})
    def create(self, request: Request, org: str) -> Response:
        data = ContactMethodCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        assert self.membership is not None
        method = services.contact_method_create(
            organisation=self.organisation,
            user=self.membership.user,
            actor=self.actor,
            **data.validated_data,
        )
        return Response(ContactMethodOutput(method).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.contact_method_delete(method=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=VerifyInput, responses=ContactMethodOutput)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, org: str, pk: str) -> Response:
        """Confirm the method with the code it received."""
        method = self.get_object()
        data = VerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        method = services.contact_method_verify(
            method=method, code=data.validated_data["code"], actor=self.actor
        )
        return Response(ContactMethodOutput(method).data)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"], url_path="resend-code")
    def resend_code(self, request: Request, org: str, pk: str) -> Response:
        """Send a new verification code."""
        services.contact_method_resend_code(method=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_202_ACCEPTED)


class NotificationRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OwnRowsMixin):
    """Your rules: which events, how severe, through which methods, delays, quiet hours."""

    model = NotificationRule
    serializer_class = RuleOutput
    pagination_class = None
    access = {
        "list": MEMBER,
        "retrieve": MEMBER,
        "create": MEMBER,
        "partial_update": MEMBER,
        "destroy": MEMBER,
    }

    def _save(self, request: Request, rule: NotificationRule | None, partial: bool) -> Response:
        data = RuleInput(data=request.data, partial=partial, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        assert self.membership is not None
        saved = services.rule_save(
            organisation=self.organisation,
            user=self.membership.user,
            actor=self.actor,
            rule=rule,
            **data.validated_data,
        )
        code = status.HTTP_201_CREATED if rule is None else status.HTTP_200_OK
        return Response(RuleOutput(saved).data, status=code)

    @extend_schema(request=RuleInput, responses={201: RuleOutput})
    def create(self, request: Request, org: str) -> Response:
        return self._save(request, None, partial=False)

    @extend_schema(request=RuleInput, responses=RuleOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        return self._save(request, self.get_object(), partial=True)

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.rule_delete(rule=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EscalationPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Who is paged, level by level, until someone acknowledges."""

    model = EscalationPolicy
    serializer_class = PolicyOutput
    pagination_class = None
    access = {
        "list": MEMBER,
        "retrieve": MEMBER,
        "create": allow(MANAGERS),
        "partial_update": allow(MANAGERS),
        "destroy": allow(MANAGERS),
    }

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.prefetch_related("crisis_types", "levels__users")

    def _save(self, request: Request, policy: EscalationPolicy | None) -> Response:
        data = PolicyInput(
            data=request.data, partial=policy is not None, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        saved = services.escalation_policy_save(
            organisation=self.organisation, actor=self.actor, policy=policy, **values
        )
        code = status.HTTP_201_CREATED if policy is None else status.HTTP_200_OK
        return Response(PolicyOutput(self.get_queryset().get(pk=saved.pk)).data, status=code)

    @extend_schema(request=PolicyInput, responses={201: PolicyOutput})
    def create(self, request: Request, org: str) -> Response:
        return self._save(request, None)

    @extend_schema(request=PolicyInput, responses=PolicyOutput)
    def partial_update(self, request: Request, org: str, pk: str) -> Response:
        return self._save(request, self.get_object())

    def destroy(self, request: Request, org: str, pk: str) -> Response:
        services.escalation_policy_delete(policy=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OwnRowsMixin):
    """Notifications sent to you (managers: to anyone), newest first; acknowledge pages."""

    model = Notification
    serializer_class = NotificationOutput
    owner_field = "recipient"
    access = {"list": MEMBER, "retrieve": MEMBER, "acknowledge": MEMBER}

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return super().scope_queryset(queryset).select_related("event")

    @extend_schema(request=None, responses=NotificationOutput)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, org: str, pk: str) -> Response:
        """Acknowledge: the escalation this page belongs to stops."""
        notification = self.get_object()
        assert self.membership is not None
        notification = notification_acknowledge(
            notification=notification, user=self.membership.user, actor=self.actor
        )
        return Response(NotificationOutput(self.get_queryset().get(pk=notification.pk)).data)


PAGE = """<!doctype html><meta charset="utf-8"><title>crisis-api</title>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto"><h1>{title}</h1>{body}</body>"""


@csrf_exempt
def acknowledge_link(request: HttpRequest, token: str) -> HttpResponse:
    """The one-click link in a notification. GET shows a button (so link previews and mail
    scanners never acknowledge by accident); POST acknowledges. The signed token is the
    credential; it names one notification and expires after 7 days."""
    try:
        notification_id = read_ack_link(token)
        notification = Notification.all_tenants.select_related("recipient", "organisation").get(
            pk=notification_id
        )
    except (signing.BadSignature, Notification.DoesNotExist, ValueError):
        page = PAGE.format(title="This link is not valid", body="<p>It may have expired.</p>")
        return HttpResponse(page, status=404)
    if request.method == "POST":
        notification_acknowledge(
            notification=notification,
            user=notification.recipient,
            actor=Actor.of_user(notification.recipient),
        )
        return HttpResponse(PAGE.format(title="Acknowledged", body="<p>Thank you.</p>"))
    if request.method != "GET":
        return HttpResponse(status=405)
    body = (
        f"<p>Acknowledge the page sent to {escape(notification.recipient.email)}?</p>"
        '<form method="post"><button type="submit">Acknowledge</button></form>'
    )
    return HttpResponse(PAGE.format(title="Acknowledge", body=body))


def _twilio_signature(url: str, params: dict[str, str]) -> str:
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(settings.TWILIO_AUTH_TOKEN.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@csrf_exempt
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Twilio's message status callback: verified with X-Twilio-Signature, then recorded."""
    if request.method != "POST":
        return HttpResponse(status=405)
    if not settings.TWILIO_AUTH_TOKEN or not settings.TWILIO_STATUS_CALLBACK_URL:
        return HttpResponse(status=404)
    params = {key: request.POST[key] for key in request.POST}
    expected = _twilio_signature(settings.TWILIO_STATUS_CALLBACK_URL, params)
    if not hmac.compare_digest(expected, request.headers.get("X-Twilio-Signature", "")):
        return HttpResponse(status=403)
    delivery.provider_receipt(
        provider_message_id=params.get("MessageSid", ""), status=params.get("MessageStatus", "")
    )
    return HttpResponse(status=204)
