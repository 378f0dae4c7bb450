"""Polling: due sources are claimed once (SKIP LOCKED + lease), a poll stores its batch before
the cursor moves, repeated posts never make a second mention, and failures land on the
source's health with a readable reason and a backoff that honours Retry-After."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
import time_machine
from django.db import connection
from django.utils import timezone
from django_scopes import scopes_disabled

from monitoring.models import Mention, Source
from monitoring.services import ingest as ingest_module
from monitoring.services import (
    source_poll,
    source_poll_now,
    sources_claim_due,
)
from monitoring.services.polling import backoff_for
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.factories import OrganisationFactory, make_source

FIXTURES = Path(__file__).parent / "fixtures"
FEED_URL = "https://feeds.example.com/acme.xml"

pytestmark = pytest.mark.django_db


@pytest.fixture
def feed(org: Organisation) -> Source:
    return make_source(org, config={"url": FEED_URL}, poll_interval_seconds=300)


def claim(source: Source) -> str:
    claimed = dict(sources_claim_due())
    return claimed[str(source.pk)]


def reload(source: Source) -> Source:
    with scopes_disabled():
        return Source.all_tenants.get(pk=source.pk)


def mentions_of(source: Source) -> list[str]:
    with scopes_disabled():
        return sorted(
            Mention.all_tenants.filter(source=source).values_list("external_id", flat=True)
        )


def events(org: Organisation, type: str) -> list[Event]:
    with scopes_disabled():
        return list(Event.all_tenants.filter(organisation=org, type=type))


# --- claiming -----------------------------------------------------------------------------------


def test_a_due_source_is_claimed_once_until_its_lease_ends(feed: Source) -> None:
    first = sources_claim_due()
    assert [pk for pk, _ in first] == [str(feed.pk)]
    assert sources_claim_due() == []  # the lease holds it
    assert reload(feed).lease_until is not None
    with time_machine.travel(timezone.now() + timedelta(minutes=7)):
        assert [pk for pk, _ in sources_claim_due()] == [str(feed.pk)]  # lease expired


def test_paused_push_backing_off_and_not_yet_due_sources_are_not_claimed(
    org: Organisation,
) -> None:
    now = timezone.now()
    make_source(org, status=Source.Status.PAUSED)
    make_source(org, kind=Source.Kind.PUSH, config={})
    make_source(org, backoff_until=now + timedelta(minutes=5))
    make_source(org, next_poll_at=now + timedelta(minutes=5))
    make_source(org, next_poll_at=None)
    assert sources_claim_due() == []


@pytest.mark.django_db(transaction=True)
def test_overlapping_sweeps_in_parallel_claim_each_source_once() -> None:
    organisation = OrganisationFactory()
    sources = [make_source(organisation) for _ in range(30)]
    results: list[list[tuple[str, str]]] = []
    barrier = threading.Barrier(4)

    def sweep() -> None:
        barrier.wait()
        try:
            results.append(sources_claim_due(limit=30))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [pk for batch in results for pk, _ in batch]
    assert sorted(claimed) == sorted(str(s.pk) for s in sources)  # all, and each exactly once


def test_poll_with_a_stale_token_does_nothing(feed: Source) -> None:
    claim(feed)
    outcome = source_poll(source_id=feed.pk, token=uuid.uuid4())
    assert outcome.status == "not_claimed"


def test_poll_now_claims_and_refuses_a_second_while_running(feed: Source) -> None:
    from monitoring.services.sources import SourceStateError

    source_poll_now(source=feed, actor=Actor.system("tests"))
    with pytest.raises(SourceStateError):
        source_poll_now(source=feed, actor=Actor.system("tests"))
    assert sources_claim_due() == []  # the sweeper does not take it either


# --- polling ------------------------------------------------------------------------------------


@responses.activate
def test_poll_stores_the_batch_then_advances_cursor_and_schedule(
    org: Organisation, feed: Source
) -> None:
    responses.get(
        FEED_URL,
        body=(FIXTURES / "rss.xml").read_bytes(),
        headers={"ETag": '"v1"'},
        content_type="application/rss+xml",
    )
    token = claim(feed)
    outcome = source_poll(source_id=feed.pk, token=token)
    assert (outcome.status, outcome.stored) == ("stored", 3)
    assert mentions_of(feed) == sorted(
        ["urn:news:1001", "urn:news:1002", "https://news.example.com/opinion-kettles"]
    )
    source = reload(feed)
    assert source.cursor == {"etag": '"v1"'}
    assert source.lease_token is None
    assert source.last_success_at is not None
    assert source.next_poll_at is not None
    assert source.next_poll_at > timezone.now() + timedelta(seconds=290)
    assert source.mentions_stored == 3
    assert [e.payload["stored"] for e in events(org, "mentions.ingested")] == [3]


@responses.activate
def test_a_repeated_post_never_makes_a_second_mention(org: Organisation, feed: Source) -> None:
    responses.get(FEED_URL, body=(FIXTURES / "rss.xml").read_bytes())
    source_poll(source_id=feed.pk, token=claim(feed))
    Source.all_tenants.filter(pk=feed.pk).update(next_poll_at=timezone.now())
    again = source_poll(source_id=feed.pk, token=claim(feed))
    assert (again.status, again.stored, again.duplicates) == ("stored", 0, 3)
    assert len(mentions_of(feed)) == 3
    assert len(events(org, "mentions.ingested")) == 1  # nothing new, no event


@responses.activate
def test_failure_keeps_the_cursor_and_records_a_readable_reason_with_backoff(
    org: Organisation, feed: Source
) -> None:
    Source.all_tenants.filter(pk=feed.pk).update(cursor={"etag": '"old"'})
    responses.get(FEED_URL, body=b"<html>maintenance page</html>", content_type="text/html")
    outcome = source_poll(source_id=feed.pk, token=claim(feed))
    assert outcome.status == "failed"
    source = reload(feed)
    assert source.cursor == {"etag": '"old"'}
    assert source.last_error.startswith("The feed could not be parsed")
    assert source.consecutive_failures == 1
    assert source.health == "backing_off"
    assert source.backoff_until is not None
    assert source.backoff_until >= timezone.now() + timedelta(seconds=290)
    assert source.lease_token is None
    assert mentions_of(feed) == []
    assert [e.payload["reason"] for e in events(org, "source.failing")] == [source.last_error]


@responses.activate
def test_429_backs_off_at_least_retry_after(feed: Source) -> None:
    responses.get(FEED_URL, status=429, headers={"Retry-After": "3600"})
    source_poll(source_id=feed.pk, token=claim(feed))
    source = reload(feed)
    assert "429" in source.last_error
    assert source.backoff_until is not None
    assert source.backoff_until >= timezone.now() + timedelta(seconds=3590)
    assert sources_claim_due() == []


def test_backoff_doubles_per_failure_and_is_capped() -> None:
    assert backoff_for(1, 300, None) == timedelta(seconds=300)
    assert backoff_for(2, 300, None) == timedelta(seconds=600)
    assert backoff_for(4, 300, None) == timedelta(seconds=2400)
    assert backoff_for(40, 300, None) == timedelta(hours=6)
    assert backoff_for(1, 300, timedelta(hours=2)) == timedelta(hours=2)
    assert backoff_for(1, 300, timedelta(days=9)) == timedelta(hours=24)


@responses.activate
def test_repeated_failures_record_one_failing_event_and_recovery_records_another(
    org: Organisation, feed: Source
) -> None:
    responses.get(FEED_URL, status=503)
    for _ in range(3):
        Source.all_tenants.filter(pk=feed.pk).update(
            next_poll_at=timezone.now(), backoff_until=None
        )
        source_poll(source_id=feed.pk, token=claim(feed))
    assert reload(feed).consecutive_failures == 3
    assert len(events(org, "source.failing")) == 1
    responses.replace(responses.GET, FEED_URL, body=(FIXTURES / "rss.xml").read_bytes())
    Source.all_tenants.filter(pk=feed.pk).update(next_poll_at=timezone.now(), backoff_until=None)
    assert source_poll(source_id=feed.pk, token=claim(feed)).status == "stored"
    source = reload(feed)
    assert source.consecutive_failures == 0
    assert source.health == "ok"
    assert len(events(org, "source.recovered")) == 1


@responses.activate
def test_storage_failure_leaves_cursor_and_stores_nothing(
    org: Organisation, feed: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses.get(FEED_URL, body=(FIXTURES / "rss.xml").read_bytes(), headers={"ETag": '"new"'})

    def broken_hook(organisation_id: Any, mention_ids: list[Any]) -> None:
        raise RuntimeError("detection exploded")

    monkeypatch.setattr(ingest_module, "_hooks", [broken_hook])
    outcome = source_poll(source_id=feed.pk, token=claim(feed))
    assert outcome.status == "failed"
    source = reload(feed)
    assert source.cursor == {}
    assert "Storing" in source.last_error
    assert mentions_of(feed) == []
    assert events(org, "mentions.ingested") == []


def test_a_poll_whose_lease_was_taken_over_while_fetching_stores_nothing(feed: Source) -> None:
    body = (FIXTURES / "rss.xml").read_bytes()
    token = claim(feed)

    def slow_feed(request: Any) -> tuple[int, dict[str, str], bytes]:
        # While this worker waited on the feed, its lease ran out and another took over.
        Source.all_tenants.filter(pk=feed.pk).update(lease_token=uuid.uuid4())
        return 200, {"ETag": '"late"'}, body

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, FEED_URL, callback=slow_feed)
        assert source_poll(source_id=feed.pk, token=token).status == "lease_lost"
    assert mentions_of(feed) == []
    assert reload(feed).cursor == {}


# --- tasks --------------------------------------------------------------------------------------


def test_sweeper_task_starts_one_poll_per_claimed_source(
    org: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitoring import tasks

    sources = [make_source(org) for _ in range(3)]
    started: list[tuple[str, str]] = []
    monkeypatch.setattr(tasks.source_poll_task, "delay", lambda *args: started.append(args))
    assert tasks.sources_poll_due_task() == 3
    assert sorted(pk for pk, _ in started) == sorted(str(s.pk) for s in sources)
    with scopes_disabled():
        leases = Source.all_tenants.filter(organisation=org).values_list("pk", "lease_token")
    assert {str(pk): str(token) for pk, token in leases} == dict(started)
    assert tasks.sources_poll_due_task() == 0


def test_broker_down_gives_the_claim_back_to_the_sweeper(
    feed: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitoring import tasks

    def down(*args: Any) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.source_poll_task, "delay", down)
    assert tasks.sources_poll_due_task() == 1
    source = reload(feed)
    assert source.lease_token is None
    assert [pk for pk, _ in sources_claim_due()] == [str(feed.pk)]


@responses.activate
def test_poll_task_runs_the_poll_under_its_lease(feed: Source) -> None:
    from monitoring.tasks import source_poll_task

    responses.get(FEED_URL, body=(FIXTURES / "rss.xml").read_bytes())
    token = claim(feed)
    assert source_poll_task(str(feed.pk), token) == "stored"
    assert source_poll_task(str(feed.pk), token) == "not_claimed"  # a redelivery does nothing
