"""The demo wave: a push source that replays recorded posts (English and Polish) through the
real push pipeline (scoring, storage, ingest hooks → cases and rules), so `make run` shows
mentions arriving, a negative spike firing and an incident being declared within two minutes.

The replay's progress lives in the push source's `cursor` (`demo_replay` run id, `started_at`,
`sent`), advanced under a row lock, so overlapping beat ticks never replay a post twice (and
the (source, external id) uniqueness would drop it anyway).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from incidents.models import CrisisType, Severity
from monitoring.connectors import MentionIn
from monitoring.models import DetectionRule, Source, WatchTerm
from monitoring.services import mentions_push, source_create, watch_term_create
from monitoring.services.detection import rule_create
from organisations.events import Actor
from organisations.models import Organisation

SOURCE_NAME = "Demo: recorded wave (replay)"
DEMO = Actor.system("demo replay")
R = DetectionRule
WATCH_TERMS = (
    ("XYZ", WatchTerm.Kind.BRAND),
    ("charged twice", WatchTerm.Kind.ALARM),
    ("double charged", WatchTerm.Kind.ALARM),
    ("podwójnie", WatchTerm.Kind.ALARM),
)


@dataclass(frozen=True)
class Post:
    offset_seconds: int
    author_id: str
    author_handle: str
    author_name: str
    author_followers: int
    language: str
    text: str


@cache
def wave() -> tuple[Post, ...]:
    """The recorded posts, oldest first (negative offsets: the calm hours before the wave)."""
    raw = resources.files("monitoring.demo").joinpath("wave.json").read_text(encoding="utf-8")
    posts = [Post(**post) for post in json.loads(raw)["posts"]]
    return tuple(sorted(posts, key=lambda p: p.offset_seconds))


def _as_mention(run: str, index: int, post: Post, started_at: datetime) -> MentionIn:
    return MentionIn(
        external_id=f"{run}-{index}",
        text=post.text,
        posted_at=started_at + timedelta(seconds=post.offset_seconds),
        url=f"https://social.example/{post.author_handle.lstrip('@')}/{run}-{index}",
        author_handle=post.author_handle,
        author_name=post.author_name,
        author_id=post.author_id,
        author_followers=post.author_followers,
        language=post.language,
    )


def _rules(organisation: Organisation) -> None:
    """The rules a newcomer sees at work: a spike that declares, alarm words that notify, and a
    high-reach critic in monitor mode (recorded, no action)."""
    existing = set(
        DetectionRule.all_tenants.filter(organisation=organisation).values_list("name", flat=True)
    )
    crisis_type = CrisisType.all_tenants.get(organisation=organisation, slug="service-outage")
    severity = Severity.all_tenants.get(organisation=organisation, rank=2)
    rules: list[dict[str, Any]] = [
        {
            "name": "Negative spike",
            "description": "Negative mentions in 10 minutes against the 6 hours before.",
            "metric": R.Metric.NEGATIVE_VOLUME,
            "method": R.Method.RATIO,
            "threshold": 4.0,
            "window_minutes": 10,
            "baseline_minutes": 360,
            "min_volume": 8,
            "cooldown_minutes": 60,
            "mode": R.Mode.ACTIVE,
            "action": R.Action.AUTO_DECLARE,
            "crisis_type": crisis_type,
            "severity": severity,
        },
        {
            "name": "Alarm words",
            "description": "Posts about double charges (alarm watch terms).",
            "metric": R.Metric.ALARM_KEYWORD,
            "threshold": 3.0,
            "window_minutes": 10,
            "cooldown_minutes": 30,
            "mode": R.Mode.ACTIVE,
            "action": R.Action.NOTIFY,
        },
        {
            "name": "High-reach critic",
            "description": "A negative post by an author with 100,000 followers or more.",
            "metric": R.Metric.HIGH_REACH_NEGATIVE,
            "min_followers": 100_000,
            "window_minutes": 30,
            "cooldown_minutes": 60,
            "mode": R.Mode.MONITOR,
            "action": R.Action.LINK_INCIDENT,
        },
    ]
    for fields in rules:
        if fields["name"] not in existing:
            rule_create(organisation=organisation, actor=DEMO, **fields)


def demo_setup(
    *, organisation: Organisation, delay_seconds: int = 30, restart: bool = False
) -> tuple[Source, bool]:
    """Create the demo's watch terms, rules and replay source if missing, and schedule the wave
    `delay_seconds` from now (on creation, or again with `restart`). The calm history before
    the wave is pushed at once. Returns the source and whether a wave was scheduled."""
    with transaction.atomic():
        terms = set(
            WatchTerm.all_tenants.filter(organisation=organisation).values_list("phrase", flat=True)
        )
        for phrase, kind in WATCH_TERMS:
            if phrase not in terms:
                watch_term_create(organisation=organisation, actor=DEMO, phrase=phrase, kind=kind)
        _rules(organisation)
        source = Source.all_tenants.filter(organisation=organisation, name=SOURCE_NAME).first()
        created = source is None
        if source is None:
            source = source_create(
                organisation=organisation, actor=DEMO, kind=Source.Kind.PUSH, name=SOURCE_NAME
            ).source
        if not (created or restart):
            return source, False
        run = uuid.uuid4().hex[:8]
        started_at = timezone.now() + timedelta(seconds=delay_seconds)
        Source.all_tenants.filter(pk=source.pk).update(
            cursor={"demo_replay": run, "started_at": started_at.isoformat(), "sent": 0}
        )
    history = [
        _as_mention(run, index, post, started_at)
        for index, post in enumerate(wave())
        if post.offset_seconds < 0
    ]
    mentions_push(source=source, mentions=history, actor=DEMO)
    with transaction.atomic():
        Source.all_tenants.filter(pk=source.pk).update(
            cursor={"demo_replay": run, "started_at": started_at.isoformat(), "sent": len(history)}
        )
    source.refresh_from_db()
    return source, True


def demo_replay(*, now: datetime | None = None) -> int:
    """Push every recorded post whose time has come, for each replaying source; the number
    of posts pushed."""
    now = now or timezone.now()
    pushed = 0
    source_ids = list(
        Source.all_tenants.filter(kind=Source.Kind.PUSH, cursor__has_key="demo_replay")
        .filter(status=Source.Status.ACTIVE)
        .values_list("pk", flat=True)
    )
    for source_id in source_ids:
        with transaction.atomic():
            source = (Source.all_tenants.select_for_update().select_related("organisation")).get(
                pk=source_id
            )
            cursor = dict(source.cursor)
            started_at = parse_datetime(str(cursor.get("started_at", "")))
            sent = int(cursor.get("sent", 0))
            posts = wave()
            if started_at is None or sent >= len(posts) or now < started_at:
                continue
            elapsed = (now - started_at).total_seconds()
            due = [
                _as_mention(cursor["demo_replay"], index, post, started_at)
                for index, post in enumerate(posts)
                if index >= sent and post.offset_seconds <= elapsed
            ]
            if not due:
                continue
            mentions_push(source=source, mentions=due, actor=DEMO)
            cursor["sent"] = sent + len(due)
            Source.all_tenants.filter(pk=source.pk).update(cursor=cursor)
            pushed += len(due)
    return pushed
