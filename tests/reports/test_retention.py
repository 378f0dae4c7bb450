"""Data retention: the purge removes exactly what is past each organisation's retention, in
bounded batches; erasing an author removes exactly their data and records only counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from crisis_api.api.errors import DomainError
from monitoring.models import Case, IncidentMention, Mention, Source
from monitoring.services.retention import author_erase, mentions_purge_expired
from monitoring.tasks_retention import mentions_purge_expired_task
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.factories import make_incident, make_mention, make_source

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def mention_at(org: Organisation, source: Source, days_ago: float, **fields: Any) -> Mention:
    return make_mention(org, source=source, posted_at=NOW - timedelta(days=days_ago), **fields)


def events(org: Organisation, type: str) -> list[Event]:
    return list(Event.all_tenants.filter(organisation=org, type=type).order_by("seq"))


def test_purge_removes_exactly_what_is_past_retention(
    org: Organisation, other_org: Organisation, unscoped: None
) -> None:
    other_org.mention_retention_days = 365  # e.g. the team plan
    other_org.save()
    feed, other_feed = make_source(org), make_source(other_org)
    expired = [mention_at(org, feed, days) for days in (90.01, 91, 200, 1000)]
    kept = [mention_at(org, feed, days) for days in (0, 89, 89.99)]
    evidence = mention_at(org, feed, 300)
    IncidentMention.all_tenants.create(
        organisation=org, incident=make_incident(org), mention=evidence
    )
    other_expired = mention_at(other_org, other_feed, 366)
    other_kept = [mention_at(other_org, other_feed, days) for days in (91, 364)]

    # Bounded: at most two batches of two per run, so the first run cannot take all five.
    runs = [mentions_purge_expired(now=NOW, batch=2, max_batches=2) for _ in range(4)]
    assert 0 < runs[0] <= 4
    assert sum(runs) == 5
    assert runs[-2:] == [0, 0]  # idempotent once done

    remaining = set(Mention.all_tenants.values_list("pk", flat=True))
    assert remaining == {m.pk for m in [*kept, evidence, *other_kept]}
    assert not remaining & {m.pk for m in [*expired, other_expired]}
    purged = events(org, "mention.retention_purged")
    assert sum(e.payload["mentions"] for e in purged) == 4
    assert purged[0].payload["retention_days"] == 90
    assert purged[0].payload["cutoff"] == "2030-03-03T12:00:00Z"
    assert [e.payload["mentions"] for e in events(other_org, "mention.retention_purged")] == [1]


def test_the_beat_task_runs_the_purge(org: Organisation, unscoped: None) -> None:
    make_mention(org, posted_at=timezone.now() - timedelta(days=400))
    make_mention(org, posted_at=timezone.now() - timedelta(days=10))
    assert mentions_purge_expired_task() == 1
    assert Mention.all_tenants.count() == 1
    assert mentions_purge_expired_task() == 0


@pytest.fixture
def people(org: Organisation, unscoped: None) -> dict[str, Any]:
    """An angry author on two Mastodon sources (renamed once) with a case and incident evidence;
    the same handle on Bluesky (someone else), and another Mastodon author."""
    masto_a = make_source(org, kind="mastodon", config={"instance": "a"})
    masto_b = make_source(org, kind="mastodon", config={"instance": "b"})
    sky = make_source(org, kind="bluesky", config={})
    angry = Case.all_tenants.create(
        organisation=org,
        platform="mastodon",
        author_key="111",
        author_handle="@angry@example.social",
    )
    calm_case = Case.all_tenants.create(
        organisation=org, platform="mastodon", author_key="222", author_handle="@calm@x.social"
    )
    first = make_mention(
        org,
        source=masto_a,
        author_id="111",
        case=angry,
        author_handle="@angry@example.social",
        text="I hate this, call me",
    )
    renamed = make_mention(
        org,
        source=masto_b,
        author_id="111",
        case=angry,
        author_handle="@furious@example.social",
        text="Still waiting",
    )
    IncidentMention.all_tenants.create(organisation=org, incident=make_incident(org), mention=first)
    namesake = make_mention(org, source=sky, author_handle="angry@example.social")
    calm = make_mention(
        org, source=masto_a, author_id="222", case=calm_case, author_handle="@calm@x.social"
    )
    return {
        "erased": [first, renamed],
        "kept": [namesake, calm],
        "angry": angry,
        "calm_case": calm_case,
    }


def test_erasing_an_author_removes_exactly_their_data(
    org: Organisation, people: dict[str, Any]
) -> None:
    result = author_erase(
        organisation=org,
        platform="mastodon",
        author="ANGRY@example.social",
        actor=Actor.system("dpo"),
    )
    assert (result.mentions, result.cases, result.evidence_links) == (2, 1, 1)
    assert set(Mention.all_tenants.values_list("pk", flat=True)) == {m.pk for m in people["kept"]}
    assert list(Case.all_tenants.values_list("pk", flat=True)) == [people["calm_case"].pk]
    assert not IncidentMention.all_tenants.exists()

    [event] = events(org, "author.erased")
    assert event.payload == {
        "platform": "mastodon",
        "identifier_hash": result.identifier_hash,
        "hash": "hmac-sha256",
        "mentions": 2,
        "cases": 1,
        "incident_evidence": 1,
    }
    text = json.dumps([event.payload, event.subject_id, event.actor_label]).lower()
    for secret in ("angry", "furious", "111", "hate", "waiting"):
        assert secret not in text
    assert len(result.identifier_hash) == 64


def test_erasure_refuses_an_unknown_platform_or_an_empty_author(
    org: Organisation, people: dict[str, Any]
) -> None:
    for platform, author in (("myspace", "111"), ("mastodon", " @ ")):
        with pytest.raises(DomainError):
            author_erase(
                organisation=org, platform=platform, author=author, actor=Actor.system("dpo")
            )
    assert Mention.all_tenants.count() == 4
    assert not events(org, "author.erased")


def test_the_command_counts_on_a_dry_run_then_erases(
    org: Organisation, people: dict[str, Any]
) -> None:
    args = ["erase_author", "--org", "xyz", "--platform", "mastodon", "--author", "111"]
    out = StringIO()
    call_command(*args, "--dry-run", stdout=out)
    assert "Would erase 2 mention(s) and 1 case(s)" in out.getvalue()
    assert Mention.all_tenants.count() == 4
    assert not events(org, "author.erased")

    call_command(*args, "--requested-by", "dpo@xyz.example", stdout=out)
    assert "Erased 2 mention(s) and 1 case(s)" in out.getvalue()
    [event] = events(org, "author.erased")
    assert event.actor_label == "erase_author command for dpo@xyz.example"
    with pytest.raises(CommandError):
        call_command("erase_author", "--org", "nope", "--platform", "x", "--author", "1")


def test_the_admin_action_erases_the_selected_mentions_authors(
    org: Organisation, people: dict[str, Any], admin_client: Client
) -> None:
    first = people["erased"][0]
    response = admin_client.post(
        "/admin/monitoring/mention/",
        {"action": "erase_authors", "_selected_action": [str(first.pk)]},
    )
    assert response.status_code == 302
    assert set(Mention.all_tenants.values_list("pk", flat=True)) == {m.pk for m in people["kept"]}
    [event] = events(org, "author.erased")
    assert event.actor_type == "user"


def test_poll_health_is_on_metrics(org: Organisation, unscoped: None) -> None:
    now = timezone.now()
    make_source(org, last_success_at=now)
    make_source(org, consecutive_failures=3, last_success_at=now - timedelta(hours=2))
    make_source(org, kind="push", config={})
    text = Client().get("/metrics").content.decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("crisis_sources", (("kind", "feed"), ("status", "active")))] == 2
    assert samples[("crisis_sources", (("kind", "push"), ("status", "active")))] == 1
    assert samples[("crisis_sources_failing", (("kind", "feed"),))] == 1
    assert samples[("crisis_sources_seconds_since_success", (("kind", "feed"),))] >= 7200
    assert ("crisis_sources_failing", (("kind", "push"),)) not in samples
