"""Inputs and outputs of sources, watch terms, mentions and pushed batches."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crisis_api.api.serializers import MemberField, StrictInput
from monitoring.models import Mention, Source, WatchTerm
from monitoring.services.push import MAX_BATCH


class SourceHealthOutput(serializers.Serializer[Any]):
    state = serializers.CharField(source="health", help_text="ok, failing, backing_off, unknown.")
    last_polled_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    consecutive_failures = serializers.IntegerField()
    backoff_until = serializers.DateTimeField(allow_null=True)


class SourceOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Source.Kind.choices)
    name = serializers.CharField()
    config = serializers.DictField()
    has_credentials = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Source.Status.choices)
    poll_interval_seconds = serializers.IntegerField()
    next_poll_at = serializers.DateTimeField(allow_null=True)
    polling = serializers.SerializerMethodField()
    health = SourceHealthOutput(source="*")
    push_secret_hint = serializers.CharField(help_text="The first characters of the secret.")
    mentions_stored = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_has_credentials(self, source: Source) -> bool:
        """Whether credentials are stored (they are never returned)."""
        return bool(source.credentials_ciphertext)

    def get_polling(self, source: Source) -> bool:
        """Whether a poll holds the source right now."""
        from django.utils import timezone

        return bool(source.lease_until and source.lease_until > timezone.now())


class SourceIssuedOutput(SourceOutput):
    secret = serializers.CharField(
        allow_null=True, help_text="Push sources: the `whsec_` signing secret, shown once."
    )


class SourceSecretOutput(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text="The new signing secret, shown once.")


class SourceCreateInput(StrictInput):
    kind = serializers.ChoiceField(choices=Source.Kind.choices)
    name = serializers.CharField(max_length=200)
    config = serializers.DictField(required=False, default=dict, help_text="Per kind; see docs.")
    credentials = serializers.DictField(
        child=serializers.CharField(max_length=4000, allow_blank=True),
        required=False,
        default=dict,
        help_text="Per kind; encrypted at rest, never returned.",
    )
    poll_interval_seconds = serializers.IntegerField(
        min_value=60, max_value=86_400, required=False, default=300
    )


class SourceUpdateInput(StrictInput):
    name = serializers.CharField(max_length=200, required=False)
    config = serializers.DictField(required=False)
    credentials = serializers.DictField(
        child=serializers.CharField(max_length=4000, allow_blank=True), required=False
    )
    poll_interval_seconds = serializers.IntegerField(min_value=60, max_value=86_400, required=False)


class WatchTermOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    phrase = serializers.CharField()
    kind = serializers.ChoiceField(choices=WatchTerm.Kind.choices)
    language = serializers.CharField()
    created_at = serializers.DateTimeField()


class WatchTermInput(StrictInput):
    phrase = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=WatchTerm.Kind.choices, default=WatchTerm.Kind.BRAND)
    language = serializers.RegexField(
        r"^[a-z]{2,3}$", required=False, default="", allow_blank=True, help_text="ISO 639 code."
    )


class WatchTermUpdateInput(StrictInput):
    phrase = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=WatchTerm.Kind.choices, required=False)
    language = serializers.RegexField(r"^[a-z]{2,3}$", required=False, allow_blank=True)


class TermHitOutput(serializers.Serializer[Any]):
    term_id = serializers.CharField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    text = serializers.CharField()


class MentionSourceOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.CharField()


class MentionOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    source = MentionSourceOutput()  # type: ignore[assignment]  # popped by the metaclass
    external_id = serializers.CharField()
    url = serializers.CharField()
    author_handle = serializers.CharField()
    author_name = serializers.CharField()
    author_id = serializers.CharField()
    author_followers = serializers.IntegerField(allow_null=True)
    reach = serializers.FloatField()
    text = serializers.CharField()
    posted_at = serializers.DateTimeField()
    fetched_at = serializers.DateTimeField()
    language = serializers.CharField()
    language_confidence = serializers.FloatField()
    sentiment = serializers.FloatField()
    sentiment_label = serializers.ChoiceField(choices=Mention.SentimentLabel.choices)
    toxicity = serializers.FloatField()
    offensive = serializers.BooleanField()
    matched_terms = TermHitOutput(many=True)
    engine_version = serializers.CharField()
    flagged = serializers.BooleanField()
    status = serializers.ChoiceField(choices=Mention.Status.choices)
    assignee = serializers.UUIDField(source="assignee_id", allow_null=True)
    case = serializers.UUIDField(source="case_id", allow_null=True)


class MentionDetailOutput(MentionOutput):
    explanation = serializers.DictField(help_text="Why each score is what it is.")


class MentionUpdateInput(StrictInput):
    status = serializers.ChoiceField(choices=Mention.Status.choices, required=False)
    flagged = serializers.BooleanField(required=False)
    assignee = MemberField(required=False, allow_null=True)


class JSONStringField(serializers.CharField):
    """A string that must arrive as a JSON string: `5` is a type error, not `"5"`."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class JSONIntegerField(serializers.IntegerField):
    """An integer that must arrive as a JSON number without a fraction (not `"5"`, `true`)."""

    default_error_messages = {"invalid": "A JSON integer is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class PushItemInput(StrictInput):
    """One pushed post."""

    external_id = JSONStringField(max_length=255)
    text = JSONStringField(max_length=10_000)
    posted_at = serializers.DateTimeField()
    url = serializers.URLField(max_length=2000, required=False, default="")
    author_handle = JSONStringField(max_length=255, required=False, default="")
    author_name = JSONStringField(max_length=255, required=False, default="")
    author_id = JSONStringField(max_length=255, required=False, default="")
    author_followers = JSONIntegerField(min_value=0, required=False, allow_null=True)
    language = serializers.RegexField(r"^[a-z]{2,3}$", required=False, default="")


class PushBatchInput(serializers.Serializer[Any]):
    """The body of a push (items are validated one by one, see the view)."""

    mentions = serializers.ListField(
        child=PushItemInput(), max_length=MAX_BATCH, help_text=f"1 to {MAX_BATCH} posts."
    )


class PushRejectedOutput(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    errors = serializers.ListField(child=serializers.DictField())  # type: ignore[assignment]


class PushResultOutput(serializers.Serializer[Any]):
    received = serializers.IntegerField()
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = PushRejectedOutput(many=True)
