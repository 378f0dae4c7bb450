"""Reads of monitoring: the mention inbox and sources with their health."""

from __future__ import annotations

from django.db.models import QuerySet

from monitoring.models import Mention, Source
from organisations.models import Organisation


def mention_list(*, organisation: Organisation) -> QuerySet[Mention]:
    """The inbox, newest first, with what a row renders (source name, assignee) joined in one
    query; the large `explanation` is left for the detail view."""
    return (
        Mention.objects.filter(organisation=organisation)
        .select_related("source")
        .only(*MENTION_LIST_FIELDS)
        .order_by("-posted_at", "-id")
    )


MENTION_LIST_FIELDS = (
    "id",
    "organisation_id",
    "source_id",
    "source__id",
    "source__name",
    "source__kind",
    "external_id",
    "url",
    "author_handle",
    "author_name",
    "author_id",
    "author_followers",
    "reach",
    "text",
    "posted_at",
    "fetched_at",
    "language",
    "language_confidence",
    "sentiment",
    "sentiment_label",
    "toxicity",
    "offensive",
    "matched_terms",
    "engine_version",
    "flagged",
    "status",
    "assignee_id",
    "case_id",
)


def source_list(*, organisation: Organisation) -> QuerySet[Source]:
    """The organisation's sources, newest first."""
    return Source.objects.filter(organisation=organisation).order_by("-created_at", "id")
