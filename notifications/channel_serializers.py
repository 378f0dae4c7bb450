"""Inputs and outputs of contact methods, notification rules, escalation policies and
notifications."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from rest_framework import serializers

from crisis_api.api.serializers import MemberField, StrictInput, TenantRelatedField
from incidents.models import CrisisType, IncidentRole
from notifications.models import Channel, ContactMethod, Notification
from notifications.planner import NOTIFIABLE
from organisations.models import Role


def own_methods(queryset: Any, context: Any) -> Any:
    user = context.get("user")
    return queryset.filter(user=user) if user is not None else queryset.none()


class ContactMethodOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    user = serializers.UUIDField(source="user_id")
    kind = serializers.ChoiceField(choices=Channel.choices)
    label = serializers.CharField()  # type: ignore[assignment]
    target_hint = serializers.CharField(help_text="Masked; the target itself is never returned.")
    verified = serializers.SerializerMethodField()
    verified_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_verified(self, method: ContactMethod) -> bool:
        """Only verified methods are ever notified."""
        return method.verified_at is not None


class ContactMethodCreateInput(StrictInput):
    kind = serializers.ChoiceField(choices=Channel.choices)
    target = serializers.CharField(
        max_length=2000, help_text="E-mail address, E.164 phone number, or webhook URL."
    )
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True, default=""
    )


class VerifyInput(StrictInput):
    code = serializers.CharField(max_length=12)


class RuleOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    user = serializers.UUIDField(source="user_id")
    name = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    max_severity_rank = serializers.IntegerField(allow_null=True)
    contact_methods = serializers.ListField(child=serializers.UUIDField())
    delay_minutes = serializers.IntegerField()
    quiet_start = serializers.TimeField(allow_null=True)
    quiet_end = serializers.TimeField(allow_null=True)
    time_zone = serializers.CharField()
    critical_overrides_quiet = serializers.BooleanField()
    is_active = serializers.BooleanField()


class RuleInput(StrictInput):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=NOTIFIABLE), required=False
    )
    max_severity_rank = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    contact_methods = serializers.ListField(
        child=TenantRelatedField(ContactMethod, limit=own_methods), required=False, max_length=10
    )
    delay_minutes = serializers.IntegerField(min_value=0, max_value=1440, required=False)
    quiet_start = serializers.TimeField(required=False, allow_null=True)
    quiet_end = serializers.TimeField(required=False, allow_null=True)
    time_zone = serializers.ChoiceField(choices=sorted(available_timezones()), required=False)
    critical_overrides_quiet = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)

    def validate_contact_methods(self, value: list[ContactMethod]) -> list[str]:
        return [str(method.pk) for method in value]


class LevelSerializer(StrictInput):
    delay_minutes = serializers.IntegerField(min_value=0, max_value=1440, default=5)
    users = serializers.ListField(child=MemberField(), required=False, default=list)
    incident_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=IncidentRole.choices), required=False, default=list
    )
    organisation_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), required=False, default=list
    )


class LevelOutput(serializers.Serializer[Any]):
    position = serializers.IntegerField()
    delay_minutes = serializers.IntegerField()
    users = serializers.ListField(child=serializers.UUIDField())
    incident_roles = serializers.ListField(child=serializers.CharField())
    organisation_roles = serializers.ListField(child=serializers.CharField())


class PolicyOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    max_severity_rank = serializers.IntegerField(allow_null=True)
    crisis_types = serializers.ListField(child=serializers.UUIDField())
    repeat_count = serializers.IntegerField()
    is_active = serializers.BooleanField()
    levels = LevelOutput(many=True)

    def to_representation(self, policy: Any) -> dict[str, Any]:
        return {
            "id": str(policy.pk),
            "name": policy.name,
            "max_severity_rank": policy.max_severity_rank,
            "crisis_types": [str(t.pk) for t in policy.crisis_types.all()],
            "repeat_count": policy.repeat_count,
            "is_active": policy.is_active,
            "levels": [
                {
                    "position": level.position,
                    "delay_minutes": level.delay_minutes,
                    "users": [str(u.pk) for u in level.users.all()],
                    "incident_roles": level.incident_roles,
                    "organisation_roles": level.organisation_roles,
                }
                for level in policy.levels.all()
            ],
        }


class PolicyInput(StrictInput):
    name = serializers.CharField(max_length=100)
    max_severity_rank = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    crisis_types = serializers.ListField(
        child=TenantRelatedField(CrisisType), required=False, default=list
    )
    repeat_count = serializers.IntegerField(min_value=0, max_value=10, required=False, default=0)
    is_active = serializers.BooleanField(required=False, default=True)
    levels = LevelSerializer(many=True)


class NotificationOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    event_type = serializers.CharField(source="event.type")
    recipient = serializers.UUIDField(source="recipient_id")
    channel = serializers.ChoiceField(choices=Channel.choices)
    incident = serializers.UUIDField(source="incident_id", allow_null=True)
    escalation = serializers.UUIDField(source="escalation_id", allow_null=True)
    status = serializers.ChoiceField(choices=Notification.Status.choices)
    attempts = serializers.IntegerField()
    provider_message_id = serializers.CharField()
    error = serializers.CharField()
    next_attempt_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
