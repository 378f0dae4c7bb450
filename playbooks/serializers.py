"""Inputs (strict) and outputs of the playbook endpoints. Inputs check each field's shape;
the rules spanning fields (unique keys, earlier dependencies, one Accountable per activity)
are the service's (`playbooks.contents`). Outputs are plain dicts (no per-row queries)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crisis_api.api.serializers import MemberField, StrictInput, TenantRelatedField
from incidents.models import CrisisType, IncidentRole
from incidents.serializers import (
    _iso,
    _user,
)
from organisations.models import Role
from organisations.serializers import UserOutput
from playbooks.models import (
    AUDIENCES,
    CHANNELS,
    RACI_LETTERS,
    Playbook,
    PlaybookVersion,
    StepKind,
)

MAX_OFFSET_MINUTES = 60 * 24 * 30
NOTIFY_ROLES = sorted({*IncidentRole.values, *Role.values})


# --- contents -----------------------------------------------------------------------------------


class StepInput(StrictInput):
    """One step. `depends_on` names earlier steps by key; `due_offset_minutes` counts from the
    run's start. notify: `notify_roles` (incident or organisation roles) and `message`;
    draft_message: `template` (a template reference) and `audience`."""

    key = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    kind = serializers.ChoiceField(choices=StepKind.choices)
    role = serializers.ChoiceField(choices=IncidentRole.choices, help_text="Who is responsible.")
    due_offset_minutes = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET_MINUTES)
    depends_on = serializers.ListField(
        child=serializers.SlugField(max_length=64), required=False, max_length=50
    )
    notify_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=NOTIFY_ROLES), required=False, max_length=20
    )
    message = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    template = serializers.CharField(required=False, max_length=200)
    audience = serializers.ChoiceField(choices=AUDIENCES, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs["kind"]
        if kind == StepKind.DRAFT_MESSAGE and not (attrs.get("template") and attrs.get("audience")):
            raise serializers.ValidationError("A draft_message step names a template and audience.")
        if kind != StepKind.DRAFT_MESSAGE and ("template" in attrs or "audience" in attrs):
            raise serializers.ValidationError("template and audience are for draft_message steps.")
        if kind != StepKind.NOTIFY and ("notify_roles" in attrs or "message" in attrs):
            raise serializers.ValidationError("notify_roles and message are for notify steps.")
        return attrs


class RaciInput(StrictInput):
    """One activity and, per incident role, R(esponsible), A(ccountable), C(onsulted) or
    I(nformed); exactly one A."""

    activity = serializers.CharField(max_length=200)
    assignments = serializers.DictField(child=serializers.ChoiceField(choices=RACI_LETTERS))

    def validate_assignments(self, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(IncidentRole.values))
        if unknown:
            raise serializers.ValidationError(f"Not incident roles: {', '.join(unknown)}.")
        return value


class CommsMatrixInput(StrictInput):
    """Who hears from us (audience), how (channel), how often, and who approves it."""

    audience = serializers.ChoiceField(choices=AUDIENCES)
    channel = serializers.ChoiceField(choices=CHANNELS)
    cadence_minutes = serializers.IntegerField(min_value=5, max_value=MAX_OFFSET_MINUTES)
    approver_role = serializers.ChoiceField(choices=IncidentRole.choices)


class HoldingStatementInput(StrictInput):
    """A pre-approved text to publish before the facts are in; approval lapses after
    `approved_until`."""

    key = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200)
    text = serializers.CharField(max_length=5000)
    language = serializers.RegexField(r"^[a-z]{2,3}(-[A-Z]{2})?$", max_length=8)
    audience = serializers.ChoiceField(choices=AUDIENCES, required=False)
    approved_until = serializers.DateTimeField(required=False, allow_null=True)


class PlaybookInput(StrictInput):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    owner = MemberField(required=False, allow_null=True)
    crisis_types = serializers.ListField(
        child=TenantRelatedField(CrisisType), required=False, max_length=50
    )
    min_severity_rank = serializers.IntegerField(
        min_value=1, max_value=20, required=False, allow_null=True
    )
    auto_start = serializers.BooleanField(required=False)
    review_period_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    steps = serializers.ListField(child=StepInput(), required=False, max_length=100)
    raci = serializers.ListField(child=RaciInput(), required=False, max_length=100)
    comms_matrix = serializers.ListField(child=CommsMatrixInput(), required=False, max_length=100)
    holding_statements = serializers.ListField(
        child=HoldingStatementInput(), required=False, max_length=50
    )


class PublishInput(StrictInput):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DiffQuery(serializers.Serializer[Any]):
    base = serializers.IntegerField(min_value=1, help_text="A version number.")
    head = serializers.CharField(help_text='A version number, or "draft".')

    def validate_head(self, value: str) -> str:
        if value != "draft" and not value.isdigit():
            raise serializers.ValidationError('A version number or "draft".')
        return value


# --- playbooks and versions ---------------------------------------------------------------------


class StepOutput(serializers.Serializer[Any]):
    key = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=StepKind.choices)
    role = serializers.CharField()
    due_offset_minutes = serializers.IntegerField()
    depends_on = serializers.ListField(child=serializers.CharField())


class ContentsOutput(serializers.Serializer[Any]):
    steps = serializers.ListField(child=serializers.DictField(), help_text="StepInput items.")
    raci = serializers.ListField(child=serializers.DictField())
    comms_matrix = serializers.ListField(child=serializers.DictField())
    holding_statements = serializers.ListField(child=serializers.DictField())


class VersionBrief(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    published_at = serializers.DateTimeField()


class PlaybookOutput(ContentsOutput):
    """A playbook: its draft (editable) and which version is published."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    owner = UserOutput(allow_null=True)
    crisis_type_ids = serializers.ListField(child=serializers.UUIDField())
    min_severity_rank = serializers.IntegerField(allow_null=True)
    auto_start = serializers.BooleanField()
    review_period_days = serializers.IntegerField()
    next_review_at = serializers.DateTimeField(allow_null=True)
    current_version = VersionBrief(allow_null=True)
    has_draft_changes = serializers.BooleanField(
        help_text="The draft differs from the published version (publish to make it current)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, playbook: Playbook) -> dict[str, Any]:
        version = playbook.current_version
        return {
            "id": str(playbook.pk),
            "name": playbook.name,
            "description": playbook.description,
            "owner": _user(playbook.owner),
            "crisis_type_ids": sorted(str(t.pk) for t in playbook.crisis_types.all()),
            "min_severity_rank": playbook.min_severity_rank,
            "auto_start": playbook.auto_start,
            "review_period_days": playbook.review_period_days,
            "next_review_at": _iso(playbook.next_review_at),
            "current_version": {
                "id": str(version.pk),
                "number": version.number,
                "published_at": _iso(version.published_at),
            }
            if version
            else None,
            "has_draft_changes": playbook.has_draft_changes,
            "steps": playbook.steps,
            "raci": playbook.raci,
            "comms_matrix": playbook.comms_matrix,
            "holding_statements": playbook.holding_statements,
            "created_at": _iso(playbook.created_at),
            "updated_at": _iso(playbook.updated_at),
        }


class PlaybookStatsOutput(serializers.Serializer[Any]):
    runs = serializers.IntegerField(help_text="Runs on real incidents (drills excluded).")
    runs_completed = serializers.IntegerField()
    steps_completed = serializers.IntegerField()
    steps_on_time = serializers.IntegerField()
    drills_finished = serializers.IntegerField()


class PlaybookDetailOutput(PlaybookOutput):
    stats = PlaybookStatsOutput()

    def to_representation(self, playbook: Playbook) -> dict[str, Any]:
        return {**super().to_representation(playbook), "stats": self.context["stats"]}


class VersionOutput(ContentsOutput):
    """A published version: frozen conditions and contents."""

    id = serializers.UUIDField()
    number = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    crisis_type_ids = serializers.ListField(child=serializers.UUIDField())
    min_severity_rank = serializers.IntegerField(allow_null=True)
    content_hash = serializers.CharField()
    note = serializers.CharField()
    published_by = serializers.UUIDField(allow_null=True)
    published_at = serializers.DateTimeField()

    def to_representation(self, version: PlaybookVersion) -> dict[str, Any]:
        return {
            "id": str(version.pk),
            "number": version.number,
            "name": version.name,
            "description": version.description,
            "crisis_type_ids": version.crisis_type_ids,
            "min_severity_rank": version.min_severity_rank,
            "content_hash": version.content_hash,
            "note": version.note,
            "published_by": str(version.published_by_id) if version.published_by_id else None,
            "published_at": _iso(version.published_at),
            "steps": version.steps,
            "raci": version.raci,
            "comms_matrix": version.comms_matrix,
            "holding_statements": version.holding_statements,
        }


class KeyedDiffOutput(serializers.Serializer[Any]):
    added = serializers.ListField(child=serializers.DictField())
    removed = serializers.ListField(child=serializers.DictField())
    changed = serializers.ListField(child=serializers.DictField())


class StepsDiffOutput(KeyedDiffOutput):
    reordered = serializers.BooleanField()


class DiffOutput(serializers.Serializer[Any]):
    base = serializers.IntegerField()
    head = serializers.CharField()
    conditions = serializers.DictField()
    steps = StepsDiffOutput()
    raci = serializers.ListField(
        child=serializers.DictField(), help_text="Cells changed: activity, role, from, to."
    )
    comms_matrix = KeyedDiffOutput()
    holding_statements = KeyedDiffOutput()
