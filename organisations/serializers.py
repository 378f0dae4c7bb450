"""Inputs (strict: unknown fields are errors) and outputs of the organisations endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crisis_api.api.access import API_KEY_SCOPES
from crisis_api.api.serializers import StrictInput
from crisis_api.api.viewsets import ORG_PATTERN
from organisations.models import ApiKey, Event, Organisation, Role

# --- outputs ------------------------------------------------------------------------------------


class UserOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class PlanLimitsOutput(serializers.Serializer[Any]):
    max_members = serializers.IntegerField()
    max_api_keys = serializers.IntegerField()
    max_sources = serializers.IntegerField()
    sms_monthly_cap = serializers.IntegerField()
    email_monthly_cap = serializers.IntegerField()
    mention_retention_days = serializers.IntegerField()


class OrganisationOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    slug = serializers.SlugField()
    name = serializers.CharField()
    plan = serializers.ChoiceField(choices=Organisation.Plan.choices)
    limits = PlanLimitsOutput(source="*")
    suspended = serializers.BooleanField(source="is_suspended")
    drill_webhooks_enabled = serializers.BooleanField(
        help_text="Drill incidents' events also go to customer webhooks (off by default)."
    )
    first_response_sla_minutes = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    role = serializers.SerializerMethodField()

    def get_role(self, organisation: Organisation) -> str | None:
        """The caller's role in this organisation (null for API keys)."""
        role = getattr(organisation, "caller_role", None)
        return str(role) if role else None


class MembershipOutput(serializers.Serializer[Any]):
    """A member. Built as a plain dict (lists of members are read often)."""

    id = serializers.UUIDField()
    user = UserOutput()
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, membership: Any) -> dict[str, Any]:
        user = membership.user
        return {
            "id": str(membership.pk),
            "user": {"id": str(user.pk), "email": user.email, "full_name": user.full_name},
            "role": membership.role,
            "created_at": _iso(membership.created_at),
            "updated_at": _iso(membership.updated_at),
        }


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class InvitationOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    status = serializers.ChoiceField(choices=["pending", "accepted", "revoked", "expired"])
    invited_by = serializers.UUIDField(source="invited_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="Shown in clear to recognise the key.")
    scopes = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=["active", "expired", "revoked"])
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyIssuedOutput(ApiKeyOutput):
    secret = serializers.CharField(
        help_text="The key itself. Shown in this response only; store it now."
    )


class ActorOutput(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=Event.ActorType.choices)
    id = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label


class SubjectOutput(serializers.Serializer[Any]):
    type = serializers.CharField()
    id = serializers.CharField()


class EventOutput(serializers.Serializer[Any]):
    """One event-log entry. Built as a plain dict: this is the hottest list of the API."""

    id = serializers.UUIDField()
    seq = serializers.IntegerField()
    type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    actor = ActorOutput()
    subject = SubjectOutput()
    payload = serializers.DictField()
    request_id = serializers.CharField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()

    def to_representation(self, event: Event) -> dict[str, Any]:
        return {
            "id": str(event.id),
            "seq": event.seq,
            "type": event.type,
            "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
            "actor": {"type": event.actor_type, "id": event.actor_id, "label": event.actor_label},
            "subject": {"type": event.subject_type, "id": event.subject_id},
            "payload": event.payload,
            "request_id": event.request_id,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        }


class ChainReportOutput(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    head_seq = serializers.IntegerField()
    broken_seq = serializers.IntegerField(allow_null=True)
    broken_event_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


# --- inputs -------------------------------------------------------------------------------------


class OrganisationCreateInput(StrictInput):
    name = serializers.CharField(max_length=200)
    slug = serializers.RegexField(
        rf"^{ORG_PATTERN}$",
        max_length=63,
        required=False,
        help_text="Lower-case letters, digits and hyphens; derived from the name when absent.",
    )


class OrganisationUpdateInput(StrictInput):
    name = serializers.CharField(max_length=200)
    drill_webhooks_enabled = serializers.BooleanField(required=False)
    first_response_sla_minutes = serializers.IntegerField(
        min_value=1,
        max_value=7 * 24 * 60,
        help_text="Complaint cases are due a first response within this many minutes.",
    )


class MembershipUpdateInput(StrictInput):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationCreateInput(StrictInput):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


class ApiKeyCreateInput(StrictInput):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(API_KEY_SCOPES)), allow_empty=False
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyUpdateInput(StrictInput):
    name = serializers.CharField(max_length=100)


def api_key_output(api_key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    if secret is None:
        return dict(ApiKeyOutput(api_key).data)
    return {**ApiKeyOutput(api_key).data, "secret": secret}
