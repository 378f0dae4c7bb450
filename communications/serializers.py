"""Inputs (strict) and outputs of the communications endpoints."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from communications.models import (
    ApprovalDecision,
    Audience,
    BannedTerm,
    Channel,
    ChannelAccount,
    ContentCheck,
    Language,
    Message,
    MessageKind,
    MessageTemplate,
    Publication,
)
from communications.templating import VARIABLES
from crisis_api.api.serializers import StrictInput, TenantRelatedField
from incidents.models import Incident, IncidentRole, Severity
from incidents.selectors import incident_visible
from monitoring.models import Case
from organisations.models import Role
from organisations.serializers import UserOutput


def visible_incidents(queryset: Any, context: Any) -> Any:
    return incident_visible(queryset, user=context.get("user"), role=context.get("role"))


class IncidentBrief(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    reference = serializers.CharField()
    is_drill = serializers.BooleanField()


# --- templates ----------------------------------------------------------------------------------


class TemplateOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    audience = serializers.ChoiceField(choices=Audience.choices)
    channel = serializers.CharField(help_text="Blank: any channel.")
    language = serializers.ChoiceField(choices=Language.choices)
    title = serializers.CharField()
    body = serializers.CharField()
    variables = serializers.ListField(child=serializers.CharField())
    closes_the_loop = serializers.BooleanField()
    requires_legal_approval = serializers.BooleanField()
    legal_status = serializers.ChoiceField(
        choices=[("not_required",) * 2, ("pending",) * 2, ("approved",) * 2, ("expired",) * 2]
    )
    legal_approved_at = serializers.DateTimeField(allow_null=True)
    legal_approval_expires_at = serializers.DateTimeField(allow_null=True)
    is_active = serializers.BooleanField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TemplateInput(StrictInput):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    audience = serializers.ChoiceField(choices=Audience.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    body = serializers.CharField(max_length=20_000)
    closes_the_loop = serializers.BooleanField(required=False)
    requires_legal_approval = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class LegalApproveInput(StrictInput):
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class RenderInput(StrictInput):
    values = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        help_text=f"Variable values; allowed names: {', '.join(sorted(VARIABLES))}.",
    )


class RenderOutput(serializers.Serializer[Any]):
    title = serializers.CharField()
    body = serializers.CharField()


# --- messages -----------------------------------------------------------------------------------


class FindingOutput(serializers.Serializer[Any]):
    field = serializers.CharField(help_text="title, body or renditions.<channel>")
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    text = serializers.CharField()
    category = serializers.CharField()
    severity = serializers.ChoiceField(choices=BannedTerm.Severity.choices)
    rule = serializers.CharField()
    explanation = serializers.CharField()
    engine_version = serializers.CharField()


class CheckOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    content_hash = serializers.CharField()
    engine_version = serializers.CharField()
    result = serializers.ChoiceField(choices=ContentCheck.Result.choices)
    findings = FindingOutput(many=True)
    created_at = serializers.DateTimeField()
    overridden_by = UserOutput(allow_null=True)
    overridden_at = serializers.DateTimeField(allow_null=True)
    override_reason = serializers.CharField()


class DecisionOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    step = serializers.IntegerField()
    approver = UserOutput()
    decision = serializers.ChoiceField(choices=ApprovalDecision.Decision.choices)
    content_hash = serializers.CharField()
    current = serializers.SerializerMethodField(help_text="Given to the current text.")
    capacity = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField()
    decided_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)

    def get_current(self, obj: ApprovalDecision) -> bool:
        return obj.content_hash == self.context.get("content_hash")


class PublicationOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    content_hash = serializers.CharField()
    status = serializers.ChoiceField(choices=Publication.Status.choices)
    attempts = serializers.IntegerField()
    external_id = serializers.CharField()
    external_url = serializers.CharField()
    error = serializers.CharField()
    retryable = serializers.BooleanField()
    sent_at = serializers.DateTimeField(allow_null=True)


class MessageOutput(serializers.Serializer[Any]):
    """A message as listed."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    language = serializers.ChoiceField(choices=Language.choices)
    status = serializers.ChoiceField(choices=Message.Status.choices)
    title = serializers.CharField()
    body = serializers.CharField()
    renditions = serializers.DictField(child=serializers.CharField())
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices))
    status_label = serializers.CharField()
    recipients = serializers.ListField(child=serializers.EmailField())
    reply_to = serializers.DictField()
    incident = IncidentBrief(allow_null=True)
    case_id = serializers.UUIDField(allow_null=True)
    template_id = serializers.UUIDField(allow_null=True)
    content_hash = serializers.CharField()
    approved_hash = serializers.CharField()
    publish_on_approval = serializers.BooleanField()
    author = UserOutput(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    review_due_at = serializers.DateTimeField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    approval_expires_at = serializers.DateTimeField(allow_null=True)
    scheduled_for = serializers.DateTimeField(allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)
    failure_reason = serializers.CharField()
    closed_reason = serializers.CharField()
    version = serializers.IntegerField()


class ApprovalProgress(serializers.Serializer[Any]):
    policy = serializers.DictField()
    current_step = serializers.IntegerField(allow_null=True)
    decisions = DecisionOutput(many=True)


class MessageDetailOutput(MessageOutput):
    """A message with its approval progress, latest check and publications."""

    approval = ApprovalProgress(source="detail_approval")
    check = CheckOutput(source="detail_check", allow_null=True)
    publications = PublicationOutput(many=True, source="detail_publications")


class MessageInput(StrictInput):
    kind = serializers.ChoiceField(choices=MessageKind.choices)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    body = serializers.CharField(max_length=50_000)
    renditions = serializers.DictField(
        child=serializers.CharField(max_length=50_000, allow_blank=True), required=False
    )
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), max_length=5
    )
    status_label = serializers.ChoiceField(
        choices=Message.StatusLabel.choices, required=False, allow_blank=True
    )
    recipients = serializers.ListField(
        child=serializers.EmailField(), required=False, max_length=500
    )
    reply_to = serializers.DictField(required=False)
    incident = TenantRelatedField(
        Incident, limit=visible_incidents, required=False, allow_null=True
    )
    publish_on_approval = serializers.BooleanField(required=False)


class MessageUpdateInput(MessageInput):
    """Every field optional; a change after submission voids approvals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class FromTemplateInput(StrictInput):
    template = TenantRelatedField(MessageTemplate)
    values = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), required=False, default=dict
    )
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), required=False, max_length=5
    )
    incident = TenantRelatedField(
        Incident, limit=visible_incidents, required=False, allow_null=True
    )
    status_label = serializers.ChoiceField(
        choices=Message.StatusLabel.choices, required=False, allow_blank=True
    )
    recipients = serializers.ListField(
        child=serializers.EmailField(), required=False, max_length=500
    )
    reply_to = serializers.DictField(required=False)


class FromCaseInput(StrictInput):
    case = TenantRelatedField(Case)
    template = TenantRelatedField(MessageTemplate, required=False, allow_null=True, default=None)
    body = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    values = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), required=False, default=dict
    )


class CommentInput(StrictInput):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class MessageReasonInput(StrictInput):
    reason = serializers.CharField(max_length=2000)


class WithdrawInput(StrictInput):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ScheduleInput(StrictInput):
    at = serializers.DateTimeField()


# --- policies, accounts, terms, status page ------------------------------------------------------


class StepSerializer(StrictInput):
    name = serializers.CharField(max_length=100, required=False)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), required=False
    )
    incident_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=IncidentRole.choices), required=False
    )
    users = serializers.ListField(child=serializers.UUIDField(), required=False)
    rule = serializers.ChoiceField(choices=[("any", "any"), ("all", "all")], required=False)


class ApprovalPolicyOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kinds = serializers.ListField(child=serializers.CharField())
    channels = serializers.ListField(child=serializers.CharField())
    min_strictness = serializers.ChoiceField(choices=Severity.Strictness.choices)
    priority = serializers.IntegerField()
    steps = StepSerializer(many=True)
    approval_ttl_minutes = serializers.IntegerField()
    review_timeout_minutes = serializers.IntegerField()
    require_apology = serializers.BooleanField()
    require_next_step = serializers.BooleanField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class ApprovalPolicyInput(StrictInput):
    name = serializers.CharField(max_length=200)
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=MessageKind.choices), required=False
    )
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), required=False
    )
    min_strictness = serializers.ChoiceField(choices=Severity.Strictness.choices, required=False)
    priority = serializers.IntegerField(required=False, min_value=-1000, max_value=1000)
    steps = StepSerializer(many=True)
    approval_ttl_minutes = serializers.IntegerField(required=False, min_value=5, max_value=43200)
    review_timeout_minutes = serializers.IntegerField(required=False, min_value=5, max_value=129600)
    require_apology = serializers.BooleanField(required=False)
    require_next_step = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class ChannelAccountOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    platform = serializers.ChoiceField(choices=ChannelAccount.Platform.choices)
    base_url = serializers.URLField()
    handle = serializers.CharField()
    credential_hint = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class ChannelAccountInput(StrictInput):
    platform = serializers.ChoiceField(choices=ChannelAccount.Platform.choices)
    base_url = serializers.URLField(max_length=200)
    handle = serializers.CharField(max_length=200)
    credential = serializers.CharField(
        max_length=2000,
        write_only=True,
        help_text="Mastodon: an access token with write:statuses. Bluesky: an app password.",
    )
    is_active = serializers.BooleanField(required=False)


class ChannelAccountUpdateInput(ChannelAccountInput):
    """The platform of a connected account does not change; connect another instead."""

    platform = None  # type: ignore[assignment]


class BannedTermOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    term = serializers.CharField()
    language = serializers.CharField()
    severity = serializers.ChoiceField(choices=BannedTerm.Severity.choices)
    reason = serializers.CharField()
    match_inflections = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class BannedTermInput(StrictInput):
    term = serializers.CharField(max_length=100)
    language = serializers.ChoiceField(choices=Language.choices, required=False, allow_blank=True)
    severity = serializers.ChoiceField(choices=BannedTerm.Severity.choices, required=False)
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)
    match_inflections = serializers.BooleanField(required=False)


class StatusPageOutput(serializers.Serializer[Any]):
    enabled = serializers.BooleanField()
    title = serializers.CharField()
    description = serializers.CharField()
    history_days = serializers.IntegerField()
    public_url = serializers.CharField()
    feed_url = serializers.CharField()
    updated_at = serializers.DateTimeField()


class StatusPageInput(StrictInput):
    enabled = serializers.BooleanField(required=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    history_days = serializers.IntegerField(required=False, min_value=1, max_value=3650)


# --- public -------------------------------------------------------------------------------------


class PublicUpdateOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    label = serializers.CharField()  # type: ignore[assignment]
    title = serializers.CharField()
    body = serializers.CharField()
    published_at = serializers.DateTimeField()


class PublicIncidentOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    title = serializers.CharField(help_text="The latest public update's title.")
    status = serializers.CharField(help_text="The latest label: investigating … resolved.")
    started_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    updates = PublicUpdateOutput(many=True)


class PublicStatusOutput(serializers.Serializer[Any]):
    organisation = serializers.DictField()
    page = serializers.DictField()
    status = serializers.ChoiceField(choices=[("operational",) * 2, ("incident",) * 2])
    incidents = PublicIncidentOutput(many=True)
    announcements = PublicUpdateOutput(many=True, help_text="Updates not tied to an incident.")
    generated_at = serializers.DateTimeField()
