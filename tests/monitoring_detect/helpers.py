"""Mentions in bulk at chosen times, and short-hands for the detection suites."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from monitoring.models import DetectionRule, Mention, Source
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.factories import make_source

BASE = "/api/v1/orgs/xyz"
SYSTEM = Actor.system("tests")
_ids = itertools.count(1)


def add_mentions(
    organisation: Organisation,
    count: int,
    *,
    at: datetime,
    source: Source | None = None,
    spread: timedelta = timedelta(minutes=1),
    label: str = Mention.SentimentLabel.NEGATIVE,
    **fields: Any,
) -> list[Mention]:
    """`count` mentions posted within `spread` before `at` (one INSERT)."""
    source = source or make_source(organisation)
    step = spread / max(count, 1)
    sentiment = {"negative": -0.7, "neutral": 0.0, "positive": 0.6}[label]
    text = fields.pop("text", "This is a post about XYZ")
    rows = [
        Mention(
            organisation=organisation,
            source=source,
            external_id=f"post-{next(_ids)}",
            text=text,
            posted_at=at - step * n,
            sentiment_label=label,
            sentiment=sentiment,
            **fields,
        )
        for n in range(count)
    ]
    return Mention.all_tenants.bulk_create(rows)


def make_rule(organisation: Organisation, **fields: Any) -> DetectionRule:
    fields.setdefault("name", "Negative spike")
    fields.setdefault("metric", DetectionRule.Metric.NEGATIVE_VOLUME)
    fields.setdefault("mode", DetectionRule.Mode.ACTIVE)
    return DetectionRule.all_tenants.create(organisation=organisation, **fields)


def event_types(organisation: Organisation, prefix: str = "") -> list[str]:
    return list(
        Event.all_tenants.filter(organisation=organisation, type__startswith=prefix)
        .order_by("seq")
        .values_list("type", flat=True)
    )
